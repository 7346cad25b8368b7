"""Bitcoin Core's `blocks/` directory: blk*.dat records, xor.dat, and best-chain order.

Layout (Bitcoin Core `node/blockstorage.cpp`): each blk?????.dat is a sequence of records
`network magic (4) | block size (4, little-endian) | block`, written in arrival order, so
heights are out of order and stale blocks (orphaned forks) are kept. Files are
pre-allocated, so a file may end in zero bytes. Since Core 28 every byte is xor-ed with
the 8-byte key in `xor.dat`, repeating by file offset (byte i ^= key[i % 8]); an all-zero
key (or no xor.dat) means no obfuscation.

Order: index every record by its header hash, then follow parent links. The chain kept is
the one with the most cumulative proof of work from the root (Core's rule; for blocks of
equal difficulty that is the longest one), ties going to the block seen first in the
files; blocks off that chain are stale and skipped. The root is the block after a given
hash (the stored tip when resuming), else a block the user names (`--start-block`), else
the network's genesis block, else the block with the heaviest chain among those whose
parent is absent. `steps_to_chain` finds where a
block the files hold as stale (a stored tip overtaken by a heavier branch) forks off.
"""

from __future__ import annotations

import os
import re
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from chainsleuth.chains.bitcoin.network import get
from chainsleuth.chains.bitcoin.rawblock import HEADER_SIZE, parse_header
from chainsleuth.chains.bitcoin.serial import Reader
from chainsleuth.errors import InputError, ParseError

_BLK_NAME = re.compile(r"blk(\d+)\.dat")
_OPEN_FILES = 8  # blocks are read in chain order: mostly one file after the other


@dataclass(frozen=True)
class BlockLocation:
    """Where one block sits: file, offset of its first byte (after the framing), size; its
    header's hash, parent and difficulty bits, and its transaction count (the CompactSize
    after the header), which sizes batches before blocks are parsed."""

    path: Path
    offset: int
    size: int
    hash: str
    parent_hash: str
    bits: int
    tx_count: int


def _count(head: bytes, where: str = "block") -> int:
    """The transaction count: the CompactSize after the 80-byte header."""
    r = Reader(head, where)
    r.take(HEADER_SIZE)
    return r.compact()


def _work(bits: int) -> int:
    """Expected hashes for a header with compact target `bits` (Core's GetBlockProof)."""
    exponent, mantissa = bits >> 24, bits & 0x007FFFFF
    target = mantissa << 8 * (exponent - 3) if exponent > 3 else mantissa >> 8 * (3 - exponent)
    return (1 << 256) // (target + 1) if target > 0 else 0


