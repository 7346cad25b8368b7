"""The evidence that joined two addresses: the shortest chain of cluster links between them.

Breadth-first search in SciPy over the cluster's links (integer ids), each hop named by
its two addresses, the heuristic and the evidence transaction. Links store that
transaction's place in the chain (height, position in the block); its hash is read from
`txs` for the hops shown only.
"""

from __future__ import annotations

from typing import Any

import duckdb
import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import breadth_first_order

from chainsleuth.store.queries import rows


def link_path(
    con: duckdb.DuckDBPyConnection, chain: str, cluster_id: int, a: int, b: int
) -> list[dict[str, Any]]:
    """The hops (step, from_address, to_address, heuristic, tx_hash, block_height) of a
    shortest chain of links from address id `a` to `b` in cluster `cluster_id`; empty when
    a == b or when no chain of the cluster's links joins them."""
    links = con.sql(
        "SELECT l.address_id_a, l.address_id_b FROM cluster_links l JOIN clusters c"
        " ON c.chain = l.chain AND c.address_id = l.address_id_a"
        " WHERE l.chain = ? AND c.cluster_id = ?",
        params=[chain, cluster_id],
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
    if pred[target] < 0:
        return []
    at = target
    while at != source:
        prev = int(pred[at])
        hops.append((int(nodes[prev]), int(nodes[at])))
        at = prev
    hops.reverse()
    return [{"step": step, **_hop(con, chain, x, y)} for step, (x, y) in enumerate(hops, 1)]


def _hop(con: duckdb.DuckDBPyConnection, chain: str, x: int, y: int) -> dict[str, Any]:
    """One link between address ids x and y (the earliest), with its evidence's hash."""
    return rows(
        con,
        """
        SELECT fa.address AS from_address, ta.address AS to_address, l.heuristic,
               t.tx_hash, l.block_height
        FROM cluster_links l
        JOIN addresses fa ON fa.address_id = $x JOIN addresses ta ON ta.address_id = $y
        LEFT JOIN txs t ON t.chain = l.chain AND t.block_height = l.block_height
                       AND t.position = l.tx_position
        WHERE l.chain = $chain AND ((l.address_id_a = $x AND l.address_id_b = $y)
                                 OR (l.address_id_a = $y AND l.address_id_b = $x))
        ORDER BY l.block_height, l.heuristic, l.tx_position LIMIT 1
        """,
        {"chain": chain, "x": x, "y": y},
    )[0]
