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

import datetime as dt
import hashlib
import struct
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
        return _staging(self, height)


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
    offsets = np.arange(0, 64 * (n + 1), 64, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(buf))


def _col(cols: dict[str, Any], name: str, dtype: type[np.generic]) -> np.ndarray[Any, Any]:
    return np.frombuffer(cols[name], dtype=dtype)


def _staging(block: ParsedBlock, height: int) -> dict[str, pa.Table]:
    cols, n_tx = block.columns, block.tx_count
    txids = block.txids
    out_tx = _col(cols, "out_tx", np.int32)
    in_tx = _col(cols, "in_tx", np.int32)
    n_out, n_in = len(out_tx), len(in_tx)
    valid = _col(cols, "out_addr_valid", np.uint8).astype(bool)
    addresses = pa.StringArray.from_buffers(
        n_out,
        pa.py_buffer(cols["out_addr_offsets"]),
        pa.py_buffer(cols["out_addr"]),
        pa.py_buffer(np.packbits(valid, bitorder="little")),
    )
    position = np.arange(n_tx, dtype=np.int32)
    arrays: dict[str, dict[str, Any]] = {
        "stg_blocks": {
            "height": [height],
            "hash": [block.header.hash],
            "parent_hash": [block.header.parent_hash],
            "time": [dt.datetime.fromtimestamp(block.header.time, dt.UTC).replace(tzinfo=None)],
            "tx_count": [n_tx],
        },
        "stg_txs": {
            "block_height": np.full(n_tx, height, dtype=np.int64),
            "tx_hash": txids,
            "position": position,
            "version": _col(cols, "version", np.int64),
            "locktime": _col(cols, "locktime", np.int64),
            "size": _col(cols, "size", np.int32),
            "weight": _col(cols, "weight", np.int32),
            "is_coinbase": position == 0,
        },
        "stg_outputs": {
            "block_height": np.full(n_out, height, dtype=np.int64),
            "tx_hash": txids.take(out_tx),
            "position": out_tx,
            "n": _col(cols, "out_n", np.int32),
            "address": addresses,
            "value": _col(cols, "out_value", np.int64),
            "script_type": _SCRIPT_TYPE_NAMES.take(_col(cols, "out_type", np.uint8)),
        },
        "stg_inputs": {
            "block_height": np.full(n_in, height, dtype=np.int64),
            "tx_hash": txids.take(in_tx),
            "position": in_tx,
            "n": _col(cols, "in_n", np.int32),
            "prev_tx_hash": _hex_strings(cols["in_prev_hash"], n_in),
            "prev_n": _col(cols, "in_prev_n", np.int64),
            "address": pa.nulls(n_in, pa.string()),
            "value": pa.nulls(n_in, pa.int64()),
            "sequence": _col(cols, "in_sequence", np.int64),
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


def staging_tables(blocks: list[tuple[int, ParsedBlock]]) -> dict[str, pa.Table]:
    """The staging tables of several (height, block) pairs, concatenated per table into one
    chunk each (DuckDB scans thousands of small blocks' chunks many times slower); the
    blocks' parts of a table are released as it is combined, so one table is copied at a
    time."""
    parts = [b.staging_tables(h) for h, b in blocks]
    return {
        name: pa.concat_tables([p.pop(name) for p in parts]).combine_chunks()
        if parts
        else schema.empty_table()
        for name, schema in STAGING_SCHEMAS.items()
    }
