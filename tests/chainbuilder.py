"""Hand-made UTXO chains for tests: blocks as staging tables, written through the real writer."""

from __future__ import annotations

import datetime as dt
from typing import Any

import duckdb
import pyarrow as pa

from chainsleuth.store.utxo import STAGING_SCHEMAS, apply_staged, stage_arrow

T0 = dt.datetime(2024, 5, 31, 12, 0, 0)


def block(height: int, parent: str, txs: list[dict[str, Any]]) -> dict[str, pa.Table]:
    """Staging tables for one block.

    Each tx is {"id", "ins": [(prev_txid, prev_n)], "outs": [(address, value)]}; a tx without
    inputs is a coinbase, an output without address an OP_RETURN. Inputs carry no
    address/value: the writer resolves them.
    """
    tables: dict[str, list[dict[str, Any]]] = {name: [] for name in STAGING_SCHEMAS}
    tables["stg_blocks"].append(
        {
            "height": height,
            "hash": f"h{height}",
            "parent_hash": parent,
            "time": T0 + dt.timedelta(minutes=10 * height),
            "tx_count": len(txs),
        }
    )
    for pos, tx in enumerate(txs):
        tables["stg_txs"].append(
            {
                "block_height": height,
                "tx_hash": tx["id"],
                "position": pos,
                "version": 2,
                "locktime": 0,
                "size": 200,
                "weight": 800,
                "is_coinbase": not tx["ins"],
            }
        )
        for n, (prev, prev_n) in enumerate(tx["ins"]):
            tables["stg_inputs"].append(
                {
                    "block_height": height,
                    "tx_hash": tx["id"],
                    "position": pos,
                    "n": n,
                    "prev_tx_hash": prev,
                    "prev_n": prev_n,
                    "address": None,
                    "value": None,
                    "sequence": 0xFFFFFFFF,
                }
            )
        for n, (addr, value) in enumerate(tx["outs"]):
            tables["stg_outputs"].append(
                {
                    "block_height": height,
                    "tx_hash": tx["id"],
                    "position": pos,
                    "n": n,
                    "address": addr,
                    "value": value,
                    "script_type": "p2wpkh" if addr is not None else "nulldata",
                }
            )
    return {k: pa.Table.from_pylist(v, schema=STAGING_SCHEMAS[k]) for k, v in tables.items()}


def chain(*blocks_txs: list[dict[str, Any]]) -> list[dict[str, pa.Table]]:
    """Consecutive blocks from lists of txs, heights from 0."""
    return [block(h, f"h{h - 1}" if h else "00", txs) for h, txs in enumerate(blocks_txs)]


def ingest(con: duckdb.DuckDBPyConnection, blocks: list[dict[str, pa.Table]]) -> None:
    """Write the blocks through the real writer, one batch each."""
    for b in blocks:
        stage_arrow(con, b)
        apply_staged(con, "bitcoin", "test")


def addr(name: str) -> str:
    """A valid mainnet P2WPKH address derived from a name (for tests that validate input)."""
    from chainsleuth.chains.bitcoin.address import encode_segwit, hash160

    return encode_segwit("bc", 0, hash160(name.encode()))


def tag(
    con: duckdb.DuckDBPyConnection,
    chain_name: str,
    address: str,
    label: str,
    category: str,
    abuse: str | None = None,
    source: str = "https://example.org/list",
) -> None:
    """Store one tag (authority data, confidence 60) naming `address`."""
    con.execute(
        "INSERT INTO tags (chain, address, currency, label, category, abuse, source, confidence,"
        " confidence_level, tagpack) VALUES (?, ?, 'X', ?, ?, ?, ?, 'authority_data', 60, 'test')",
        [chain_name, address, label, category, abuse, source],
    )
