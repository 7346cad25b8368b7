"""Incidents re-valued at the daily close of their theft date, from the stored prices.

An incident is re-valued only when its date is known to the day and every asset it lists
has an exact amount and a price for that day; otherwise it has no daily-close value.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import ROUND_HALF_EVEN, Decimal

import duckdb

from chainsleuth.store.prices import value_usd


def daily_close_values(
    con: duckdb.DuckDBPyConnection, incident_ids: list[str] | None = None
) -> dict[str, int]:
    """Whole USD at the theft day's close, for each incident that can be re-valued."""
    rows = con.execute(
        "SELECT i.incident_id, i.date, a.asset, a.amount_base::VARCHAR, a.decimals"
        " FROM incidents i JOIN incident_assets a USING (incident_id)"
        " WHERE i.date_precision = 'day'"
        " AND (?::VARCHAR[] IS NULL OR list_contains(?::VARCHAR[], i.incident_id))",
        [incident_ids, incident_ids],
    ).fetchall()
    totals: dict[str, Decimal] = defaultdict(Decimal)
    unpriced: set[str] = set()
    for incident_id, day, asset, base, decimals in rows:
        value = None
        if asset is not None and base is not None and decimals is not None:
            value = value_usd(con, asset, int(base), int(decimals), day)
        if value is None:
            unpriced.add(incident_id)
        else:
            totals[incident_id] += value
    return {
        incident_id: int(total.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))
        for incident_id, total in totals.items()
        if incident_id not in unpriced
    }
