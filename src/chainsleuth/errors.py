"""The domain errors of chainsleuth.

Every error a user can cause carries a one-line message that names what was wrong and
where (file and offset, block and transaction, row and column). The CLI prints the message
and exits non-zero; the API maps the class to an HTTP status in one place.

    ChainsleuthError            base of everything below
    ├── InputError              malformed user input (file, address, request) — exit 2 / HTTP 400
    │   ├── ParseError          bytes or JSON that do not decode (with a location)
    │   └── AddressError        an address that fails its format or checksum
    ├── NotFoundError           an address, tx, entity or job that is not stored — exit 4 / 404
    ├── SourceError             a node or service answered wrongly or not at all — exit 5 / 502
    │   └── AuthError           credentials refused — exit 5 / 502
    └── StoreError              the store is unusable (version, lock) — exit 6 / 500
"""

from __future__ import annotations


class ChainsleuthError(Exception):
    """Base class: its message is shown to the user as is."""

    exit_code = 1


class InputError(ChainsleuthError):
    """Malformed input given by the user."""

    exit_code = 2


class ParseError(InputError):
    """Data that does not decode; the message says where (file/offset, block/tx, row)."""


class AddressError(InputError):
    """An address string that fails its format or checksum."""


class NotFoundError(ChainsleuthError):
    """Something asked for is not in the store."""

    exit_code = 4


class SourceError(ChainsleuthError):
    """A data source (node, RPC endpoint) failed or answered inconsistently."""

    exit_code = 5


class AuthError(SourceError):
    """A data source refused our credentials."""


class StoreError(ChainsleuthError):
    """The store cannot be used."""

    exit_code = 6
