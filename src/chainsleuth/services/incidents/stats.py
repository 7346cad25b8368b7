"""Aggregates of the incident database by year, victim country, actor or victim type.

Computed in SQL over the `incidents` table. An incident without a USD value counts as an
incident and adds nothing to `stolen_usd`; `valued` says how many of them had a value.
Victims of unknown country are grouped under `unknown`.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Any

import duckdb

from chainsleuth.errors import InputError


class GroupBy(StrEnum):
    """The dimensions `incidents stats --by` accepts."""

    year = "year"
    country = "country"
    actor = "actor"
    victim_type = "victim-type"


_KEYS: dict[GroupBy, tuple[str, str]] = {
    GroupBy.year: ("year", "year(date)"),
    GroupBy.country: ("country", "coalesce(victim_country, 'unknown')"),
    GroupBy.actor: ("actor", "actor"),
    GroupBy.victim_type: ("victim_type", "victim_type"),
}


def year_filter(from_year: int | None, to_year: int | None) -> tuple[str, list[Any]]:
    """A WHERE clause (and its parameters) keeping incidents of the years in range."""
    if from_year is not None and to_year is not None and from_year > to_year:
        raise InputError(f"--from {from_year} is after --to {to_year}")
    return (
        "(?::INTEGER IS NULL OR year(date) >= ?) AND (?::INTEGER IS NULL OR year(date) <= ?)",
        [from_year, from_year, to_year, to_year],
    )


def aggregate(
    con: duckdb.DuckDBPyConnection,
    by: GroupBy,
    *,
    from_year: int | None = None,
    to_year: int | None = None,
    verified: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """One row per group: incidents, valued, stolen_usd, disputed_usd (whole USD), and how
    many incidents (`verified`) and dollars (`verified_usd`) rest on amounts confirmed by
    chain data (`verified`: the ids of such incidents, see `verify.verified_incidents`).

    Years come in order; other groups by stolen value, largest first.
    """
    name, expr = _KEYS[by]
    where, params = year_filter(from_year, to_year)
    order = "1" if by is GroupBy.year else "stolen_usd DESC, 1"
    cursor = con.execute(
        f"SELECT {expr} AS {name}, count(*) AS incidents, count(usd_value) AS valued,"
        " coalesce(sum(usd_value), 0)::HUGEINT AS stolen_usd,"
        " coalesce(sum(usd_value) FILTER (WHERE disputed), 0)::HUGEINT AS disputed_usd,"
        " count(*) FILTER (WHERE list_contains(?::VARCHAR[], incident_id)) AS verified,"
        " coalesce(sum(usd_value) FILTER (WHERE list_contains(?::VARCHAR[], incident_id)), 0)"
        "::HUGEINT AS verified_usd"
        f" FROM incidents WHERE {where} GROUP BY 1 ORDER BY {order}",
        [list(verified), list(verified), *params],
    )
    columns = [d[0] for d in cursor.description or []]
    return [
        {k: int(v) if k != name else v for k, v in zip(columns, row, strict=True)}
        for row in cursor.fetchall()
    ]


def totals_by_year_and(con: duckdb.DuckDBPyConnection, by: GroupBy) -> list[tuple[int, str, int]]:
    """(year, group, stolen_usd) for every pair with incidents: the data of stacked charts."""
    expr = _KEYS[by][1]
    rows = con.execute(
        f"SELECT year(date), {expr}, coalesce(sum(usd_value), 0)::HUGEINT"
        " FROM incidents GROUP BY 1, 2 ORDER BY 1, 2"
    ).fetchall()
    return [(int(y), str(g), int(v)) for y, g, v in rows]
