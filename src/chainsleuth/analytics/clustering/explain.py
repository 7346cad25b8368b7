"""What an entity is and why two addresses are in it: the views behind `chainsleuth entity`
(the evidence path is `evidence.link_path`)."""

from __future__ import annotations

from typing import Any

import duckdb

from chainsleuth.analytics.attribution.propagation import best_label, entity_tags
from chainsleuth.analytics.clustering.evidence import link_path
from chainsleuth.analytics.clustering.partition import resolve_cluster_id
from chainsleuth.analytics.clustering.window import first_row
from chainsleuth.errors import NotFoundError
from chainsleuth.store.account_queries import account_activity
from chainsleuth.store.addresses import address_id
from chainsleuth.store.queries import rows

SAMPLE = 10


def _cluster_of(con: duckdb.DuckDBPyConnection, chain: str, address: str) -> tuple[int, int]:
    """(address_id, cluster_id) of a stored, clustered address."""
    aid = address_id(con, chain, address)
    if aid is None:
        raise NotFoundError(f"{chain} address {address} is not in the store")
    row = first_row(
        con.execute(
            "SELECT cluster_id FROM clusters WHERE chain = ? AND address_id = ?", [chain, aid]
        )
    )
    if row is None:
        raise NotFoundError(
            f"{chain} address {address} is not clustered yet; run `chainsleuth cluster`"
        )
    return aid, int(row[0])


def _utxo_activity(con: duckdb.DuckDBPyConnection, chain: str, cid: int) -> dict[str, Any]:
    """Balance, received, transaction count and first/last activity of a UTXO-chain entity."""
    return rows(
        con,
        """
        WITH m AS (SELECT address_id FROM clusters WHERE chain = $chain AND cluster_id = $cid),
             o AS (SELECT o.* FROM outputs o JOIN m USING (address_id) WHERE o.chain = $chain),
             touched AS (SELECT tx_hash FROM o UNION SELECT spent_by FROM o
                         WHERE spent_by IS NOT NULL)
        SELECT (SELECT coalesce(sum(value), 0) FROM o WHERE spent_by IS NULL) AS balance,
               (SELECT coalesce(sum(value), 0) FROM o) AS received,
               (SELECT count(*) FROM touched) AS tx_count,
               (SELECT min(t.time) FROM txs t JOIN touched USING (tx_hash)
                WHERE t.chain = $chain) AS first_seen,
               (SELECT max(t.time) FROM txs t JOIN touched USING (tx_hash)
                WHERE t.chain = $chain) AS last_seen
        """,
        {"chain": chain, "cid": cid},
    )[0]


def entity_view(con: duckdb.DuckDBPyConnection, chain: str, address: str) -> dict[str, Any]:
    """Size, sample of members, activity, building heuristics and tags of an entity."""
    _, cid = _cluster_of(con, chain, address)
    p = {"chain": chain, "cid": cid}
    size = rows(
        con, "SELECT count(*) AS n FROM clusters WHERE chain = $chain AND cluster_id = $cid", p
    )[0]["n"]
    sample = rows(
        con,
        "SELECT a.address FROM clusters c JOIN addresses a USING (address_id)"
        " WHERE c.chain = $chain AND c.cluster_id = $cid AND a.chain = $chain"
        f" ORDER BY c.address_id LIMIT {SAMPLE}",
        p,
    )
    built_by = rows(
        con,
        "SELECT l.heuristic, count(*) AS links,"
        " count(DISTINCT (l.block_height, l.tx_position)) AS txs"
        " FROM cluster_links l JOIN clusters c"
        "   ON c.chain = l.chain AND c.address_id = l.address_id_a"
        " WHERE l.chain = $chain AND c.cluster_id = $cid GROUP BY l.heuristic ORDER BY 1",
        p,
    )
    view: dict[str, Any] = {"chain": chain, "address": address, "cluster_id": cid, "size": size}
    if chain == "ethereum":
        members = "SELECT address_id FROM clusters WHERE chain = $chain AND cluster_id = $cid"
        view.update(account_activity(con, members, p))
    else:
        view.update(_utxo_activity(con, chain, cid))
    view["sample"] = [r["address"] for r in sample]
    view["heuristics"] = built_by
    tags = entity_tags(con, chain, cid)
    best = best_label(tags)
    view["label"] = None if best is None else {k: v for k, v in best.items() if k != "tags"}
    view["tags"] = tags
    return view


def entity_of_id(con: duckdb.DuckDBPyConnection, chain: str, cluster_id: int) -> dict[str, Any]:
    """`entity_view` of the cluster an id ever issued names now: a cluster id is its
    smallest member's address id, so a merged-away id still leads to its entity."""
    current = resolve_cluster_id(con, chain, cluster_id)
    if current is None:
        raise NotFoundError(f"{chain} cluster id {cluster_id} was never issued")
    found = first_row(
        con.execute(
            "SELECT address FROM addresses WHERE chain = ? AND address_id = ?", [chain, current]
        )
    )
    assert found is not None  # a cluster id is a stored address's id
    view = entity_view(con, chain, str(found[0]))
    view["resolved_from"] = cluster_id
    return view


def why(con: duckdb.DuckDBPyConnection, chain: str, address: str, other: str) -> dict[str, Any]:
    """The shortest chain of links (heuristic, evidence tx) joining two addresses."""
    a, cid = _cluster_of(con, chain, address)
    b, other_cid = _cluster_of(con, chain, other)
    result: dict[str, Any] = {"address": address, "other": other, "cluster_id": cid}
    if cid != other_cid:
        result.update(same_entity=False, other_cluster_id=other_cid, path=[])
        return result
    result.update(same_entity=True, path=link_path(con, chain, cid, a, b))
    return result
