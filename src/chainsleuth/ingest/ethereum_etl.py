"""Ingest an ethereum-etl export directory: blocks, transactions, value flows, tokens.

The export is read by DuckDB into the raw relations (`chains.ethereum.etl`), decoded into
value flows (`chains.ethereum.flows`) and written by `store.account.apply_staged`, one
transaction per block-range partition of the export (ethereum-etl's `export_all` layout;
an unpartitioned export is one partition): a partition is stored whole or not at all.
Blocks already stored are skipped, so a re-run after an interruption resumes, and an
overlapping export adds nothing twice. Blocks without traces are stored with internal
transfers marked unavailable.
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
    """Ingest the ethereum-etl export under `directory` (heights opts.start..opts.end).

    Each block-range partition of the export is one committed batch (the whole export
    when it is not partitioned); token metadata follows the blocks.
    """
    summary = IngestSummary(CHAIN, SOURCE)
    found = etl.find_files(directory)
    parts = found.partitions()
    task = opts.progress.add_task("ethereum etl", total=len(parts)) if opts.progress else None
    loads = []
    for part in parts:
        loads.append(etl.load_raw(con, part, opts.start, opts.end))
        summary.note(*build_staging(con, "etl" if loads[-1].has_traces else None))
        result = apply_staged(con, CHAIN, SOURCE)
        summary.add(result)
        if opts.progress is not None and task is not None:
            opts.progress.advance(task)
    if found.has("tokens"):
        etl.load_kind(con, found, "tokens")
        upsert_tokens(con, CHAIN, etl.TOKENS_SQL)
    etl.drop_loaded(con)
    if not all(load.has_traces for load in loads):
        summary.notes.append(
            "no traces in the export: internal transfers are marked unavailable for these blocks"
        )
    if not all(load.has_receipts for load in loads):
        summary.notes.append(
            "no receipts in the export: transaction status, gas used and fees are unknown"
        )
    if not all(load.has_logs for load in loads):
        summary.notes.append("no logs or token_transfers in the export: no token transfers")
    return summary
