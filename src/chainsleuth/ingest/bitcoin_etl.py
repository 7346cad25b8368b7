"""`chainsleuth ingest bitcoin --from etl DIR`: blockchain-etl exports into the store.

The exports are read once (`chains.bitcoin.etl.load`, all SQL), then applied in batches
of whole blocks holding at most `--batch-txs` transactions (and at most `--batch` blocks if
given), each batch one transaction (`store.utxo.apply_staged`). Batches are large because
each has a cost that grows with the store (spends of outputs stored by earlier batches are
matched against them); the memory cap bounds them, DuckDB spilling beyond it. Heights
already stored are skipped, so a re-run or a resumed run after a crash stores nothing
twice; `--start`/`--end` restrict the heights.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from chainsleuth.chains.bitcoin import etl
from chainsleuth.ingest.common import ETL_BATCH_TXS, IngestOptions, IngestSummary, batches
from chainsleuth.store.utxo import apply_staged

CHAIN = "bitcoin"
SOURCE = "etl"


def pending_blocks(con: duckdb.DuckDBPyConnection, opts: IngestOptions) -> list[tuple[int, int]]:
    """(height, transactions) of the loaded export's blocks within --start/--end that are
    not stored yet, ascending."""
    rows = con.execute(
        """
        SELECT b.height, count(t.block_height) FROM etl_blocks b
        LEFT JOIN etl_txs t ON t.block_height = b.height
        WHERE b.height BETWEEN coalesce($start, b.height) AND coalesce($end, b.height)
          AND b.height NOT IN (SELECT height FROM blocks WHERE chain = $chain)
        GROUP BY b.height ORDER BY b.height
        """,
        {"start": opts.start, "end": opts.end, "chain": CHAIN},
    ).fetchall()
    return [(int(h), int(n)) for h, n in rows]


def ingest_etl(con: duckdb.DuckDBPyConnection, location: str, opts: IngestOptions) -> IngestSummary:
    """Ingest the bitcoin-etl exports under directory `location`."""
    max_txs = opts.txs_per_batch(ETL_BATCH_TXS)
    summary = IngestSummary(chain=CHAIN, source=SOURCE)
    progress = opts.progress
    task = progress.add_task("etl: reading", total=None) if progress else None
    try:
        n_blocks, _ = etl.load(con, Path(location), CHAIN, opts.start, opts.end)
        pending = pending_blocks(con, opts)
        heights = [h for h, _ in pending]
        skipped = n_blocks - len(heights)
        if skipped:
            summary.notes.append(
                f"{skipped} of {n_blocks} exported blocks already stored or outside --start/--end"
            )
        if progress is not None and task is not None:
            progress.update(task, description="etl: ingesting", total=len(heights))
        max_blocks = opts.blocks_per_batch(default=len(pending) or 1)
        for first, last in batches(pending, max_blocks, max_txs):
            etl.stage_range(con, first, last)
            result = apply_staged(con, CHAIN, SOURCE)
            summary.add(result)
            if progress is not None and task is not None:
                progress.advance(task, result.blocks)
        summary.note_unresolved_inputs()
    finally:
        etl.unload(con)
    return summary
