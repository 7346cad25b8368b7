"""Indirect exposure of every address to risky entities, computed for a whole chain at once.

Haircut propagation (taint shared in proportion to value, Möser et al. 2014) from the coins
of every entity carrying a risk concept (sanction, perpetrator, mixing, ...), hop by hop,
with NumPy over integer arrays: per hop one weighted bincount into transactions and one
gather back out to their outputs. Custodial services (exchanges and the like) absorb taint
instead of passing it on, as they pool customers' funds. What is stored is policy-free —
the tainted value each address received per concept and hop, and everything it received
— so a new risk policy re-scores without recomputing (`score.py`).
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from chainsleuth.analytics.tracing.endpoints import CUSTODIAL
from chainsleuth.store.db import transaction

#: Concepts (GraphSense taxonomy ids) that make an entity a risk source.
RISK_CONCEPTS = (
    "sanction",
    "sanctioned",
    "perpetrator",
    "service_hack",
    "ransomware",
    "money_laundering",
    "scam",
    "phishing",
    "extortion",
    "dark_web",
    "terrorism",
    "mixing_service",
    "mixing",
    "coinjoin",
    "financial_crime",
    "gambling",
)


@dataclass(frozen=True)
class ExposureRun:
    """What one computation covered."""

    chain: str
    hops: int
    coins: int
    risky_addresses: int
    exposed_addresses: int


def load_risky(con: duckdb.DuckDBPyConnection, chain: str) -> int:
    """Fill `risky_addresses`: every address of an entity carrying a risk concept, with its tag.

    An entity is the address's cluster where clustering has run, else the address alone.
    The tag shown is the entity's highest-confidence tag for that concept.
    """
    has_clusters = bool(
        con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'clusters'"
        ).fetchall()[0][0]
    )
    entity = (
        "coalesce('cluster:' || c.cluster_id::VARCHAR, a.address)" if has_clusters else "a.address"
    )
    join = (
        "LEFT JOIN clusters c ON c.chain = a.chain AND c.address_id = a.address_id"
        if has_clusters
        else ""
    )
    con.execute("DELETE FROM risky_addresses WHERE chain = ?", [chain])
    con.execute(
        f"""
        INSERT INTO risky_addresses
        WITH ent AS (SELECT a.address_id, a.address, {entity} AS entity
                     FROM addresses a {join} WHERE a.chain = $chain),
        concepts AS (
            SELECT t.*, unnest(list_distinct(list_filter(
                [t.category, t.abuse, CASE WHEN t.programs IS NOT NULL THEN 'sanction' END],
                lambda x: list_contains($risk, x)))) AS concept
            FROM tags t WHERE t.chain = $chain AND t.address IS NOT NULL
        ),
        best AS (
            SELECT e.entity, c.concept,
                   arg_max(c.label, c.confidence_level) AS label,
                   arg_max(c.source, c.confidence_level) AS source,
                   arg_max(c.confidence, c.confidence_level) AS confidence,
                   max(c.confidence_level) AS confidence_level,
                   arg_max(c.address, c.confidence_level) AS tagged_address
            FROM concepts c JOIN ent e ON e.address = c.address
            GROUP BY e.entity, c.concept
        )
        SELECT $chain, e.address_id, b.concept, b.entity, b.label, b.source, b.confidence,
               b.confidence_level, b.tagged_address
        FROM best b JOIN ent e USING (entity)
        """,
        {"chain": chain, "risk": list(RISK_CONCEPTS)},
    )
    return int(
        con.execute("SELECT count(*) FROM risky_addresses WHERE chain = ?", [chain]).fetchall()[0][
            0
        ]
    )


def _coin_arrays(con: duckdb.DuckDBPyConnection, chain: str) -> dict[str, NDArray[np.int64]]:
    table = con.sql(
        """
        WITH tx AS MATERIALIZED (
            SELECT tx_hash, (row_number() OVER ()) - 1 AS idx FROM txs WHERE chain = $c
        )
        SELECT o.value, coalesce(o.address_id, -1) AS address_id, t1.idx AS tx,
               coalesce(t2.idx, -1) AS spent_tx
        FROM outputs o JOIN tx t1 ON t1.tx_hash = o.tx_hash
        LEFT JOIN tx t2 ON t2.tx_hash = o.spent_by
        WHERE o.chain = $c
        """,
        params={"c": chain},
    ).to_arrow_table()
    return {name: table.column(name).to_numpy().astype(np.int64) for name in table.column_names}


def _id_mask(ids: NDArray[np.int64], members: NDArray[np.int64]) -> NDArray[np.bool_]:
    return np.isin(ids, members, assume_unique=False)


def compute_exposures(con: duckdb.DuckDBPyConnection, chain: str, hops: int = 3) -> ExposureRun:
    """Recompute `risky_addresses` and `exposures` for `chain` (one transaction)."""
    with transaction(con):
        n_risky = load_risky(con, chain)
        coins = _coin_arrays(con, chain)
        value = coins["value"].astype(np.float64)
        addr, tx, spent = coins["address_id"], coins["tx"], coins["spent_tx"]
        n_tx = int(tx.max()) + 1 if len(tx) else 0
        spent_ok = spent >= 0
        in_total = np.bincount(spent[spent_ok], weights=value[spent_ok], minlength=n_tx)
        uniq, addr_idx = np.unique(addr, return_inverse=True)
        received = np.bincount(addr_idx, weights=value, minlength=len(uniq))
        custodial_ids = np.array(
            [
                r[0]
                for r in con.execute(
                    "SELECT DISTINCT a.address_id FROM tags t JOIN addresses a"
                    " ON a.chain = t.chain AND a.address = t.address"
                    " WHERE t.chain = ? AND list_contains(?, t.category)",
                    [chain, list(CUSTODIAL)],
                ).fetchall()
            ],
            dtype=np.int64,
        )
        passes = ~_id_mask(addr, custodial_ids)
        risky = con.execute(
            "SELECT concept, list(DISTINCT address_id) FROM risky_addresses WHERE chain = ?"
            " GROUP BY concept",
            [chain],
        ).fetchall()
        frames: list[pa.Table] = []
        for concept, members in risky:
            own = _id_mask(addr, np.array(members, dtype=np.int64))
            taint = np.where(own, value, 0.0)
            for hop in range(1, hops + 1):
                flowing = taint if hop == 1 else taint * passes
                moving = spent_ok & (flowing > 0)
                tx_taint = np.bincount(spent[moving], weights=flowing[moving], minlength=n_tx)
                share = np.divide(tx_taint, in_total, out=np.zeros(n_tx), where=in_total > 0)
                taint = value * share[tx]
                taint[own] = 0.0  # value returning to the risky entity is not exposure
                if not taint.any():
                    break
                per_addr = np.bincount(addr_idx, weights=taint, minlength=len(uniq))
                hit = np.flatnonzero((per_addr > 0) & (uniq >= 0))
                frames.append(
                    pa.table(
                        {
                            "address_id": uniq[hit],
                            "concept": np.full(len(hit), concept, dtype=object),
                            "hop": np.full(len(hit), hop, dtype=np.int32),
                            "tainted": per_addr[hit],
                            "received": received[hit].astype(np.int64),
                        }
                    )
                )
        con.execute("DELETE FROM exposures WHERE chain = ?", [chain])
        exposed = 0
        if frames:
            rows = pa.concat_tables(frames)
            con.register("_exposures", rows)
            con.execute(
                "INSERT INTO exposures SELECT ?, address_id, concept, hop, tainted, received"
                " FROM _exposures",
                [chain],
            )
            con.unregister("_exposures")
            exposed = len(np.unique(rows.column("address_id").to_numpy()))
        last = con.execute("SELECT max(height) FROM blocks WHERE chain = ?", [chain]).fetchall()
        con.execute(
            "INSERT OR REPLACE INTO exposure_runs (chain, hops, last_height, addresses,"
            " computed_at) VALUES (?, ?, ?, ?, current_timestamp)",
            [chain, hops, last[0][0], exposed],
        )
    return ExposureRun(chain, hops, len(value), n_risky, exposed)
