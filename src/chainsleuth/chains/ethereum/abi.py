"""Minimal Solidity ABI decoding for the calls a withdrawal guard must recognise.

Only the types those calls use: `address`, `uint8`, `uint256`, `bool` (static words) and
`bytes` (dynamic, head offset + tail). Decoding is strict: an address word with non-zero
padding, a `uint8`/`bool` out of range, an offset or length pointing outside the data, or
trailing garbage inside a `bytes` word is a ParseError — a guard must not silently accept
an encoding the contract might read differently.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from chainsleuth.chains.ethereum.address import keccak256
from chainsleuth.errors import ParseError

Value = int | str | bytes


def selector(signature: str) -> bytes:
    """The 4-byte function selector: keccak256 of the canonical signature."""
    return keccak256(signature.encode("ascii"))[:4]


def argument_types(signature: str) -> list[str]:
    """The argument types of a canonical signature, e.g. `transfer(address,uint256)`."""
    inner = signature[signature.index("(") + 1 : -1]
    return inner.split(",") if inner else []


# Functions the guard names in its summary and checks: ERC-20, Safe, MultiSend.
KNOWN_SIGNATURES = (
    "transfer(address,uint256)",
    "transferFrom(address,address,uint256)",
    "approve(address,uint256)",
    "multiSend(bytes)",
    "execTransaction(address,uint256,bytes,uint8,uint256,uint256,uint256,address,address,bytes)",
    "addOwnerWithThreshold(address,uint256)",
    "removeOwner(address,address,uint256)",
    "swapOwner(address,address,address)",
    "changeThreshold(uint256)",
    "enableModule(address)",
    "disableModule(address,address)",
    "setGuard(address)",
    "setFallbackHandler(address)",
    "changeMasterCopy(address)",
)
KNOWN = {selector(sig): sig for sig in KNOWN_SIGNATURES}


@dataclass(frozen=True)
class DecodedCall:
    """A call whose selector is known: its signature and decoded arguments."""

    signature: str
    args: tuple[Value, ...]

    @property
    def name(self) -> str:
        """The function name without its argument types."""
        return self.signature.split("(", 1)[0]

    def uint(self, i: int) -> int:
        """Argument `i`, an integer type."""
        value = self.args[i]
        assert isinstance(value, int)
        return value

    def address(self, i: int) -> str:
        """Argument `i`, an address (lowercase 0x hex)."""
        value = self.args[i]
        assert isinstance(value, str)
        return value

    def bytes(self, i: int) -> bytes:
        """Argument `i`, a `bytes` value."""
        value = self.args[i]
        assert isinstance(value, bytes)
        return value


def decode_known(data: bytes) -> DecodedCall | None:
    """Decode calldata whose selector is in KNOWN; None for an unknown selector or no data."""
    signature = KNOWN.get(data[:4]) if len(data) >= 4 else None
    if signature is None:
        return None
    return DecodedCall(signature, decode_args(data[4:], argument_types(signature), signature))


def decode_args(data: bytes, types: Sequence[str], what: str) -> tuple[Value, ...]:
    """Decode ABI-encoded arguments of the given types (calldata without selector)."""
    if len(data) < 32 * len(types):
        raise ParseError(f"{what}: {len(data)} bytes of arguments, head needs {32 * len(types)}")
    values: list[Value] = []
    for i, kind in enumerate(types):
        word = data[32 * i : 32 * i + 32]
        where = f"{what}: argument {i} ({kind}) at offset {4 + 32 * i}"
        if kind == "address":
            if any(word[:12]):
                raise ParseError(f"{where}: non-zero padding above the 20-byte address")
            values.append("0x" + word[12:].hex())
        elif kind in ("uint256", "uint8", "bool"):
            number = int.from_bytes(word, "big")
            limit = {"uint256": 2**256, "uint8": 256, "bool": 2}[kind]
            if number >= limit:
                raise ParseError(f"{where}: value {number} out of range")
            values.append(number)
        elif kind == "bytes":
            values.append(_dynamic_bytes(data, int.from_bytes(word, "big"), where))
        else:
            raise ValueError(f"unsupported ABI type {kind}")
    return tuple(values)


def _dynamic_bytes(data: bytes, offset: int, where: str) -> bytes:
    if offset + 32 > len(data):
        raise ParseError(f"{where}: offset {offset} points past the end ({len(data)} bytes)")
    length = int.from_bytes(data[offset : offset + 32], "big")
    start = offset + 32
    if start + length > len(data):
        raise ParseError(f"{where}: length {length} runs past the end of the data")
    padded = start + (length + 31) // 32 * 32
    if any(data[start + length : padded]):
        raise ParseError(f"{where}: non-zero padding after the bytes value")
    return data[start : start + length]
