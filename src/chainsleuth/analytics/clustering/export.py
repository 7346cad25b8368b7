"""Exports: one chain's clusters as `address,cluster_id`, and the store as partitioned Parquet.

The Parquet export is what the Spark job reads: one directory per table, partitioned by
`chain` (Hive style, `outputs/chain=bitcoin/*.parquet`) where the table has that column.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from chainsleuth.analytics.clustering.window import first_row
from chainsleuth.errors import InputError, NotFoundError


def _quote(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def export_clusters(con: duckdb.DuckDBPyConnection, chain: str, fmt: str, out: Path) -> int:
    """Write `address,cluster_id` of `chain` to `out` as csv or parquet; return the row count."""
    if fmt not in ("csv", "parquet"):
        raise InputError(f"--format: {fmt!r} is not csv or parquet")
    row = first_row(con.execute("SELECT count(*) FROM clusters WHERE chain = ?", [chain]))
    count = int(row[0]) if row else 0
    if not count:
        raise NotFoundError(f"no {chain} clusters in the store; run `chainsleuth cluster` first")
    options = "FORMAT csv, HEADER true" if fmt == "csv" else "FORMAT parquet"
    con.execute(
        "COPY (SELECT a.address, c.cluster_id FROM clusters c"
        " JOIN addresses a ON a.chain = c.chain AND a.address_id = c.address_id"
        f" WHERE c.chain = '{chain}' ORDER BY c.cluster_id, c.address_id)"
        f" TO {_quote(out)} ({options})"
    )
    return count


def table_names(con: duckdb.DuckDBPyConnection) -> list[tuple[str, bool]]:
    """(table, has a chain column) for every base table of the store."""
    found = con.execute(
        """
        SELECT t.table_name, bool_or(c.column_name = 'chain')
        FROM information_schema.tables t
        JOIN information_schema.columns c
          ON c.table_schema = t.table_schema AND c.table_name = t.table_name
        WHERE t.table_schema = 'main' AND t.table_type = 'BASE TABLE'
          AND t.table_catalog = current_database()
        GROUP BY t.table_name ORDER BY t.table_name
        """
    ).fetchall()
    return [(str(name), bool(chained)) for name, chained in found]


DERIVED_PREFIX = "trace_"
"""The tracing index (migrations 007, 012, 013): derived from the other tables and rebuilt
by the first trace, so not exported (its pages alone are 2.2 GB at 10M transactions)."""


def export_parquet(con: duckdb.DuckDBPyConnection, out: Path) -> list[dict[str, object]]:
    """Write every table but the tracing index under `out/<table>/`, partitioned by chain;
    rows written per table."""
    out.mkdir(parents=True, exist_ok=True)
    written: list[dict[str, object]] = []
    for name, chained in table_names(con):
        if name.startswith(DERIVED_PREFIX):
            continue
        target = out / name
        row = first_row(con.execute(f'SELECT count(*) FROM "{name}"'))
        count = int(row[0]) if row else 0
        if chained and count:
            con.execute(
                f'COPY (SELECT * FROM "{name}") TO {_quote(target)}'
                " (FORMAT parquet, PARTITION_BY (chain), OVERWRITE_OR_IGNORE true)"
            )
        else:  # one file, so even an empty table keeps its schema for readers
            target.mkdir(exist_ok=True)
            con.execute(
                f'COPY (SELECT * FROM "{name}") TO {_quote(target / "data.parquet")}'
                " (FORMAT parquet)"
            )
        written.append({"table": name, "rows": count, "path": str(target)})
    return written
