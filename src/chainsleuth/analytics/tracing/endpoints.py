"""Where a trace stops: entities tagged as services that custody funds.

A freeze request goes to a custodian (exchange, payment processor, custodial wallet,
gambling service, market, OTC desk), so those are a trace's cash-out endpoints. A mixing
service is one too: custodial mixers hold the funds, and a fixed-denomination mixing pool
breaks the link between deposits and withdrawals, so taint entering it is reported there. An
address is an endpoint when it, or any address of its cluster, carries a tag of one of
those categories; the entity's label is its best-supported one (highest confidence, then
most tags, then the first label alphabetically, so the choice is stable).
"""

from __future__ import annotations

import duckdb

from chainsleuth.analytics.tracing.result import Endpoint

CUSTODIAL = (
    "exchange",
    "payment_processor",
    "wallet_service",
    "gambling",
    "market",
    "otc",
    "mixing_service",
)


def _has_table(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    found = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name]
    ).fetchall()
    return bool(found[0][0])


def custodial_stops(
    con: duckdb.DuckDBPyConnection, chain: str, categories: tuple[str, ...] = CUSTODIAL
) -> dict[int, Endpoint]:
    """address_id -> Endpoint for every stored address of a custodial entity of `chain`."""
    if not _has_table(con, "tags"):
        return {}
    cats = list(categories)
    if _has_table(con, "clusters"):
        entity_of = (
            "SELECT a.address_id, coalesce('cluster:' || c.cluster_id::VARCHAR, a.address)"
            " AS entity FROM addresses a LEFT JOIN clusters c"
            " ON c.chain = a.chain AND c.address_id = a.address_id WHERE a.chain = $chain"
        )
    else:
        entity_of = "SELECT address_id, address AS entity FROM addresses WHERE chain = $chain"
    found = con.execute(
        f"""
        WITH ent AS ({entity_of}),
        tagged AS (
            SELECT e.entity, t.label, t.category, max(t.confidence_level) AS conf, count(*) AS n
            FROM tags t
            JOIN addresses a ON a.chain = t.chain AND a.address = t.address
            JOIN ent e ON e.address_id = a.address_id
            WHERE t.chain = $chain AND list_contains($cats, t.category)
            GROUP BY ALL
        ),
        best AS (
            SELECT entity, label, category FROM (
                SELECT *, row_number() OVER (
                    PARTITION BY entity ORDER BY conf DESC, n DESC, label) AS rank
                FROM tagged
            ) WHERE rank = 1
        )
        SELECT e.address_id, b.entity, b.label, b.category
        FROM best b JOIN ent e USING (entity)
        """,
        {"chain": chain, "cats": cats},
    ).fetchall()
    return {int(a): Endpoint(str(ent), str(label), str(cat)) for a, ent, label, cat in found}
