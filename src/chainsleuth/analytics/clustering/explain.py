"""What an entity is and why two addresses are in it: the views behind `chainsleuth entity`.

The evidence path is a shortest path in the cluster's link graph (breadth-first search in
SciPy over the links' integer ids), each hop naming the heuristic and the transaction.
"""

from __future__ import annotations

from typing import Any

import duckdb
import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import breadth_first_order

from chainsleuth.analytics.attribution.propagation import entity_tags
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
        "SELECT l.heuristic, count(*) AS links, count(DISTINCT l.tx_hash) AS txs"
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
    view["tags"] = entity_tags(con, chain, cid)
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
    links = con.sql(
        "SELECT l.address_id_a, l.address_id_b FROM cluster_links l JOIN clusters c"
        " ON c.chain = l.chain AND c.address_id = l.address_id_a"
        " WHERE l.chain = ? AND c.cluster_id = ?",
        params=[chain, cid],
    ).to_arrow_table()
    ends = np.concatenate(
        [links.column(0).to_numpy(), links.column(1).to_numpy(), np.array([a, b])]
    ).astype(np.int64)
    nodes, inverse = np.unique(ends, return_inverse=True)
    m = links.num_rows
    graph = csr_matrix(
        (np.ones(m, dtype=np.int8), (inverse[:m], inverse[m : 2 * m])),
        shape=(nodes.size, nodes.size),
    )
    source, target = int(inverse[2 * m]), int(inverse[2 * m + 1])
    _, pred = breadth_first_order(graph, source, directed=False, return_predecessors=True)
    hops: list[tuple[int, int]] = []
    at = target
    while at != source:
        prev = int(pred[at])
        hops.append((int(nodes[prev]), int(nodes[at])))
        at = prev
    hops.reverse()
    result.update(same_entity=True, path=_describe(con, chain, hops))
    return result


def _describe(
    con: duckdb.DuckDBPyConnection, chain: str, hops: list[tuple[int, int]]
) -> list[dict[str, Any]]:
    """Each hop with both addresses, the heuristic and the evidence transaction."""
    described = []
    for step, (x, y) in enumerate(hops, start=1):
        link = rows(
            con,
            """
            SELECT fa.address AS from_address, ta.address AS to_address, l.heuristic,
                   l.tx_hash, l.block_height
            FROM cluster_links l
            JOIN addresses fa ON fa.address_id = $x JOIN addresses ta ON ta.address_id = $y
            WHERE l.chain = $chain AND ((l.address_id_a = $x AND l.address_id_b = $y)
                                     OR (l.address_id_a = $y AND l.address_id_b = $x))
            ORDER BY l.block_height, l.heuristic, l.tx_hash LIMIT 1
            """,
            {"chain": chain, "x": x, "y": y},
        )[0]
        described.append({"step": step, **link})
    return described
