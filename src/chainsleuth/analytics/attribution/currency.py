"""Currency codes to chains, and the address checks applied before a tag is stored.

Policy (documented in README, section attribution):
- Bitcoin (BTC, XBT): `chains.bitcoin.address.validate` on mainnet (Base58Check version
  bytes, bech32/bech32m checksums); stored as that function returns (bech32 lower-case).
- EVM chains (ETH, ETC, BSC, Polygon, tokens on them): 0x + 40 hex, EIP-55 checksum when
  mixed case (`chains.ethereum.address.normalize`); stored lowercase.
- Tron (TRX, USDT/USDC on Tron): Base58Check with version byte 0x41.
- Other listed codes: one printable token without spaces, stored as given.
- A code that is not in `currencies.csv` is rejected with an error: a tag for a chain we
  cannot name would silently never match anything.
"""

from __future__ import annotations

import re

import base58

from chainsleuth.analytics.attribution.taxonomy import Currency, chain_checks, currencies
from chainsleuth.chains.ethereum.address import normalize as normalize_eth
from chainsleuth.chains.ethereum.address import to_checksum
from chainsleuth.errors import AddressError, InputError

_TOKEN = re.compile(r"^[\x21-\x7e]{3,128}$")
_TRON = re.compile(r"^T[1-9A-HJ-NP-Za-km-z]{33}$")
_BECH32_LIKE = re.compile(r"[a-z0-9]{1,20}1[02-9ac-hj-np-z]{6,}")


def _check_bitcoin(address: str, where: str) -> str:
    from chainsleuth.chains.bitcoin.address import validate

    return validate(address, "mainnet", where)


def _check_tron(address: str, where: str) -> str:
    text = address.strip()
    if not _TRON.match(text):
        raise AddressError(f"{where}: {address!r} is not a Tron address (T + 33 base58)")
    try:
        raw = base58.b58decode_check(text)
    except ValueError:
        raise AddressError(f"{where}: {address!r} fails its Base58Check checksum") from None
    if raw[0] != 0x41:
        raise AddressError(f"{where}: {address!r} has version byte {raw[0]:#04x}, not 0x41")
    return text


def _check_text(address: str, where: str) -> str:
    if not _TOKEN.match(address):
        raise AddressError(f"{where}: {address!r} is not one printable token (3-128 chars)")
    return address


_CHECKS = {
    "bitcoin": _check_bitcoin,
    "evm": lambda address, where: normalize_eth(address, where=where),
    "tron": _check_tron,
    "text": _check_text,
}


def options(code: str, where: str) -> tuple[Currency, ...]:
    """The storage options of a currency code, or InputError for an unknown code."""
    found = currencies().get(code.strip().upper())
    if not found:
        raise InputError(
            f"{where}: unknown currency {code!r} (known codes: data/attribution/currencies.csv)"
        )
    return found


def resolve(currency: str, network: str | None, address: str, where: str) -> tuple[str, str]:
    """The (chain, stored address) of an address given for `currency` on `network`.

    The network code (default: the currency code) selects the candidate chains; the first
    whose address check passes wins. Raises InputError/AddressError naming `where`.
    """
    candidates = options(network or currency, where)
    failures: list[AddressError] = []
    for option in candidates:
        try:
            return option.chain, _CHECKS[option.check](address, where)
        except AddressError as exc:
            failures.append(exc)
    if len(failures) == 1:
        raise failures[0]
    tried = ", ".join(c.chain for c in candidates)
    raise AddressError(f"{where}: {address!r} is not a valid address on any of {tried}")


def validate_on(chain: str, address: str, where: str) -> str:
    """The stored form of an address known to be on `chain` (e.g. re-imported from an
    export), checked with that chain's address checks."""
    checks = dict.fromkeys(
        o.check for opts in currencies().values() for o in opts if o.chain == chain
    )
    if not checks:
        raise InputError(f"{where}: unknown chain {chain!r} (see data/attribution/currencies.csv)")
    failure: AddressError | None = None
    for check in checks:
        try:
            return _CHECKS[check](address, where)
        except AddressError as exc:
            failure = exc
    assert failure is not None
    raise failure


def is_case_insensitive(chain: str, address: str) -> bool:
    """Whether the letter case of `address` carries no information (hex, bech32)."""
    check = next(
        (o.check for opts in currencies().values() for o in opts if o.chain == chain), "text"
    )
    return (
        check == "evm" or re.fullmatch(r"[a-z0-9]{1,20}1[02-9ac-hj-np-z]{6,}", address) is not None
    )


def display(chain: str, address: str) -> str:
    """An address as users expect to read it: EIP-55 on EVM chains, else as stored."""
    evm = chain_checks().get(chain) == "evm" and address.startswith("0x")
    return to_checksum(address) if evm else address
