"""Bitcoin's serialisation primitives shared by the Python readers and writers: a byte cursor
whose errors name what is read and where, and CompactSize integers."""

from __future__ import annotations

from chainsleuth.errors import ParseError


class Reader:
    """A cursor over bytes whose errors name `what` and the offset."""

    def __init__(self, data: bytes, what: str, base: int = 0) -> None:
        self.data, self.pos, self.what, self.base = data, 0, what, base

    def fail(self, message: str) -> ParseError:
        return ParseError(f"{self.what}: {message} at offset {self.base + self.pos}")

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise self.fail(f"truncated, {n} bytes needed, {len(self.data) - self.pos} left")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def uint(self, n: int) -> int:
        return int.from_bytes(self.take(n), "little")

    def compact(self) -> int:
        """A CompactSize integer; non-canonical (oversized) encodings are rejected."""
        first = self.uint(1)
        if first < 0xFD:
            return first
        size, minimum = {0xFD: (2, 0xFD), 0xFE: (4, 0x10000), 0xFF: (8, 0x100000000)}[first]
        value = self.uint(size)
        if value < minimum:
            self.pos -= size + 1
            raise self.fail("non-canonical CompactSize")
        return value

    def var_bytes(self) -> bytes:
        return self.take(self.compact())

    @property
    def done(self) -> bool:
        return self.pos >= len(self.data)


def compact_size(n: int) -> bytes:
    """The CompactSize encoding of `n`."""
    if n < 0xFD:
        return bytes([n])
    if n <= 0xFFFF:
        return b"\xfd" + n.to_bytes(2, "little")
    if n <= 0xFFFFFFFF:
        return b"\xfe" + n.to_bytes(4, "little")
    return b"\xff" + n.to_bytes(8, "little")
