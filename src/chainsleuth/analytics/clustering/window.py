"""The block range a clustering step reads, rendered as portable SQL predicates.

Heuristics are SQL text that runs unchanged on DuckDB (the store) and on Spark SQL (views
over the Parquet export), so both engines make the same links. Values are rendered as
literals after validation, never interpolated from user text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import duckdb

from chainsleuth.errors import InputError

_CHAIN = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")


@dataclass(frozen=True)
class Window:
    """Blocks `lo..hi` (inclusive) of `chain`; `coinjoins`/`premixes` name the detection tables."""

    chain: str
    lo: int
    hi: int
    coinjoins: str = "coinjoin_txs"
    premixes: str = "premix_txs"

    def __post_init__(self) -> None:
        """Reject a chain name that is not a plain identifier."""
        if not _CHAIN.match(self.chain):
            raise InputError(f"chain: {self.chain!r} is not a chain name")

    def rows(self, height_column: str = "block_height", alias: str = "") -> str:
        """`chain = '<chain>' AND <height> BETWEEN lo AND hi` for a table (optionally aliased)."""
        p = f"{alias}." if alias else ""
        return (
            f"{p}chain = '{self.chain}'"
            f" AND {p}{height_column} BETWEEN {int(self.lo)} AND {int(self.hi)}"
        )

    def chain_rows(self, alias: str = "") -> str:
        """`chain = '<chain>'` (every height) for a table (optionally aliased)."""
        p = f"{alias}." if alias else ""
        return f"{p}chain = '{self.chain}'"

    def not_flagged(self, table: str, tx_column: str) -> str:
        """A predicate: the transaction in `tx_column` is not listed in `table`."""
        return (
            f"NOT EXISTS (SELECT 1 FROM {table} f WHERE f.chain = '{self.chain}'"
            f" AND f.tx_hash = {tx_column})"
        )


def first_row(result: duckdb.DuckDBPyConnection) -> tuple[Any, ...] | None:
    """The first row of an executed query, reading it to the end (DuckDB 2 refuses new work
    on a connection with a partly read result)."""
    found = result.fetchall()
    return tuple(found[0]) if found else None
