"""Ingest an ethereum-etl export directory: blocks, transactions, value flows, tokens.

The export is read by DuckDB into the raw relations (`chains.ethereum.etl`), decoded into
value flows (`chains.ethereum.flows`) and written by `store.account.apply_staged` in one
transaction: all of the selected blocks or none. Blocks already stored are skipped, so a
re-run or an overlapping export adds nothing twice. Without traces.csv/json the blocks are
stored with internal transfers marked unavailable.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from chainsleuth.chains.ethereum import etl
from chainsleuth.chains.ethereum.flows import build_staging
from chainsleuth.ingest.common import IngestOptions, IngestSummary
from chainsleuth.store.account import apply_staged, upsert_tokens

CHAIN = "ethereum"
SOURCE = "etl"


def ingest_eth_etl(
    con: duckdb.DuckDBPyConnection, directory: str | Path, opts: IngestOptions
) -> IngestSummary:
    """Ingest the ethereum-etl export under `directory` (heights opts.start..opts.end)."""
    summary = IngestSummary(CHAIN, SOURCE)
    task = opts.progress.add_task("ethereum etl", total=3) if opts.progress else None

    def step() -> None:
        if opts.progress is not None and task is not None:
            opts.progress.advance(task)

    loaded = etl.load_raw(con, directory, opts.start, opts.end)
    step()
    summary.notes.extend(build_staging(con, "etl" if loaded.has_traces else None))
    step()
    result = apply_staged(con, CHAIN, SOURCE)
    if loaded.has_tokens:
        upsert_tokens(con, CHAIN, etl.TOKENS_SQL)
    etl.drop_loaded(con)
    step()
    summary.add(
        result.blocks, result.txs, result.new_addresses, result.first_height, result.last_height
    )
    if not loaded.has_traces:
        summary.notes.append(
            "no traces in the export: internal transfers are marked unavailable for these blocks"
        )
    if not loaded.has_receipts:
        summary.notes.append(
            "no receipts in the export: transaction status, gas used and fees are unknown"
        )
    if not loaded.has_logs:
        summary.notes.append("no logs or token_transfers in the export: no token transfers")
    return summary
