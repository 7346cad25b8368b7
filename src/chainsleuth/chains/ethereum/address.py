"""Ethereum addresses: lowercase for storage, EIP-55 mixed-case checksum for users.

EIP-55 (Buterin & Van de Sande, 2016): a hex character is upper-cased when the matching
nibble of keccak256(lowercase hex address) is 8 or more. An all-lower or all-upper address
carries no checksum and is accepted as is; a mixed-case one must match its checksum.
"""

from __future__ import annotations

from Crypto.Hash import keccak

from chainsleuth.errors import AddressError

_HEX = frozenset("0123456789abcdef")


def keccak256(data: bytes) -> bytes:
    """Keccak-256 (Ethereum's hash, not NIST SHA3-256)."""
    return bytes(keccak.new(digest_bits=256, data=data).digest())


def to_checksum(address: str) -> str:
    """The EIP-55 form of a 20-byte hex address (with or without 0x)."""
    body = address.lower().removeprefix("0x")
    digest = keccak256(body.encode("ascii")).hex()
    return "0x" + "".join(
        c.upper() if c in "abcdef" and int(digest[i], 16) >= 8 else c for i, c in enumerate(body)
    )


def normalize(address: str, *, where: str = "address") -> str:
    """Validate a user-typed address and return its stored (lowercase, 0x) form.

    Raises AddressError naming `where` for a wrong length, a non-hex character, or a
    mixed-case address whose EIP-55 checksum does not match.
    """
    text = address.strip()
    if not text.lower().startswith("0x"):
        raise AddressError(f"{where}: {address!r} is not an Ethereum address (no 0x prefix)")
    body = text[2:]
    if len(body) != 40 or not set(body.lower()) <= _HEX:
        raise AddressError(
            f"{where}: {address!r} is not an Ethereum address (want 40 hex digits after 0x)"
        )
    mixed = body != body.lower() and body != body.upper()
    if mixed and to_checksum(body) != "0x" + body:
        raise AddressError(
            f"{where}: {address!r} fails its EIP-55 checksum (expected {to_checksum(body)})"
        )
    return "0x" + body.lower()
