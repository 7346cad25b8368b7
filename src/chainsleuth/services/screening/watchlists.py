"""Watchlists: addresses, entities or actors to watch, and the webhooks to tell."""

from __future__ import annotations

import secrets
from typing import Any

import duckdb

from chainsleuth.errors import InputError, NotFoundError
from chainsleuth.services.screening.engine import normalize_address

KINDS = ("address", "entity", "actor")


def _check_items(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    clean = []
    for i, item in enumerate(items):
        kind, value = item.get("kind"), str(item.get("value", "")).strip()
        if kind not in KINDS:
            raise InputError(f"items[{i}].kind: {kind!r} is not one of {', '.join(KINDS)}")
        if not value:
            raise InputError(f"items[{i}].value must not be empty")
        chain = item.get("chain")
        if kind != "actor":
            if chain is None:
                raise InputError(f"items[{i}].chain is required for kind {kind}")
            if kind == "address" or not value.startswith("cluster:"):
                value = normalize_address(str(chain), value)
        clean.append({"kind": kind, "chain": chain, "value": value, "note": item.get("note")})
    return clean


def create_watchlist(
    con: duckdb.DuckDBPyConnection, name: str, items: list[dict[str, Any]], webhooks: list[str]
) -> dict[str, Any]:
    """Create a watchlist; its webhook signing secret is returned once."""
    if not name.strip():
        raise InputError("name must not be empty")
    for url in webhooks:
        if not url.startswith(("http://", "https://")):
            raise InputError(f"webhook {url!r} is not an http(s) URL")
    clean = _check_items(items)
    wid = int(con.execute("SELECT nextval('watchlist_seq')").fetchall()[0][0])
    secret = secrets.token_hex(32)
    con.execute(
        "INSERT INTO watchlists (watchlist_id, name, webhooks, secret) VALUES (?, ?, ?, ?)",
        [wid, name, webhooks, secret],
    )
    _insert_items(con, wid, clean)
    return {**get_watchlist(con, wid), "secret": secret}


def _insert_items(con: duckdb.DuckDBPyConnection, wid: int, items: list[dict[str, Any]]) -> None:
    for item in items:
        con.execute(
            "INSERT INTO watchlist_items VALUES (?, ?, ?, ?, ?)",
            [wid, item["kind"], item["chain"], item["value"], item["note"]],
        )


def get_watchlist(con: duckdb.DuckDBPyConnection, wid: int) -> dict[str, Any]:
    """One watchlist with its items (never its secret)."""
    found = con.execute(
        "SELECT watchlist_id, name, webhooks, created_at FROM watchlists WHERE watchlist_id = ?",
        [wid],
    ).fetchall()
    if not found:
        raise NotFoundError(f"no watchlist {wid}")
    items = con.execute(
        "SELECT kind, chain, value, note FROM watchlist_items WHERE watchlist_id = ? ORDER BY ALL",
        [wid],
    ).fetchall()
    w = found[0]
    return {
        "watchlist_id": w[0],
        "name": w[1],
        "webhooks": w[2],
        "created_at": w[3],
        "items": [{"kind": k, "chain": c, "value": v, "note": n} for k, c, v, n in items],
    }


def list_watchlists(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """All watchlists."""
    ids = [r[0] for r in con.execute("SELECT watchlist_id FROM watchlists ORDER BY 1").fetchall()]
    return [get_watchlist(con, i) for i in ids]


def replace_items(
    con: duckdb.DuckDBPyConnection, wid: int, items: list[dict[str, Any]]
) -> dict[str, Any]:
    """Replace a watchlist's items."""
    get_watchlist(con, wid)
    clean = _check_items(items)
    con.execute("DELETE FROM watchlist_items WHERE watchlist_id = ?", [wid])
    _insert_items(con, wid, clean)
    return get_watchlist(con, wid)


def delete_watchlist(con: duckdb.DuckDBPyConnection, wid: int) -> None:
    """Delete a watchlist and its items (its past alerts stay)."""
    get_watchlist(con, wid)
    con.execute("DELETE FROM watchlist_items WHERE watchlist_id = ?", [wid])
    con.execute("DELETE FROM watchlists WHERE watchlist_id = ?", [wid])


def watched_address_ids(con: duckdb.DuckDBPyConnection, chain: str) -> dict[int, list[int]]:
    """address_id -> watchlist ids watching it (entities and actors expanded to members)."""
    has_clusters = bool(
        con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'clusters'"
        ).fetchall()[0][0]
    )
    expand = (
        "SELECT DISTINCT s.watchlist_id, coalesce(m.address_id, s.address_id) AS address_id"
        " FROM seeds s LEFT JOIN clusters c ON c.chain = $chain AND c.address_id = s.address_id"
        " LEFT JOIN clusters m ON m.chain = $chain AND m.cluster_id = coalesce(c.cluster_id,"
        " s.cluster_id)"
        if has_clusters
        else "SELECT DISTINCT watchlist_id, address_id FROM seeds"
    )
    rows = con.execute(
        f"""
        WITH seeds AS (
            SELECT w.watchlist_id, a.address_id,
                   CASE WHEN w.value LIKE 'cluster:%' THEN try_cast(w.value[9:] AS BIGINT) END
                       AS cluster_id
            FROM watchlist_items w
            LEFT JOIN addresses a ON a.chain = $chain AND a.address = w.value
            WHERE w.kind IN ('address', 'entity') AND w.chain = $chain
            UNION ALL
            SELECT w.watchlist_id, a.address_id, NULL
            FROM watchlist_items w JOIN tags t ON t.actor = w.value AND t.chain = $chain
            JOIN addresses a ON a.chain = t.chain AND a.address = t.address
            WHERE w.kind = 'actor'
        )
        SELECT address_id, list(DISTINCT watchlist_id) FROM ({expand})
        WHERE address_id IS NOT NULL GROUP BY address_id
        """,
        {"chain": chain},
    ).fetchall()
    return {int(a): [int(w) for w in ws] for a, ws in rows}
