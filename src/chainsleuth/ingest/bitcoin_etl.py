"""`chainsleuth ingest bitcoin --from etl DIR`: blockchain-etl exports into the store.

The exports are read once (`chains.bitcoin.etl.load`, all SQL), then applied in batches
of `--batch` blocks, each batch one transaction (`store.utxo.apply_staged`). Heights
already stored are skipped, so a re-run or a resumed run after a crash stores nothing
twice; `--start`/`--end` restrict the heights.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from chainsleuth.chains.bitcoin import etl
from chainsleuth.ingest.common import IngestOptions, IngestSummary
from chainsleuth.store.utxo import apply_staged

CHAIN = "bitcoin"
SOURCE = "etl"


def pending_heights(con: duckdb.DuckDBPyConnection, opts: IngestOptions) -> list[int]:
    """Heights of the loaded export, within --start/--end, not stored yet, ascending."""
    rows = con.execute(
        """
        SELECT height FROM etl_blocks
        WHERE height BETWEEN coalesce($start, height) AND coalesce($end, height)
          AND height NOT IN (SELECT height FROM blocks WHERE chain = $chain)
        ORDER BY height
        """,
        {"start": opts.start, "end": opts.end, "chain": CHAIN},
    ).fetchall()
    return [int(r[0]) for r in rows]


def batches(heights: list[int], size: int) -> list[tuple[int, int]]:
    """Consecutive (first, last) height ranges of at most `size` pending heights."""
    size = max(1, size)
    return [
        (heights[i], heights[min(i + size, len(heights)) - 1]) for i in range(0, len(heights), size)
    ]


def ingest_etl(con: duckdb.DuckDBPyConnection, location: str, opts: IngestOptions) -> IngestSummary:
    """Ingest the bitcoin-etl exports under directory `location`."""
    summary = IngestSummary(chain=CHAIN, source=SOURCE)
    try:
        n_blocks, _ = etl.load(con, Path(location), CHAIN, opts.start, opts.end)
        heights = pending_heights(con, opts)
        skipped = n_blocks - len(heights)
        if skipped:
            summary.notes.append(
                f"{skipped} of {n_blocks} exported blocks already stored or outside --start/--end"
            )
        progress = opts.progress
        task = progress.add_task("etl: ingesting", total=len(heights)) if progress else None
        for first, last in batches(heights, opts.batch_blocks):
            etl.stage_range(con, first, last)
            result = apply_staged(con, CHAIN, SOURCE)
            summary.add(
                result.blocks,
                result.txs,
                result.new_addresses,
                result.first_height,
                result.last_height,
            )
            if progress is not None and task is not None:
                progress.advance(task, result.blocks)
        unresolved = con.execute(
            "SELECT count(*) FROM inputs WHERE chain = $chain AND value IS NULL"
            " AND prev_tx_hash IS NOT NULL AND block_height BETWEEN $lo AND $hi",
            {
                "chain": CHAIN,
                "lo": heights[0] if heights else 0,
                "hi": heights[-1] if heights else -1,
            },
        ).fetchone()
        if unresolved and unresolved[0]:
            summary.notes.append(
                f"{unresolved[0]} inputs spend outputs that are not stored (address/value unknown)"
            )
    finally:
        etl.unload(con)
    return summary
