"""Recursive Length Prefix (RLP), Ethereum's serialisation (Yellow Paper, appendix B).

An item is a byte string or a list of items. Decoding is strict: only the canonical
encoding of each item is accepted (no leading zeros in lengths, single bytes below 0x80
not wrapped, short forms where they fit), so that decode → encode gives back the same
bytes, and two different byte strings never decode to the same transaction.
"""

from __future__ import annotations

from typing import TypeAlias

from chainsleuth.errors import ParseError

Item: TypeAlias = bytes | list["Item"]


def encode(item: Item) -> bytes:
    """The canonical RLP encoding of a byte string or a (nested) list of them."""
    if isinstance(item, bytes | bytearray):
        data = bytes(item)
        if len(data) == 1 and data[0] < 0x80:
            return data
        return _length_prefix(len(data), 0x80) + data
    payload = b"".join(encode(child) for child in item)
    return _length_prefix(len(payload), 0xC0) + payload


def _length_prefix(length: int, offset: int) -> bytes:
    if length < 56:
        return bytes([offset + length])
    size = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([offset + 55 + len(size)]) + size


def encode_uint(value: int) -> bytes:
    """The RLP byte string of a non-negative integer: big-endian, no leading zeros."""
    if value < 0:
        raise ValueError("RLP integers are non-negative")
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def decode_uint(data: bytes, *, field: str) -> int:
    """An integer from its RLP byte string; leading zeros are rejected as non-canonical."""
    if data[:1] == b"\x00":
        raise ParseError(f"RLP integer {field}: leading zero byte (non-canonical)")
    return int.from_bytes(data, "big")


def decode(data: bytes, *, what: str = "RLP") -> Item:
    """Decode one item that spans all of `data`; trailing bytes are an error."""
    item, end = _decode_at(data, 0, len(data), what)
    if end != len(data):
        raise ParseError(f"{what}: {len(data) - end} trailing bytes after the item at offset {end}")
    return item


def _decode_at(data: bytes, pos: int, limit: int, what: str) -> tuple[Item, int]:
    """The item at `pos`, which must end by `limit` (the end of its enclosing list)."""
    if pos >= limit:
        raise ParseError(f"{what}: truncated, expected an item at offset {pos}")
    first = data[pos]
    if first < 0x80:
        return bytes([first]), pos + 1
    if first < 0xC0:
        start, length = _read_length(data, pos, limit, first - 0x80, what)
        end = start + length
        if length == 1 and data[start] < 0x80:
            raise ParseError(f"{what}: single byte below 0x80 wrapped at offset {pos}")
        return data[start:end], end
    start, length = _read_length(data, pos, limit, first - 0xC0, what)
    end = start + length
    items: list[Item] = []
    cursor = start
    while cursor < end:
        child, cursor = _decode_at(data, cursor, end, what)
        items.append(child)
    return items, end


def _read_length(data: bytes, pos: int, limit: int, code: int, what: str) -> tuple[int, int]:
    """(payload start, payload length) after the prefix byte at `pos` with value `code`."""
    if code <= 55:
        start, length = pos + 1, code
    else:
        size = code - 55
        raw = data[pos + 1 : min(pos + 1 + size, limit)]
        if len(raw) != size:
            raise ParseError(f"{what}: truncated length at offset {pos + 1}")
        if raw[0] == 0:
            raise ParseError(f"{what}: length with leading zero at offset {pos + 1}")
        length = int.from_bytes(raw, "big")
        if length < 56:
            raise ParseError(f"{what}: long form for a short length at offset {pos}")
        start = pos + 1 + size
    if start + length > limit:
        raise ParseError(
            f"{what}: item at offset {pos} needs {length} bytes, only {limit - start} left"
        )
    return start, length
