"""Reading and writing a chain's partition (`clusters`) as union-find arrays.

A cluster's id is its smallest address id, so ids depend only on the partition: a cluster
keeps its id as it grows (new addresses have larger ids), a merge keeps the older id, and
re-running on unchanged data gives the same ids. Any id ever issued still resolves: it is
a member address, and the cluster holding that address now is where it went. Merges of
clusters with two or more members are also logged in `cluster_aliases` with the height.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
import numpy.typing as npt
import pyarrow as pa

from chainsleuth.analytics.clustering.chainlet import member
from chainsleuth.analytics.clustering.dense import DenseIndex
from chainsleuth.analytics.clustering.unionfind import DisjointSets, IntArray
from chainsleuth.analytics.clustering.window import first_row

LOAD_BATCH = 1 << 22
"""Rows of `clusters` read per Arrow batch (the table is never materialised whole)."""


@dataclass
class Stored:
    """The stored partition over a chain's current addresses."""

    index: DenseIndex
    labels: IntArray
    known: npt.NDArray[np.bool_]  # node was in `clusters` already


def load(con: duckdb.DuckDBPyConnection, chain: str) -> Stored:
    """The chain's addresses with their stored clusters (addresses not yet clustered alone)."""
    index = DenseIndex.of_chain(con, chain)
    labels = DisjointSets.singletons(len(index)).labels
    known = np.zeros(len(index), dtype=np.bool_)
    stored = con.sql(
        "SELECT address_id, cluster_id FROM clusters WHERE chain = ?", params=[chain]
    ).to_arrow_reader(LOAD_BATCH)
    for batch in stored:
        nodes = index.nodes(batch.column(0).to_numpy().astype(np.int64))
        labels[nodes] = index.nodes(batch.column(1).to_numpy().astype(np.int64))
        known[nodes] = True
    return Stored(index, labels, known)


def save(
    con: duckdb.DuckDBPyConnection,
    chain: str,
    old: Stored,
    new: DisjointSets,
    height: int | None,
) -> int:
    """Write `new` over `old` (only rows that changed) and log merges; return merges logged."""
    index = old.index
    changed = new.labels != old.labels
    # Stored rows that changed are updated in place; addresses clustered for the first
    # time are appended (an update costs about half a delete plus an insert).
    for name, nodes in (
        ("_cluster_stale", np.flatnonzero(old.known & changed)),
        ("_cluster_new", np.flatnonzero(~old.known)),
    ):
        con.register(
            name,
            pa.table(
                {
                    "address_id": pa.array(index.address_ids(nodes)),
                    "cluster_id": pa.array(index.address_ids(new.labels[nodes])),
                }
            ),
        )
    con.execute(
        "UPDATE clusters SET cluster_id = s.cluster_id FROM _cluster_stale s"
        " WHERE clusters.chain = ? AND clusters.address_id = s.address_id",
        [chain],
    )
    con.execute(
        "INSERT INTO clusters SELECT ?, address_id, cluster_id FROM _cluster_new"
        " ORDER BY address_id",
        [chain],
    )
    con.unregister("_cluster_stale")
    con.unregister("_cluster_new")
    return _log_merges(con, chain, old, new, np.flatnonzero(changed), height)


def _log_merges(
    con: duckdb.DuckDBPyConnection,
    chain: str,
    old: Stored,
    new: DisjointSets,
    changed: npt.NDArray[np.int64],
    height: int | None,
) -> int:
    """Record multi-member stored clusters whose id vanished, and re-point older aliases.

    Labels are roots, so when a cluster merges away every member's label changes: both
    the vanished ids and their members are among the `changed` nodes, which is all this
    reads. No alias is a live cluster id after a save, so only ids that became live in
    this run (a recompute that split a cluster) can be aliases to drop."""
    before = old.labels[changed]
    was_root = before == changed
    members = before[old.known[changed] & ~was_root]  # of stored clusters that changed
    vanished = changed[was_root & member(changed, members, old.labels.size)]
    live = changed[new.labels[changed] == changed]
    index = old.index
    merged = pa.table(
        {
            "alias_id": pa.array(index.address_ids(vanished)),
            "cluster_id": pa.array(index.address_ids(new.labels[vanished])),
        }
    )
    con.register("_merged", merged)
    con.register("_live", pa.table({"cluster_id": pa.array(index.address_ids(live))}))
    con.execute(
        "UPDATE cluster_aliases SET cluster_id = m.cluster_id FROM _merged m"
        " WHERE cluster_aliases.chain = ? AND cluster_aliases.cluster_id = m.alias_id",
        [chain],
    )
    con.execute(
        "DELETE FROM cluster_aliases WHERE chain = ?"
        " AND alias_id IN (SELECT cluster_id FROM _live)",
        [chain],
    )
    con.execute(
        "INSERT INTO cluster_aliases (chain, alias_id, cluster_id, block_height)"
        " SELECT ?, alias_id, cluster_id, ? FROM _merged",
        [chain, height],
    )
    con.unregister("_merged")
    con.unregister("_live")
    return int(vanished.size)


def resolve_cluster_id(con: duckdb.DuckDBPyConnection, chain: str, cluster_id: int) -> int | None:
    """The current id of a cluster id ever issued (it names a member address), or None."""
    row = first_row(
        con.execute(
            "SELECT cluster_id FROM clusters WHERE chain = ? AND address_id = ?",
            [chain, cluster_id],
        )
    )
    return int(row[0]) if row else None
