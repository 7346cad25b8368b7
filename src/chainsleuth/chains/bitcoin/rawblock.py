"""Serialized Bitcoin blocks to the staging tables of `store.utxo`.

A block is an 80-byte header and a CompactSize count of transactions in the legacy or the
segwit (BIP-144) serialisation. The C extension `_parser` walks the transactions once and
returns flat column buffers: txids and wtxids (display hex), the merkle root over the
txids, per-output value/type/address, per-input outpoint and sequence. This module checks
the header's merkle root, wraps the buffers as Arrow arrays (no per-row Python) and builds
`stg_blocks`, `stg_txs`, `stg_outputs`, `stg_inputs` (inputs without address/value: the
writer resolves them from the outputs they spend; coinbase inputs are not staged).

Heights are not in the serialisation. `bip34_height` reads the coinbase height of version 2+
blocks (BIP-34); a caller that knows the chain order passes the height it knows instead.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from chainsleuth.chains.bitcoin import _parser
from chainsleuth.chains.bitcoin.address import hash160
from chainsleuth.chains.bitcoin.network import get
from chainsleuth.chains.bitcoin.script import SCRIPT_TYPES
from chainsleuth.errors import ParseError
from chainsleuth.store.utxo import STAGING_SCHEMAS

HEADER_SIZE = 80
_SCRIPT_TYPE_NAMES = pa.array(SCRIPT_TYPES, pa.string())


@dataclass(frozen=True)
class BlockHeader:
    """The 80-byte header, hashes in display (byte-reversed) hex."""

    hash: str
    version: int
    parent_hash: str
    merkle_root: str
    time: int
    bits: int
    nonce: int


@dataclass(frozen=True)
class ParsedBlock:
    """One parsed block: header, sizes, and the column buffers of the C parser."""

    header: BlockHeader
    size: int  # serialized bytes, header included
    tx_count: int
    bip34_height: int | None
    columns: dict[str, Any]

    @property
    def txids(self) -> pa.StringArray:
        """Txids in block order, display hex."""
        return _hex_strings(self.columns["txid"], self.tx_count)

    @property
    def wtxids(self) -> pa.StringArray:
        """Witness txids (BIP-141) in block order, display hex (equal to txid for legacy)."""
        return _hex_strings(self.columns["wtxid"], self.tx_count)

    def staging_tables(self, height: int) -> dict[str, pa.Table]:
        """The four staging tables of this block at `height` (schemas of STAGING_SCHEMAS)."""
        return staging_tables([(height, self)])


def script_address(script: bytes, network: str) -> tuple[str, str | None]:
    """(script_type, address) of one scriptPubKey by the block parser's C classifier: the
    same answer as `script.classify` (the reference the tests hold it to), at C speed."""
    params = get(network)
    code, address = _parser.classify(
        script, params.p2pkh_version, params.p2sh_version, params.hrp, hash160
    )
    return SCRIPT_TYPES[code], address


def parse_header(data: bytes | memoryview, offset: int = 0, where: str = "block") -> BlockHeader:
    """Decode the header at `offset`; ParseError if fewer than 80 bytes remain."""
    raw = bytes(data[offset : offset + HEADER_SIZE])
    if len(raw) < HEADER_SIZE:
        raise ParseError(f"{where}: truncated block header at byte offset {offset}")
    version, prev, merkle, time, bits, nonce = struct.unpack("<i32s32sIII", raw)
    digest = hashlib.sha256(hashlib.sha256(raw).digest()).digest()
    return BlockHeader(
        digest[::-1].hex(), version, prev[::-1].hex(), merkle[::-1].hex(), time, bits, nonce
    )


def bip34_height(version: int, coinbase_script: bytes) -> int | None:
    """The height a version 2+ block commits to at the start of its coinbase (BIP-34).

    Core pushes the height as a script number: OP_0/OP_1..OP_16 for 0..16, else a minimal
    little-endian push of 1-8 bytes. None for version 1 blocks or other script starts.
    """
    if version < 2 or not coinbase_script:
        return None
    first = coinbase_script[0]
    if first == 0x00:
        return 0
    if 0x51 <= first <= 0x60:
        return first - 0x50
    if 1 <= first <= 8 and len(coinbase_script) > first:
        number = coinbase_script[1 : 1 + first]
        if number[-1] & 0x80:  # negative script number: not a height
            return None
        return int.from_bytes(number, "little")
    return None


def parse_block(
    data: bytes | memoryview,
    network: str,
    offset: int = 0,
    where: str = "block",
    base_offset: int = 0,
) -> ParsedBlock:
    """Parse the block serialised at `offset` of `data` and verify its merkle root.

    `where` names the source in errors (a file) and `base_offset` is added to the offsets
    they report (the block's position in that file). Raises ParseError for truncated data,
    oversized or non-canonical varints, lengths that run past the end, a merkle root
    mismatch or a mutated (CVE-2012-2459) transaction list.
    """
    params = get(network)
    header = parse_header(data, offset, where)
    try:
        cols: dict[str, Any] = _parser.parse_block(
            data,
            offset + HEADER_SIZE,
            params.p2pkh_version,
            params.p2sh_version,
            params.hrp,
            hash160,
        )
    except ValueError as e:
        message, at = e.args if len(e.args) == 2 else (str(e), offset)
        raise ParseError(
            f"{where}: {message} at byte offset {base_offset + at} (block {header.hash})"
        ) from None
    merkle = bytes(cols["merkle_root"])[::-1].hex()
    if merkle != header.merkle_root:
        raise ParseError(
            f"{where}: block {header.hash} merkle root mismatch (header {header.merkle_root},"
            f" transactions {merkle})"
        )
    if cols["mutated"]:
        raise ParseError(f"{where}: block {header.hash} has duplicate transactions (mutated)")
    cb_at, cb_len = cols["coinbase_script_offset"], cols["coinbase_script_length"]
    return ParsedBlock(
        header=header,
        size=int(cols["end"]) - offset,
        tx_count=int(cols["tx_count"]),
        bip34_height=bip34_height(header.version, bytes(data[cb_at : cb_at + cb_len])),
        columns=cols,
    )


def _hex_strings(buf: bytes, n: int) -> pa.Array:
    """n fixed-width 64-character strings packed in `buf` as an Arrow string array."""
    return _strings(n, np.arange(0, 64 * (n + 1), 64, dtype=np.int64), buf)


def _strings(
    n: int, offsets: np.ndarray[Any, Any], data: bytes, valid: np.ndarray[Any, Any] | None = None
) -> pa.Array:
    """n strings of `data` at 64-bit `offsets` (NULL where `valid` is False) as an Arrow
    string array; `data` is not copied, and the cast raises if the offsets exceed 32 bits."""
    bitmap = None if valid is None else pa.py_buffer(np.packbits(valid, bitorder="little"))
    large = pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data), bitmap)
    return large.cast(pa.string())


def _joined(blocks: list[ParsedBlock], name: str) -> bytes:
    return b"".join(b.columns[name] for b in blocks)


def _col(blocks: list[ParsedBlock], name: str, dtype: type[np.generic]) -> np.ndarray[Any, Any]:
    return np.frombuffer(_joined(blocks, name), dtype=dtype)


def staging_tables(blocks: Sequence[tuple[int, ParsedBlock]]) -> dict[str, pa.Table]:
    """The four staging tables (schemas of STAGING_SCHEMAS) of (height, block) pairs.

    The parser's buffers are joined column by column across the blocks and wrapped as one
    Arrow chunk per column, so a batch of thousands of small blocks (the early chain) costs
    what a few large ones do: no per-block tables to build, concatenate and copy.
    """
    parsed = [b for _, b in blocks]
    heights = np.array([h for h, _ in blocks], dtype=np.int64)
    n_tx = np.array([b.tx_count for b in parsed], dtype=np.int64)
    tx_start = np.cumsum(n_tx) - n_tx
    txids = _hex_strings(_joined(parsed, "txid"), int(n_tx.sum()))
    position = (np.arange(len(txids)) - np.repeat(tx_start, n_tx)).astype(np.int32)

    def rows(name: str) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        """Rows per block of the per-output (per-input) column `name`, and each row's
        transaction as an index into the batch's txids."""
        per_block = np.array([len(b.columns[name]) // 4 for b in parsed], dtype=np.int64)
        return per_block, _col(parsed, name, np.int32) + np.repeat(tx_start, per_block)

    outs_per_block, out_tx = rows("out_tx")
    ins_per_block, in_tx = rows("in_tx")
    n_out, n_in = len(out_tx), len(in_tx)
    # Each block's address offsets run from 0 to its total: drop the totals and shift each
    # block's by the bytes of the blocks before it.
    offsets = np.frombuffer(_joined(parsed, "out_addr_offsets"), np.int32).astype(np.int64)
    addr_bytes = np.array([len(b.columns["out_addr"]) for b in parsed], dtype=np.int64)
    starts = np.delete(offsets, np.cumsum(outs_per_block + 1) - 1)
    base = np.repeat(np.cumsum(addr_bytes) - addr_bytes, outs_per_block)
    addresses = _strings(
        n_out,
        np.append(starts + base, addr_bytes.sum()),
        _joined(parsed, "out_addr"),
        _col(parsed, "out_addr_valid", np.uint8).astype(bool),
    )
    arrays: dict[str, dict[str, Any]] = {
        "stg_blocks": {
            "height": heights,
            "hash": [b.header.hash for b in parsed],
            "parent_hash": [b.header.parent_hash for b in parsed],
            "time": np.array([b.header.time for b in parsed], dtype="datetime64[s]"),
            "tx_count": n_tx,
        },
        "stg_txs": {
            "block_height": np.repeat(heights, n_tx),
            "tx_hash": txids,
            "position": position,
            "version": _col(parsed, "version", np.int64),
            "locktime": _col(parsed, "locktime", np.int64),
            "size": _col(parsed, "size", np.int32),
            "weight": _col(parsed, "weight", np.int32),
            "is_coinbase": position == 0,
        },
        "stg_outputs": {
            "block_height": np.repeat(heights, outs_per_block),
            "tx_hash": txids.take(out_tx),
            "position": position[out_tx],
            "n": _col(parsed, "out_n", np.int32),
            "address": addresses,
            "value": _col(parsed, "out_value", np.int64),
            "script_type": _SCRIPT_TYPE_NAMES.take(_col(parsed, "out_type", np.uint8)),
        },
        "stg_inputs": {
            "block_height": np.repeat(heights, ins_per_block),
            "tx_hash": txids.take(in_tx),
            "position": position[in_tx],
            "n": _col(parsed, "in_n", np.int32),
            "prev_tx_hash": _hex_strings(_joined(parsed, "in_prev_hash"), n_in),
            "prev_n": _col(parsed, "in_prev_n", np.int64),
            "address": pa.nulls(n_in, pa.string()),
            "value": pa.nulls(n_in, pa.int64()),
            "sequence": _col(parsed, "in_sequence", np.int64),
        },
    }
    return {
        name: pa.table(
            {f.name: _arrow(arrays[name][f.name], f.type) for f in schema}, schema=schema
        )
        for name, schema in STAGING_SCHEMAS.items()
    }


def _arrow(values: Any, type_: pa.DataType) -> pa.Array:
    if isinstance(values, pa.Array):
        return values if values.type == type_ else values.cast(type_)
    return pa.array(values, type_)
