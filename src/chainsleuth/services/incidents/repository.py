"""Incidents in the store: import (idempotent, all-or-nothing), list with filters, show one.

Read commands work on the store's incidents; a store with none falls back to the curated
database shipped in the package, loaded into an in-memory store (`incident_store`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import duckdb

from chainsleuth.errors import NotFoundError
from chainsleuth.services.incidents.loader import load_packaged
from chainsleuth.services.incidents.model import Incident
from chainsleuth.services.incidents.valuation import daily_close_values
from chainsleuth.store.db import connect, transaction

INSERTS = {
    "incidents": (
        "INSERT INTO incidents (incident_id, name, date, date_precision, victim_name,"
        " victim_type, victim_country, usd_value, valuation, valuation_note, actor, confidence,"
        " attributed_by, disputed, attribution_note, notes, source_file) VALUES ",
        "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    ),
    "incident_assets": (
        "INSERT INTO incident_assets VALUES ",
        "(?, ?, ?, ?, ?, ?::HUGEINT, ?)",
    ),
    "incident_seeds": ("INSERT OR IGNORE INTO incident_seeds VALUES ", "(?, ?, ?, ?, ?)"),
    "incident_sources": ("INSERT INTO incident_sources VALUES ", "(?, ?, ?)"),
}
"""Per table: the INSERT head and one row's placeholders (all rows go in one statement)."""


def import_incidents(
    con: duckdb.DuckDBPyConnection, incidents: Sequence[Incident], source_file: str
) -> int:
    """Insert or replace `incidents` in one transaction; return how many were written."""
    rows: dict[str, list[list[Any]]] = {table: [] for table in INSERTS}
    for inc in incidents:
        for table, found in _rows_of(inc, f"{source_file}/{inc.id}.yaml").items():
            rows[table].extend(found)
    ids = [i.id for i in incidents]
    with transaction(con):
        for table in INSERTS:
            con.execute(f"DELETE FROM {table} WHERE incident_id IN (SELECT unnest(?))", [ids])
        for table, (head, row) in INSERTS.items():
            if rows[table]:
                params = [value for found in rows[table] for value in found]
                con.execute(head + ", ".join([row] * len(rows[table])), params)
    return len(incidents)


def _rows_of(inc: Incident, source_file: str) -> dict[str, list[list[Any]]]:
    """The rows of each incident table for one incident."""
    a = inc.attribution
    seeds: list[list[Any]]
    seeds = [[inc.id, s.chain, "address", s.address, s.role] for s in inc.seeds.addresses]
    seeds += [[inc.id, t.chain, "txid", t.txid, None] for t in inc.seeds.txids]
    return {
        "incidents": [
            [
                inc.id, inc.name, inc.date, inc.date_precision.value, inc.victim.name,
                inc.victim.type.value, inc.victim.country, inc.usd_value, inc.valuation.value,
                inc.valuation_note, a.actor, a.confidence.value, a.attributed_by, a.disputed,
                a.note, inc.notes, source_file,
            ]
        ],
        "incident_assets": [
            [
                inc.id, pos, asset.chain, asset.asset,
                None if asset.amount is None else format(asset.amount, "f"),
                None if asset.base_units is None else str(asset.base_units),
                asset.resolved_decimals,
            ]
            for pos, asset in enumerate(inc.assets)
        ],
        "incident_seeds": seeds,
        "incident_sources": [[inc.id, pos, source] for pos, source in enumerate(inc.sources)],
    }  # fmt: skip


def incident_count(con: duckdb.DuckDBPyConnection) -> int:
    """How many incidents the store holds."""
    row = con.execute("SELECT count(*) FROM incidents").fetchone()
    return int(row[0]) if row else 0


@contextmanager
def incident_store(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """`con` if it holds incidents, else an in-memory store with the packaged database."""
    if incident_count(con):
        yield con
        return
    memory = connect(":memory:")
    try:
        import_incidents(memory, load_packaged(), "chainsleuth/data/incidents")
        yield memory
    finally:
        memory.close()


def _rows(cursor: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    names = [d[0] for d in cursor.description or []]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def list_incidents(
    con: duckdb.DuckDBPyConnection,
    *,
    actor: str | None = None,
    country: str | None = None,
    year: int | None = None,
) -> list[dict[str, Any]]:
    """Incidents by date; `actor` matches case-insensitively as a substring."""
    return _rows(
        con.execute(
            "SELECT incident_id AS id, date, name, victim_country AS country, victim_type,"
            " usd_value, actor, confidence, disputed FROM incidents"
            " WHERE (?::VARCHAR IS NULL OR actor ILIKE '%' || ? || '%')"
            " AND (?::VARCHAR IS NULL OR victim_country = upper(?))"
            " AND (?::INTEGER IS NULL OR year(date) = ?)"
            " ORDER BY date, incident_id",
            [actor, actor, country, country, year, year],
        )
    )


def show_incident(con: duckdb.DuckDBPyConnection, incident_id: str) -> dict[str, Any]:
    """One incident with its assets, seeds and sources; NotFoundError when unknown."""
    found = _rows(
        con.execute(
            "SELECT incident_id AS id, name, date, date_precision, victim_name, victim_type,"
            " victim_country, usd_value, valuation, valuation_note, actor, confidence,"
            " attributed_by, disputed, attribution_note, notes, source_file"
            " FROM incidents WHERE incident_id = ?",
            [incident_id],
        )
    )
    if not found:
        raise NotFoundError(f"incident {incident_id!r} is not in the incident database")
    record = found[0]
    record["usd_at_daily_close"] = daily_close_values(con, [incident_id]).get(incident_id)
    record["assets"] = _rows(
        con.execute(
            "SELECT chain, asset, amount, amount_base, decimals FROM incident_assets"
            " WHERE incident_id = ? ORDER BY position",
            [incident_id],
        )
    )
    record["seeds"] = _rows(
        con.execute(
            "SELECT chain, kind, value, role FROM incident_seeds WHERE incident_id = ?"
            " ORDER BY kind, chain, value",
            [incident_id],
        )
    )
    record["sources"] = _rows(
        con.execute(
            "SELECT source FROM incident_sources WHERE incident_id = ? ORDER BY position",
            [incident_id],
        )
    )
    return record
