"""Benchmark: address clustering on a simulated Bitcoin chain.

    python -m bench.cluster [--txs N] [--work DIR] [--incremental-blocks 1000] [--nx-txs M]
    python -m bench.cluster --store STORE [--truth TRUTH] [--work DIR] ...

Simulates N transactions (cached in DIR), ingests all but the last blocks, clusters
(default heuristics, CoinJoin detection included), ingests the rest and clusters
incrementally, then recomputes in full, each of these two runs in a fresh process as
`chainsleuth cluster` makes it (wall time, CPU time, peak RSS).
With `--store`, a copy of an already ingested store stands in for the simulation and
ingestion: its last blocks are hidden from `blocks` (so clustering stops before them)
for the first run and shown again before the incremental one.
On the full run's edge list it times our union-find against
`scipy.sparse.csgraph.connected_components` (timed alternately, medians of 5) and
networkx on the links of the first M transactions, measures the union-find's memory per
address and per link (tracemalloc), and scores the standard heuristic sets against the
simulator's truth with and without CoinJoin detection. Prints one JSON object; figures go
to bench/RESULTS.md by hand.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from bench.common import peak_mb
from chainsleuth.analytics.clustering.ablation import evaluate_store, load_truth, standard_sets
from chainsleuth.analytics.clustering.engine import MEMORY_LIMIT, run
from chainsleuth.analytics.clustering.heuristics import defaults
from chainsleuth.analytics.clustering.partition import load
from chainsleuth.analytics.clustering.unionfind import DisjointSets
from chainsleuth.ingest.bitcoin_etl import ingest_etl
from chainsleuth.ingest.common import IngestOptions
from chainsleuth.sim.bitcoin import simulate_bitcoin
from chainsleuth.sim.config import SimConfig
from chainsleuth.store.db import connect, limit_memory


def median_seconds(fn: Callable[[], object], repeats: int = 3) -> float:
    """Median wall time of `fn` over `repeats` calls."""
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        fn()
        times.append(time.perf_counter() - began)
    return round(statistics.median(times), 3)


def interleaved(
    first: Callable[[], object], second: Callable[[], object], rounds: int = 5
) -> tuple[float, float]:
    """Medians of `first` and `second` timed alternately (a shared machine's load drifts)."""
    pairs = [(median_seconds(first, 1), median_seconds(second, 1)) for _ in range(rounds)]
    return (
        round(statistics.median(p[0] for p in pairs), 3),
        round(statistics.median(p[1] for p in pairs), 3),
    )


def simulate(work: Path, txs: int) -> tuple[Path, int]:
    """The simulated ETL folder (made once per size) and its block count."""
    folder = work / f"sim-{txs}"
    done = folder / "summary.json"
    if not done.exists():
        folder.mkdir(parents=True, exist_ok=True)
        summary = simulate_bitcoin(folder, SimConfig(txs=txs, seed=1))
        done.write_text(json.dumps(summary.__dict__))
    return folder, int(json.loads(done.read_text())["blocks"])


def child_run(db: Path, full: bool) -> dict[str, Any]:
    """Child process: a run of the default set as `chainsleuth cluster` makes it (a fresh
    process opening the store, DuckDB capped): a full recompute, or incremental; its wall
    and CPU time and peak RSS."""
    con = connect(db)
    limit_memory(con, MEMORY_LIMIT)  # as `chainsleuth cluster` does by default
    began, cpu = time.perf_counter(), time.process_time()
    summary = run(con, "bitcoin", defaults("bitcoin"), full=full)
    seconds, cpu = time.perf_counter() - began, time.process_time() - cpu
    con.close()
    return {
        "mode": summary.mode,
        "seconds": round(seconds, 3),
        "cpu_seconds": round(cpu, 3),
        "load_average": os.getloadavg(),
        "peak_rss_mb": peak_mb(),
        "links": summary.links,
        "coinjoins": summary.coinjoins,
        "addresses": summary.addresses,
        "clusters": summary.clusters,
    }


def in_child(flag: str, db: Path) -> dict[str, Any]:
    """`child_run` in its own process (its own peak RSS, nothing cached from this one)."""
    child = subprocess.run(
        [sys.executable, "-m", "bench.cluster", flag, str(db)],
        check=True,
        capture_output=True,
        text=True,
    )
    found: dict[str, Any] = json.loads(child.stdout)
    return found


def edge_list(
    db: Path,
) -> tuple[int, np.ndarray[Any, Any], np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """(addresses, node a, node b, evidence height) of the stored links."""
    con = connect(db, read_only=True)
    stored = load(con, "bitcoin")
    links = con.sql(
        "SELECT address_id_a, address_id_b, block_height FROM cluster_links WHERE chain = 'bitcoin'"
    ).to_arrow_table()
    a = stored.index.nodes(links.column(0).to_numpy().astype(np.int64))
    b = stored.index.nodes(links.column(1).to_numpy().astype(np.int64))
    return len(stored.index), a, b, links.column(2).to_numpy()


def versus(n: int, a: np.ndarray[Any, Any], b: np.ndarray[Any, Any]) -> dict[str, Any]:
    """Our union-find against SciPy's connected components on the same edges."""

    def scipy_cc() -> object:
        graph = csr_matrix((np.ones(a.size, np.int8), (a, b)), shape=(n, n))
        return connected_components(graph, directed=False)

    def ours() -> object:
        return DisjointSets.singletons(n).union(a, b)

    ours_s, scipy_s = interleaved(ours, scipy_cc)
    sets = DisjointSets.singletons(n)
    sets.union(a, b)
    count, _ = connected_components(
        csr_matrix((np.ones(a.size, np.int8), (a, b)), shape=(n, n)), directed=False
    )
    assert sets.components() == count
    peak, doubled = union_peak(n, a, b), union_peak(2 * n, a, b)
    per_address = (doubled - peak) / n
    return {
        "addresses": n,
        "edges": int(a.size),
        "ours_s": ours_s,
        "scipy_s": scipy_s,
        "ratio": round(ours_s / scipy_s, 2),
        "union_peak_bytes": peak,
        "union_bytes_per_address": round(per_address, 2),
        "union_bytes_per_edge": round((peak - per_address * n) / a.size, 2),
        "state_bytes_per_address": sets.labels.itemsize,
    }


def union_peak(n: int, a: np.ndarray[Any, Any], b: np.ndarray[Any, Any]) -> int:
    """Peak bytes traced while merging the edges into n singletons (labels included)."""
    tracemalloc.start()
    DisjointSets.singletons(n).union(a, b)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return int(peak)


def versus_networkx(n: int, a: np.ndarray[Any, Any], b: np.ndarray[Any, Any]) -> dict[str, Any]:
    """networkx (graph built from the edge list, then components) against our union-find."""
    import networkx as nx

    def by_hand() -> object:
        graph = nx.Graph()
        graph.add_nodes_from(range(n))
        graph.add_edges_from(zip(a.tolist(), b.tolist(), strict=True))
        return sum(1 for _ in nx.connected_components(graph))

    nx_s = median_seconds(by_hand, repeats=1)
    ours_s = median_seconds(lambda: DisjointSets.singletons(n).union(a, b))
    return {
        "edges": int(a.size),
        "networkx_s": nx_s,
        "ours_s": ours_s,
        "speedup": round(nx_s / max(ours_s, 1e-9), 1),
    }


def accuracy(db: Path, truth_file: Path) -> dict[str, Any]:
    """`eval clustering`'s standard sets, with and without CoinJoin detection."""
    con = connect(db)
    truth = load_truth(truth_file)
    sets = standard_sets("bitcoin")
    report = evaluate_store(con, "bitcoin", truth, sets)
    blind = evaluate_store(con, "bitcoin", truth, sets, coinjoin_detection=False)
    report["without_coinjoin_detection"] = blind["sets"]
    con.close()
    return report


def main() -> None:
    """Run every measurement and print the figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--txs", type=int, default=200_000)
    parser.add_argument("--work", type=Path, default=Path("/tmp/chainsleuth-bench-cluster"))
    parser.add_argument("--incremental-blocks", type=int, default=1000)
    parser.add_argument("--nx-txs", type=int, default=1_000_000)
    parser.add_argument("--store", type=Path, help="an ingested store to copy (no simulation)")
    parser.add_argument("--truth", type=Path, help="truth.json of --store (accuracy part)")
    parser.add_argument("--child-full-run", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--child-incremental-run", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(sys.argv[1:] if __name__ == "__main__" else [])
    if args.child_full_run or args.child_incremental_run:
        whole = args.child_full_run is not None
        print(json.dumps(child_run(args.child_full_run or args.child_incremental_run, whole)))
        return
    args.work.mkdir(parents=True, exist_ok=True)
    if args.store:
        db, truth = args.work / "store-copy.duckdb", args.truth
        shutil.copyfile(args.store, db)
        con = connect(db)
        blocks = int(con.execute("SELECT count(*) FROM blocks").fetchall()[0][0])
        tail = min(args.incremental_blocks, blocks // 2)
        simulated = ingested = 0.0
        con.execute(
            "CREATE TABLE _bench_hidden AS SELECT * FROM blocks WHERE height >= ?",
            [blocks - tail],
        )
        con.execute("DELETE FROM blocks WHERE height >= ?", [blocks - tail])
        first = run(con, "bitcoin", defaults("bitcoin"))
        con.execute("INSERT INTO blocks SELECT * FROM _bench_hidden")
        con.execute("DROP TABLE _bench_hidden")
    else:
        began = time.perf_counter()
        folder, blocks = simulate(args.work, args.txs)
        simulated = time.perf_counter() - began
        db, truth = args.work / f"store-{args.txs}.duckdb", folder / "truth.json"
        db.unlink(missing_ok=True)
        tail = min(args.incremental_blocks, blocks // 2)
        con = connect(db)
        began = time.perf_counter()
        ingest_etl(con, str(folder), IngestOptions(end=blocks - tail - 1))
        first = run(con, "bitcoin", defaults("bitcoin"))
        ingest_etl(con, str(folder), IngestOptions(start=blocks - tail))
        ingested = time.perf_counter() - began - first.seconds
    con.close()
    incremental = in_child("--child-incremental-run", db)
    con = connect(db, read_only=True)
    txs_tail = con.execute(
        "SELECT count(*) FROM txs WHERE chain = 'bitcoin' AND block_height >= ?", [blocks - tail]
    ).fetchall()[0][0]
    inc_clusters = con.execute(
        "SELECT address_id, cluster_id FROM clusters ORDER BY address_id"
    ).fetchall()
    con.close()
    full = in_child("--child-full-run", db)
    con = connect(db, read_only=True)
    same = (
        inc_clusters
        == con.execute("SELECT address_id, cluster_id FROM clusters ORDER BY address_id").fetchall()
    )
    tx_heights = (
        con.sql("SELECT block_height FROM txs WHERE chain = 'bitcoin' ORDER BY block_height")
        .to_arrow_table()
        .column(0)
        .to_numpy()
    )
    con.close()
    n, a, b, heights = edge_list(db)
    subset = heights <= tx_heights[min(args.nx_txs, tx_heights.size) - 1]
    report: dict[str, Any] = {
        "txs": int(tx_heights.size),
        "blocks": blocks,
        "load_average": os.getloadavg(),
        "simulate_s": round(simulated, 1),
        "ingest_s": round(ingested, 1),
        "first_run": {"mode": first.mode, "seconds": first.seconds},
        "incremental": {"blocks": tail, "txs": int(txs_tail), **incremental, "equals_full": same},
        "full": full,
        "scipy": versus(n, a, b),
        "networkx": {
            "txs": int(min(args.nx_txs, tx_heights.size)),
            **versus_networkx(n, a[subset], b[subset]),
        },
    }
    # The whole run (reading the store, CoinJoin detection, links, union-find, writing)
    # against SciPy's components of the finished edge list alone.
    report["scipy"]["whole_run_ratio"] = round(full["seconds"] / report["scipy"]["scipy_s"], 1)
    if truth is not None:
        report["accuracy"] = accuracy(db, truth)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
