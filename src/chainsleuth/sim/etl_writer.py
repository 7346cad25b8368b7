"""Writing simulated transactions as bitcoin-etl *enriched* newline-delimited JSON.

Field names and order follow bitcoin-etl's exports (`blocks.json`, `transactions.json`;
inputs carry `spent_transaction_hash`, `spent_output_index`, `addresses`, `type` and
`value` as after `enrich_transactions`); values are satoshi integers. Batches are turned
into Arrow columns with NumPy, Arrow's string kernels fill a JSON template per row and
join each transaction's inputs and outputs, and the lines' buffer is written as is.

Every address is P2WPKH, so outputs carry `witness_v0_keyhash` scripts (`0014<program>`)
and inputs an empty scriptSig (their signatures sit in the witness, which bitcoin-etl
does not export). Sizes follow a P2WPKH estimate; the merkle root is synthetic.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import IO, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from chainsleuth.sim.encode import (
    DOMAIN_BLOCK,
    DOMAIN_MERKLE,
    DOMAIN_NONCE,
    DOMAIN_TX,
    hex_ids,
    hex_strings,
)
from chainsleuth.sim.encode import strings as text_column
from chainsleuth.sim.model import Kind, TxBatch
from chainsleuth.sim.world import World

I64 = NDArray[np.int64]

SEQUENCE_FINAL = 0xFFFFFFFF
SEQUENCE_RBF = 0xFFFFFFFD  # wallets signalling replace-by-fee also set lock_time = height - 1

INPUT_PARTS = (
    '{"index":',
    "n",
    ',"spent_transaction_hash":"',
    "prev_hash",
    '","spent_output_index":',
    "prev_n",
    ',"script_asm":"","script_hex":"","sequence":',
    "sequence",
    ',"required_signatures":1,"type":"witness_v0_keyhash","addresses":["',
    "address",
    '"],"value":',
    "value",
    "}",
)
OUTPUT_PARTS = (
    '{"index":',
    "n",
    ',"script_asm":"0 ',
    "program",
    '","script_hex":"0014',
    "program",
    '","required_signatures":1,"type":"witness_v0_keyhash","addresses":["',
    "address",
    '"],"value":',
    "value",
    "}",
)
TX_PARTS = (
    '{"hash":"',
    "hash",
    '","size":',
    "size",
    ',"virtual_size":',
    "virtual_size",
    ',"version":2,"lock_time":',
    "lock_time",
    ',"block_number":',
    "height",
    ',"block_hash":"',
    "block_hash",
    '","block_timestamp":',
    "timestamp",
    ',"is_coinbase":',
    "coinbase",
    ',"index":',
    "position",
    ',"inputs":[',
    "inputs",
    '],"outputs":[',
    "outputs",
    '],"input_count":',
    "input_count",
    ',"output_count":',
    "output_count",
    ',"input_value":',
    "input_value",
    ',"output_value":',
    "output_value",
    ',"fee":',
    "fee",
    "}\n",
)
BLOCK_PARTS = (
    '{"hash":"',
    "hash",
    '","size":',
    "size",
    ',"stripped_size":',
    "stripped_size",
    ',"weight":',
    "weight",
    ',"number":',
    "number",
    ',"version":536870912,"merkle_root":"',
    "merkle_root",
    '","timestamp":',
    "timestamp",
    ',"nonce":"',
    "nonce",
    '","bits":"17034219","coinbase_param":"',
    "coinbase_param",
    '","transaction_count":',
    "transaction_count",
    "}\n",
)


def json_lines(template: tuple[str, ...], columns: dict[str, pa.Array | NDArray[Any]]) -> pa.Array:
    """Fill a JSON template: odd items name columns (numbers or strings), even ones are
    literal text. One string per row, built by Arrow kernels (no per-row Python)."""
    parts: list[Any] = []
    for k, item in enumerate(template):
        if k % 2 == 0:
            parts.append(pa.scalar(item, pa.string()))
            continue
        col = columns[item]
        arr = col if isinstance(col, pa.Array) else pa.array(col)
        parts.append(arr if pa.types.is_string(arr.type) else pc.cast(arr, pa.string()))
    return pc.binary_join_element_wise(*parts, "")


def joined_lists(items: pa.Array, group: NDArray[np.int64], groups: int) -> pa.Array:
    """Per group, its items joined by commas (`group` sorted ascending; empty groups: '')."""
    offsets = np.r_[0, np.cumsum(np.bincount(group, minlength=groups))].astype(np.int32)
    return pc.binary_join(pa.ListArray.from_arrays(pa.array(offsets), items), ",")


def write_strings(lines: pa.Array, out: IO[bytes]) -> None:
    """Append the concatenated values of a string array (no separator) to `out`."""
    if not len(lines):
        return
    _, offsets, data = lines.buffers()
    bounds = np.frombuffer(offsets, dtype=np.int32)[lines.offset : lines.offset + len(lines) + 1]
    out.write(memoryview(data)[int(bounds[0]) : int(bounds[-1])])


class EtlWriter:
    """Appends batches of whole blocks to `blocks.json` and `transactions.json` in `out_dir`."""

    def __init__(self, out_dir: Path, world: World, seed: int) -> None:
        out_dir.mkdir(parents=True, exist_ok=True)
        self.world = world
        self.seed = seed
        self.blocks_file = (out_dir / "blocks.json").open("wb")
        self.txs_file = (out_dir / "transactions.json").open("wb")
        self.txs = 0
        self.blocks = 0

    def __enter__(self) -> EtlWriter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the files."""
        self.blocks_file.close()
        self.txs_file.close()

    def write(self, batch: TxBatch, block_time: I64) -> None:
        """Write one batch: it must hold every transaction of the blocks it touches."""
        world, seed = self.world, self.seed
        order = np.lexsort((batch.order, batch.height))
        height = batch.height[order]
        tx_id = batch.tx_id[order]
        first_of_block = np.r_[True, height[1:] != height[:-1]]
        starts = np.flatnonzero(first_of_block)
        position = np.arange(len(order)) - np.repeat(starts, np.diff(np.r_[starts, len(order)]))
        # Row of each tx id in the sorted order (ids of a batch are consecutive).
        base = batch.tx_id.min()
        row = np.empty(len(order), np.int64)
        row[tx_id - base] = np.arange(len(order))
        in_row, out_row = row[batch.in_tx - base], row[batch.out_tx - base]
        n_in = np.bincount(in_row, minlength=len(order))
        n_out = np.bincount(out_row, minlength=len(order))
        v_in = np.bincount(in_row, batch.in_value, len(order)).astype(np.int64)
        v_out = np.bincount(out_row, batch.out_value, len(order)).astype(np.int64)
        coinbase = batch.coinbase[order]
        stripped = 10 + 41 * n_in + 31 * n_out + np.where(coinbase, 50, 0)
        size = stripped + np.where(n_in > 0, 2 + 107 * n_in, 0)
        spender = world.book.owner.view[batch.in_addr].astype(np.int64)
        rbf_in = (world.kind[spender] == Kind.USER) & (spender % 2 == 0)
        rbf = np.zeros(len(order), np.bool_)
        rbf[in_row] = rbf_in
        in_order = np.lexsort((batch.in_n, in_row))
        inputs = json_lines(
            INPUT_PARTS,
            {
                "n": batch.in_n[in_order],
                "prev_hash": hex_ids(batch.in_prev_tx[in_order], seed, DOMAIN_TX),
                "prev_n": batch.in_prev_n[in_order],
                "sequence": np.where(rbf_in, SEQUENCE_RBF, SEQUENCE_FINAL)[in_order],
                "address": text_column(world.book.texts(batch.in_addr[in_order])),
                "value": batch.in_value[in_order],
            },
        )
        out_order = np.lexsort((batch.out_n, out_row))
        out_addr = batch.out_addr[out_order]
        outputs = json_lines(
            OUTPUT_PARTS,
            {
                "n": batch.out_n[out_order],
                "program": hex_strings(world.book.programs(out_addr)),
                "address": text_column(world.book.texts(out_addr)),
                "value": batch.out_value[out_order],
            },
        )
        heights = np.arange(height[0], height[-1] + 1, dtype=np.int64)
        block_hash = hex_ids(heights, seed, DOMAIN_BLOCK, zero_prefix=19)
        timestamps = block_time[heights]
        n_tx = len(order)
        lines = json_lines(
            TX_PARTS,
            {
                "hash": hex_ids(tx_id, seed, DOMAIN_TX),
                "size": size,
                "virtual_size": (3 * stripped + size + 3) // 4,
                "lock_time": np.where(rbf, height - 1, 0),
                "height": height,
                "block_hash": block_hash.take(pa.array(height - heights[0])),
                "timestamp": timestamps[height - heights[0]],
                "coinbase": pc.if_else(pa.array(coinbase), "true", "false"),
                "position": position,
                "inputs": joined_lists(inputs, in_row[in_order], n_tx),
                "outputs": joined_lists(outputs, out_row[out_order], n_tx),
                "input_count": n_in,
                "output_count": n_out,
                "input_value": v_in,
                "output_value": v_out,
                "fee": np.where(coinbase, 0, v_in - v_out),
            },
        )
        write_strings(lines, self.txs_file)
        block_size = 81 + np.bincount(height - heights[0], size, len(heights)).astype(np.int64)
        block_stripped = 81 + np.bincount(height - heights[0], stripped, len(heights))
        block_stripped = block_stripped.astype(np.int64)
        nonce = hex_ids(heights, seed, DOMAIN_NONCE)
        blocks = json_lines(
            BLOCK_PARTS,
            {
                "hash": block_hash,
                "size": block_size,
                "stripped_size": block_stripped,
                "weight": 3 * block_stripped + block_size,
                "number": heights,
                "merkle_root": hex_ids(heights, seed, DOMAIN_MERKLE),
                "timestamp": timestamps,
                "nonce": pc.utf8_slice_codeunits(nonce, 0, 8),
                "coinbase_param": pc.utf8_slice_codeunits(nonce, 8, 24),
                "transaction_count": np.bincount(height - heights[0], minlength=len(heights)),
            },
        )
        write_strings(blocks, self.blocks_file)
        self.txs += n_tx
        self.blocks += len(heights)
