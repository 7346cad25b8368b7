"""Writing tag datasets to the store and reading tags back.

A dataset (one TagPack, one OFAC list, ...) is replaced as a whole on re-import, inside
one transaction, and the import reports what it added, removed and changed, by tag subject
(chain + address or tx hash). Tags stay keyed by address strings, so they apply to addresses
ingested later.
"""

from __future__ import annotations

from typing import Any

import duckdb
import pyarrow as pa

from chainsleuth.analytics.attribution.model import TAG_COLUMNS, Dataset, ImportResult
from chainsleuth.store.db import transaction
from chainsleuth.store.queries import rows

_ARROW_TYPES: dict[str, pa.DataType] = {
    "confidence_level": pa.int32(),
    "is_cluster_definer": pa.bool_(),
    "is_public": pa.bool_(),
    "lastmod": pa.timestamp("us"),
    "concepts": pa.list_(pa.string()),
    "published": pa.date32(),
    "line": pa.int32(),
}
# Per subject (chain:address), the sorted list of its tags' contents (all columns but the
# line), so one join tells added, removed and changed subjects apart.
_BY_SUBJECT = (
    "SELECT chain || ':' || coalesce(address, tx_hash) AS s, list_sort(list(CAST(ROW("
    + ", ".join(c for c in TAG_COLUMNS if c != "line")
    + ") AS VARCHAR))) AS c"
)
TAG_SELECT = ", ".join(TAG_COLUMNS) + ", tagpack"


def _arrow(ds: Dataset) -> pa.Table:
    columns = {
        name: pa.array(
            [getattr(t, name) for t in ds.tags], type=_ARROW_TYPES.get(name, pa.string())
        )
        for name in TAG_COLUMNS
    }
    columns["tagpack"] = pa.array([ds.tagpack] * len(ds.tags), type=pa.string())
    return pa.table(columns)


def save_dataset(con: duckdb.DuckDBPyConnection, ds: Dataset) -> ImportResult:
    """Replace the stored tags of `ds.tagpack` by `ds.tags`; report the differences."""
    new_tags = _arrow(ds)  # noqa: F841 (read by DuckDB's replacement scan below)
    with transaction(con):
        diff = con.execute(
            f"""WITH o AS ({_BY_SUBJECT} FROM tags WHERE tagpack = $p GROUP BY s),
                     n AS ({_BY_SUBJECT} FROM new_tags GROUP BY s)
                SELECT n.s, o.s FROM n FULL OUTER JOIN o ON n.s = o.s
                WHERE n.c IS DISTINCT FROM o.c ORDER BY coalesce(n.s, o.s)""",
            {"p": ds.tagpack},
        ).fetchall()
        con.execute("DELETE FROM tags WHERE tagpack = ?", [ds.tagpack])
        con.execute(f"INSERT INTO tags ({TAG_SELECT}) SELECT {TAG_SELECT} FROM new_tags")
        added = [new for new, old in diff if old is None]
        removed = [old for new, old in diff if new is None]
        changed = len(diff) - len(added) - len(removed)
        con.execute(
            "INSERT OR REPLACE INTO tag_imports (tagpack, kind, file, title, creator, published,"
            " tag_count, added, removed, changed, imported_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, current_timestamp)",
            [
                ds.tagpack,
                ds.kind,
                ds.file,
                ds.title,
                ds.creator,
                ds.published,
                len(ds.tags),
                len(added),
                len(removed),
                changed,
            ],
        )
    return ImportResult(
        file=ds.file,
        kind=ds.kind,
        tagpack=ds.tagpack,
        tags=len(ds.tags),
        added=len(added),
        removed=len(removed),
        changed=changed,
        warnings=ds.warnings,
        added_keys=added,
        removed_keys=removed,
    )


_FILTER = """($actor IS NULL OR actor = $actor) AND ($category IS NULL OR category = $category)
    AND ($chain IS NULL OR chain = $chain)"""


def list_tags(
    con: duckdb.DuckDBPyConnection,
    *,
    actor: str | None = None,
    category: str | None = None,
    chain: str | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Stored tags, optionally filtered, in a stable order (chain, subject, tagpack); the
    first `limit` of them if given (`count_tags` says how many match)."""
    cut = f" LIMIT {int(limit)}" if limit is not None else ""
    return rows(
        con,
        f"""SELECT {TAG_SELECT} FROM tags WHERE {_FILTER}
            ORDER BY chain, coalesce(address, tx_hash), tagpack, label, line{cut}""",
        {"actor": actor, "category": category, "chain": chain},
    )


def count_tags(
    con: duckdb.DuckDBPyConnection,
    *,
    actor: str | None = None,
    category: str | None = None,
    chain: str | None = None,
) -> int:
    """How many stored tags `list_tags` lists with these filters."""
    found = con.execute(
        f"SELECT count(*) FROM tags WHERE {_FILTER}",
        {"actor": actor, "category": category, "chain": chain},
    ).fetchall()
    return int(found[0][0])


def known_cases(con: duckdb.DuckDBPyConnection, lowered: list[str]) -> dict[str, set[str]]:
    """For lower-cased address strings, the differently-cased originals the store knows
    (in tags or in the address dictionary)."""
    wanted = pa.table({"low": pa.array(sorted(set(lowered)), type=pa.string())})  # noqa: F841
    found: dict[str, set[str]] = {}
    for low, original in con.execute(
        """SELECT w.low, k.address FROM wanted w JOIN (
               SELECT address FROM tags WHERE address IS NOT NULL
               UNION SELECT address FROM addresses) k ON lower(k.address) = w.low
           WHERE k.address <> w.low"""
    ).fetchall():
        found.setdefault(low, set()).add(original)
    return found
