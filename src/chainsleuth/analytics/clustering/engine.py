"""The embedded clustering job: links for new blocks, union-find, stable ids, state.

A run reads only the blocks after the last clustered one when the heuristics are the same,
that block is still on the chain and no block was stored below it since; otherwise (first
run, other heuristics, a reorg below the clustered tip, a gap filled below it, or
`full=True`) it rebuilds the links from genesis. Either way the
partition written is the one a full recompute gives (each link depends only on its
transaction and the chain before it), and ids follow `partition`'s rules.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import duckdb
import numpy as np
import numpy.typing as npt

from chainsleuth.analytics.clustering import partition
from chainsleuth.analytics.clustering.heuristics import incremental
from chainsleuth.analytics.clustering.links import make_links
from chainsleuth.analytics.clustering.unionfind import DisjointSets
from chainsleuth.analytics.clustering.window import Window, first_row
from chainsleuth.errors import NotFoundError
from chainsleuth.store.db import transaction

Step = Callable[[str], None]
Ids = npt.NDArray[np.int64]
EDGE_BATCH = 5_000_000
"""Links held before a union-find batch: each batch ends with a pass over every address,
so chunks' links are merged together, up to this many (80 MB of address ids; a full run
holding all 13.9M links of a 10M-transaction chain peaked 0.5 GB higher)."""
MEMORY_LIMIT = "1GB"
"""DuckDB's memory cap for `chainsleuth cluster` by default: the heuristics' arrays and the
union-find live outside DuckDB (about 1.7 GB at 10M transactions), so DuckDB gets less than
ingestion does; at 10M transactions the whole job then peaks at 2.4–3.6 GB (bench/RESULTS.md)."""
STEPS = ("making links", "writing clusters")
"""What `run` reports through its `step` callback, in order (some may be skipped)."""


@dataclass
class RunSummary:
    """What one clustering run did."""

    chain: str
    mode: str  # full, incremental or unchanged
    heuristics: list[str]
    from_height: int | None
    to_height: int | None
    links: int = 0
    coinjoins: int = 0
    addresses: int = 0
    clusters: int = 0
    merges_logged: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)


def chain_span(con: duckdb.DuckDBPyConnection, chain: str) -> tuple[int, int, str]:
    row = first_row(
        con.execute(
            "SELECT min(height), max(height), arg_max(hash, height) FROM blocks WHERE chain = ?",
            [chain],
        )
    )
    if row is None or row[0] is None:
        raise NotFoundError(f"no {chain} blocks in the store; ingest some first")
    return int(row[0]), int(row[1]), str(row[2])


def _resume_height(con: duckdb.DuckDBPyConnection, chain: str, key: str) -> int | None:
    """The last clustered height if an incremental run can continue from it, else None:
    that block is still on the chain and no block was stored below it since."""
    row = first_row(
        con.execute(
            "SELECT s.last_height FROM cluster_state s JOIN blocks b"
            " ON b.chain = s.chain AND b.height = s.last_height AND b.hash = s.last_hash"
            " WHERE s.chain = ? AND s.heuristics = ? AND s.blocks = (SELECT count(*)"
            " FROM blocks c WHERE c.chain = s.chain AND c.height <= s.last_height)",
            [chain, key],
        )
    )
    return int(row[0]) if row else None


def forget(con: duckdb.DuckDBPyConnection, chain: str, from_height: int) -> None:
    for table in ("cluster_links", "coinjoin_txs", "premix_txs"):
        con.execute(
            f"DELETE FROM {table} WHERE chain = ? AND block_height >= ?", [chain, from_height]
        )


def run(
    con: duckdb.DuckDBPyConnection,
    chain: str,
    names: list[str],
    *,
    full: bool = False,
    step: Step | None = None,
) -> RunSummary:
    """Cluster `chain` with the heuristics `names` (validated by `heuristics.resolve`)."""
    started = time.perf_counter()
    say = step or (lambda _msg: None)
    first, tip, tip_hash = chain_span(con, chain)
    key = ",".join(sorted(names))
    resume = None if full or not incremental(names) else _resume_height(con, chain, key)
    lo = first if resume is None else resume + 1
    summary = RunSummary(chain, "full" if resume is None else "incremental", sorted(names), lo, tip)
    if lo > tip:
        summary.mode, summary.from_height = "unchanged", None
    with transaction(con):
        w = Window(chain, lo, tip)
        forget(con, chain, lo)
        stored = partition.load(con, chain)
        sets = (
            DisjointSets.singletons(len(stored.index))
            if resume is None
            else DisjointSets(stored.labels.copy())
        )
        if lo <= tip:
            say("making links")
            pending: list[tuple[Ids, Ids]] = []
            held = 0
            for made in make_links(con, w, names):
                summary.links += made.links
                summary.coinjoins += made.coinjoins
                pending.append((made.a, made.b))
                held += made.links
                if held >= EDGE_BATCH:
                    _merge(sets, stored, pending)
                    held = 0
            _merge(sets, stored, pending)
        say("writing clusters")
        commit(con, summary, stored, sets, tip_hash)
    summary.seconds = round(time.perf_counter() - started, 3)
    return summary


def _merge(sets: DisjointSets, stored: partition.Stored, pending: list[tuple[Ids, Ids]]) -> None:
    """Merge the held links (address ids) into `sets` in one batch, and forget them."""
    if pending:
        a = np.concatenate([p[0] for p in pending])
        b = np.concatenate([p[1] for p in pending])
        pending.clear()
        sets.union(stored.index.nodes(a), stored.index.nodes(b))


def commit(
    con: duckdb.DuckDBPyConnection,
    summary: RunSummary,
    stored: partition.Stored,
    sets: DisjointSets,
    tip_hash: str,
) -> None:
    """Write the partition over the stored one and record what the run covered."""
    summary.merges_logged = partition.save(con, summary.chain, stored, sets, summary.to_height)
    summary.addresses = sets.size
    summary.clusters = sets.components()
    con.execute(
        "INSERT OR REPLACE INTO cluster_state (chain, heuristics, last_height, last_hash,"
        " addresses, clusters, blocks, updated_at) VALUES ($chain, $h, $last, $hash, $a, $c,"
        " (SELECT count(*) FROM blocks WHERE chain = $chain AND height <= $last),"
        " current_timestamp)",
        {
            "chain": summary.chain,
            "h": ",".join(summary.heuristics),
            "last": summary.to_height,
            "hash": tip_hash,
            "a": summary.addresses,
            "c": summary.clusters,
        },
    )
