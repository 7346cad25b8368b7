"""Read queries over the store shared by the CLI, the API and the reports."""

from __future__ import annotations

from typing import Any

import duckdb


def rows(con: duckdb.DuckDBPyConnection, sql: str, params: Any = None) -> list[dict[str, Any]]:
    """Run `sql` and return its rows as dicts keyed by column name."""
    cur = con.execute(sql, params or [])
    names = [d[0] for d in cur.description or []]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def store_status(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Per chain: first and last height, counts of blocks, transactions and addresses."""
    return rows(
        con,
        """
        WITH b AS (SELECT chain, min(height) AS first_height, max(height) AS last_height,
                          count(*) AS blocks, max(time) AS last_block_time
                   FROM blocks GROUP BY chain),
             t AS (SELECT chain, count(*) AS transactions FROM txs GROUP BY chain),
             a AS (SELECT chain, count(*) AS addresses FROM addresses GROUP BY chain)
        SELECT b.chain, b.first_height, b.last_height, b.blocks,
               coalesce(t.transactions, 0) AS transactions,
               coalesce(a.addresses, 0) AS addresses, b.last_block_time,
               s.source AS last_source
        FROM b LEFT JOIN t USING (chain) LEFT JOIN a USING (chain)
        LEFT JOIN ingest_state s USING (chain)
        ORDER BY b.chain
        """,
    )