class BlockFiles:
    """Read-only access to the blk*.dat files of one `blocks/` directory."""

    def __init__(self, directory: str | Path, network: str) -> None:
        self.directory = Path(directory)
        self.network = network
        self.magic = get(network).magic
        if not self.directory.is_dir():
            raise InputError(f"{self.directory}: not a directory of blk*.dat files")
        numbered = ((_BLK_NAME.fullmatch(p.name), p) for p in self.directory.iterdir())
        self.files = [p for _, p in sorted((int(m[1]), p) for m, p in numbered if m)]
        if not self.files:
            raise InputError(f"{self.directory}: no blk*.dat files")
        self.key = self._read_key()
        # Files are read with positioned reads, not mapped: pages of a mapped file stay in
        # the process's resident set once touched (a whole chain's worth of block files).
        self._open: OrderedDict[Path, BinaryIO] = OrderedDict()

    def _read_key(self) -> bytes | None:
        path = self.directory / "xor.dat"
        if not path.exists():
            return None
        key = path.read_bytes()
        if len(key) != 8:
            raise ParseError(f"{path}: xor key must be 8 bytes, found {len(key)}")
        return key if any(key) else None

    def _file(self, path: Path) -> BinaryIO:
        f = self._open.pop(path, None) or path.open("rb")
        self._open[path] = f  # most recently used last
        if len(self._open) > _OPEN_FILES:
            self._open.popitem(last=False)[1].close()
        return f

    def read(self, path: Path, offset: int, size: int) -> bytes:
        """`size` bytes at `offset` of a blk file, de-obfuscated with the xor key."""
        raw = os.pread(self._file(path).fileno(), size, offset)
        if len(raw) < size:
            raise ParseError(
                f"{path.name}: truncated: {size} bytes wanted at byte offset {offset},"
                f" {len(raw)} present"
            )
        if self.key is None:
            return raw
        start = offset % 8
        key = np.frombuffer((self.key * (size // 8 + 2))[start : start + size], np.uint8)
        return (np.frombuffer(raw, np.uint8) ^ key).tobytes()

    def block(self, loc: BlockLocation) -> bytes:
        """The serialized block at `loc`."""
        return self.read(loc.path, loc.offset, loc.size)

    def scan(self) -> Iterator[BlockLocation]:
        """Every framed block in file order (headers only are read)."""
        for path in self.files:
            yield from self._scan_file(path)

    def _scan_file(self, path: Path) -> Iterator[BlockLocation]:
        length = path.stat().st_size
        pos = 0
        while pos + 8 <= length:
            frame = self.read(path, pos, 8)
            if frame[:4] == b"\0\0\0\0":
                return  # pre-allocated, never written tail
            if frame[:4] != self.magic:
                hint = (
                    " (the xor.dat key may be wrong)"
                    if self.key is not None
                    else " (a Core 28+ xor.dat key may be missing)"
                )
                raise ParseError(
                    f"{path.name}: bad network magic {frame[:4].hex()} at byte offset {pos},"
                    f" expected {self.magic.hex()} for {self.network}{hint}"
                )
            size = int.from_bytes(frame[4:], "little")
            if size < HEADER_SIZE + 1 or pos + 8 + size > length:
                raise ParseError(
                    f"{path.name}: truncated or bad block record of {size} bytes at byte"
                    f" offset {pos} ({length - pos - 8} bytes left in the file)"
                )
            head = self.read(path, pos + 8, min(size, HEADER_SIZE + 9))
            header = parse_header(head, 0, path.name)
            yield BlockLocation(
                path,
                pos + 8,
                size,
                header.hash,
                header.parent_hash,
                header.bits,
                _count(head, f"{path.name} block at byte offset {pos + 8}"),
            )
            pos += 8 + size

    def close(self) -> None:
        """Close the files."""
        for f in self._open.values():
            f.close()
        self._open.clear()

    def __enter__(self) -> BlockFiles:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def best_chain(
    blocks: list[BlockLocation], after: str | None = None, root: str | None = None
) -> list[BlockLocation]:
    """The best chain through `blocks`, root first (see the module docstring).

    `after`: start with the children of this hash (resume from a stored tip); if none of
    the blocks builds on it the result is empty. Otherwise start at `root` (the network's
    genesis block, or a block the user names) when present, else at the parentless block
    with the heaviest chain. Duplicate records of one block (Core can write a block
    twice) count once.
    """
    by_hash: dict[str, BlockLocation] = {}
    children: dict[str, list[str]] = {}
    for b in blocks:
        if b.hash not in by_hash:
            by_hash[b.hash] = b
            children.setdefault(b.parent_hash, []).append(b.hash)
    if after is not None:
        roots = children.get(after, [])
    elif root is not None and root in by_hash:
        roots = [root]
    else:
        roots = [h for h, b in by_hash.items() if b.parent_hash not in by_hash]
    # Heaviest chain below each node, computed leaves-first without recursion.
    order: list[str] = []
    stack = list(roots)
    while stack:
        h = stack.pop()
        order.append(h)
        stack.extend(children.get(h, ()))
    best: dict[str, tuple[int, str | None]] = {}  # hash -> (work of best chain from it, next)
    for h in reversed(order):
        kids = children.get(h, [])
        top = max(kids, key=lambda k: best[k][0], default=None)  # first seen wins ties
        best[h] = (_work(by_hash[h].bits) + (best[top][0] if top else 0), top)
    chain: list[BlockLocation] = []
    node = max(roots, key=lambda r: best[r][0], default=None)
    while node is not None:
        chain.append(by_hash[node])
        node = best[node][1]
    return chain


def steps_to_chain(
    blocks: list[BlockLocation], chain: list[BlockLocation], tip: str
) -> tuple[int, int] | None:
    """How far `tip` is from `chain`: (blocks back to the fork point, its index in chain).

    Follows parent links from `tip` through `blocks` until a block of `chain`; None when
    `tip` is not among the blocks or its ancestry leaves them before reaching the chain.
    """
    by_hash = {b.hash: b for b in blocks}
    index = {b.hash: i for i, b in enumerate(chain)}
    steps, node = 0, tip
    while node not in index:
        if node not in by_hash:
            return None
        node = by_hash[node].parent_hash
        steps += 1
    return steps, index[node]
