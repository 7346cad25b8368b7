"""Benchmark: a 10-hop haircut trace from the theft seed, against networkx (issue 6).

    python -m bench.trace [--txs 10000000] [--repeats 5] [--hops 10]

Goals: under 2 s after the store is open, on a 10,000,000-transaction simulated chain;
at least 50x faster than a networkx trace of the same subgraph. Peak memory reported.

The store is built once and cached (`bench/common.py`: simulate, ingest, the simulated
services' tags). A first child process brings its tracing index (migration 007) up to
date, timed apart: a one-time cost per store, then per new block, tag import or clustering
run, which a trace on a writable store pays when it finds the index behind. Then each side
runs in its own child process (its own peak RSS), alternating, `--repeats` times, and the
medians are reported with the machine's load average:

- **chainsleuth**: `analytics.tracing.run.trace` from the seed transaction
  (truth.json `thefts[0].seed.txid`), haircut, `--max-hops`, custodial tagged services as
  endpoints — what `chainsleuth trace --model haircut --max-hops 10 --seed TXID` runs.
  Timed from the open (read-only) store to the finished result, index freshness checks
  included; also the hop loop alone (`trace_utxo`) and the first trace of each process.
- **networkx**: what a user writes by hand: load the same subgraph (the inputs and outputs
  of every transaction the trace reached within the hops, and the custodial addresses)
  from the same store in one query each, build a `networkx.DiGraph` (coin -> spending tx
  -> coin, values on the nodes) and propagate haircut taint over it in Python, hop by hop,
  stopping at custodial addresses. Timed as load + build + propagate, and apart.

The endpoint totals of both are compared (they must agree: same model, same graph).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from bench.common import WORK, build_store, load, peak_mb, rss_mb, run_module, theft_seed

CUSTODIAL = ("exchange", "payment_processor", "wallet_service", "gambling", "market", "otc")


def prepare(store: Path) -> dict[str, float]:
    """Bring the tracing index of the store up to date (writable), timed: a one-time cost
    per store (then per new block, tag import or clustering run), not part of a trace."""
    from chainsleuth.analytics.tracing import index
    from chainsleuth.analytics.tracing.endpoints import refresh_endpoints
    from chainsleuth.store.db import connect, limit_memory

    con = connect(store)
    limit_memory(con, index.INDEX_MEMORY_LIMIT)  # as `chainsleuth trace` does by default
    w, c = time.perf_counter(), time.process_time()
    index.ensure(con, "bitcoin")
    graph = (time.perf_counter() - w, time.process_time() - c)
    w, c = time.perf_counter(), time.process_time()
    refresh_endpoints(con, "bitcoin")
    ends = (time.perf_counter() - w, time.process_time() - c)
    con.close()
    return {
        "graph_wall_s": round(graph[0], 2),
        "graph_cpu_s": round(graph[1], 2),
        "endpoints_wall_s": round(ends[0], 2),
        "endpoints_cpu_s": round(ends[1], 2),
        "peak_mb": peak_mb(),
    }


def run_ours(
    store: Path, seed: str, hops: int, repeats: int, txs_out: Path | None
) -> dict[str, Any]:
    """Open the store, then trace `repeats` times; wall and CPU time of each."""
    import numpy as np
    import pyarrow as pa

    from chainsleuth.analytics.tracing import utxo
    from chainsleuth.analytics.tracing.hop_fetch import HopFetch
    from chainsleuth.analytics.tracing.run import trace
    from chainsleuth.analytics.tracing.utxo import TraceParams
    from chainsleuth.store.db import connect

    began = time.perf_counter()
    con = connect(store, read_only=True)
    open_s = time.perf_counter() - began
    rss_open = rss_mb()
    loop_s: list[float] = []
    original = utxo.trace_utxo
    seen: set[int] = set()

    def loop_timed(*args: Any, **kwargs: Any) -> Any:
        began = time.perf_counter()
        result = original(*args, **kwargs)
        loop_s.append(time.perf_counter() - began)  # the hop loop
        return result

    fetch = HopFetch.fetch

    def fetch_seen(self: Any, txs: Any, front: Any, forward: bool) -> Any:
        seen.update(int(t) for t in txs)
        return fetch(self, txs, front, forward)

    import chainsleuth.analytics.tracing.run as run_module

    run_module.trace_utxo = loop_timed  # type: ignore[attr-defined]
    if txs_out is not None:
        HopFetch.fetch = fetch_seen  # type: ignore[method-assign]
    walls, cpus, result = [], [], None
    for _ in range(repeats):
        w, c = time.perf_counter(), time.process_time()
        result = trace(con, "bitcoin", [seed], TraceParams(max_hops=hops))
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    assert result is not None
    data = result.to_dict()
    if txs_out is not None:  # the reached transactions, by hash, for the networkx side
        con.register("_seen", pa.table({"tx_id": np.array(sorted(seen), dtype=np.int64)}))
        hashes = con.sql(
            "SELECT tx_hash FROM trace_txs JOIN _seen USING (tx_id) WHERE chain = 'bitcoin'"
        ).fetchall()
        txs_out.write_text(json.dumps(sorted(h for (h,) in hashes)))
    return {
        "open_s": open_s,
        "wall_s": walls,
        "cpu_s": cpus,
        "loop_s": loop_s,
        "hops": data["hops"],
        "edges": len(data["edges"]),
        "txs_reached": len(seen) if txs_out is not None else None,
        "endpoints": _endpoint_totals(data),
        "held_total": data["remainder"]["held_total"],
        "rss_open_mb": rss_open,
        "peak_mb": peak_mb(),
    }


def _endpoint_totals(data: dict[str, Any]) -> dict[str, int]:
    totals: dict[str, int] = defaultdict(int)
    for e in data["endpoints"]:
        totals[e["label"]] += int(e["amount"])
    return dict(sorted(totals.items()))


def run_networkx(store: Path, seed: str, hops: int, txs_file: Path, repeats: int) -> dict[str, Any]:
    """The hand-written networkx trace over the same subgraph (see module docstring)."""
    import duckdb
    import networkx as nx
    import pyarrow as pa

    txs = json.loads(txs_file.read_text())
    con = duckdb.connect(str(store), read_only=True)
    loads, builds, props, walls, cpus, totals = [], [], [], [], [], {}
    for _ in range(repeats):
        w, c = time.perf_counter(), time.process_time()
        # 1. load the subgraph: every input and output of the reached transactions
        con.register("_txs", pa.table({"tx_hash": txs}))
        ins = con.execute(
            "SELECT i.tx_hash, i.prev_tx_hash, i.prev_n, i.value FROM inputs i"
            " JOIN _txs USING (tx_hash) WHERE i.chain = 'bitcoin'"
        ).fetchall()
        outs = con.execute(
            "SELECT o.tx_hash, o.n, o.value, o.address_id, o.spent_by FROM outputs o"
            " WHERE o.chain = 'bitcoin' AND (o.tx_hash IN (SELECT tx_hash FROM _txs)"
            " OR o.tx_hash = ?)",
            [seed],
        ).fetchall()
        custodial = {
            r[0]
            for r in con.execute(
                "SELECT DISTINCT a.address_id FROM tags t JOIN addresses a"
                " ON a.chain = t.chain AND a.address = t.address"
                " WHERE t.chain = 'bitcoin' AND list_contains(?, t.category)",
                [list(CUSTODIAL)],
            ).fetchall()
        }
        labels = dict(
            con.execute(
                "SELECT a.address_id, arg_max(t.label, t.confidence_level) FROM tags t"
                " JOIN addresses a ON a.chain = t.chain AND a.address = t.address"
                " WHERE t.chain = 'bitcoin' AND list_contains(?, t.category) GROUP BY 1",
                [list(CUSTODIAL)],
            ).fetchall()
        )
        con.unregister("_txs")
        t1 = time.perf_counter()
        # 2. build the graph: coin -> spending tx -> coin
        g = nx.DiGraph()
        for tx, n, value, address, spent_by in outs:
            coin = (tx, n)
            g.add_node(coin, value=value, address=address)
            g.add_edge(tx, coin)
            if spent_by is not None:
                g.add_edge(coin, spent_by)
        for tx, prev_tx, prev_n, value in ins:
            g.add_node(tx)
            g.nodes[tx]["in_value"] = g.nodes[tx].get("in_value", 0) + (value or 0)
            if prev_tx is not None:
                g.add_edge((prev_tx, prev_n), tx)
        t2 = time.perf_counter()
        # 3. propagate haircut taint, hop by hop
        front = {
            (seed, n): float(g.nodes[(seed, n)]["value"])
            for n in sorted(n for t, n in (c for c in g.successors(seed)) if t == seed)
        }
        arrived: dict[str, float] = defaultdict(float)
        for hop in range(1, hops + 1):
            tx_taint: dict[str, float] = defaultdict(float)
            for coin, taint in front.items():
                if hop > 1 and g.nodes[coin]["address"] in custodial:
                    arrived[labels[g.nodes[coin]["address"]]] += taint
                    continue
                for spender in g.successors(coin):
                    tx_taint[spender] += taint
            front = {}
            for tx, taint in tx_taint.items():
                total = g.nodes[tx].get("in_value", 0)
                if total <= 0:
                    continue
                for coin in g.successors(tx):
                    share = g.nodes[coin]["value"] * taint / total
                    if share > 0:
                        front[coin] = front.get(coin, 0.0) + share
        t3 = time.perf_counter()
        loads.append(t1 - w)
        builds.append(t2 - t1)
        props.append(t3 - t2)
        walls.append(t3 - w)
        cpus.append(time.process_time() - c)
        totals = {k: round(v) for k, v in sorted(arrived.items())}
    return {
        "load_s": loads,
        "build_s": builds,
        "propagate_s": props,
        "wall_s": walls,
        "cpu_s": cpus,
        "nodes": g.number_of_nodes(),
        "edges": g.number_of_edges(),
        "endpoints": totals,
        "peak_mb": peak_mb(),
    }


def _child(args: list[str]) -> dict[str, Any]:
    return run_module("bench.trace", *args)


def _med(xs: list[float]) -> float:
    return round(statistics.median(xs), 3)


def main() -> None:
    """Run the benchmark (see module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--txs", type=int, default=10_000_000)
    parser.add_argument("--repeats", type=int, default=5, help="Traces per child process.")
    parser.add_argument("--rounds", type=int, default=2, help="Child processes per side.")
    parser.add_argument("--hops", type=int, default=10)
    parser.add_argument("--work", type=Path, default=WORK)
    parser.add_argument("--child", choices=["prepare", "ours", "networkx"], help=argparse.SUPPRESS)
    parser.add_argument("--store", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--seed", help=argparse.SUPPRESS)
    parser.add_argument("--txs-file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(sys.argv[1:] if __name__ == "__main__" else [])
    if args.child == "prepare":
        print(json.dumps(prepare(args.store)))
        return
    if args.child == "ours":
        print(json.dumps(run_ours(args.store, args.seed, args.hops, args.repeats, args.txs_file)))
        return
    if args.child == "networkx":
        print(
            json.dumps(run_networkx(args.store, args.seed, args.hops, args.txs_file, args.repeats))
        )
        return
    built = build_store(args.txs, args.work)
    seed = theft_seed(built["truth"])["seed"]["txid"]
    common = ["--store", str(built["store"]), "--seed", seed, "--hops", str(args.hops)]
    common += ["--repeats", str(args.repeats)]
    txs_file = Path(tempfile.mkstemp(prefix="chainsleuth-trace-txs-", suffix=".json")[1])
    loads = [load()]
    prepared = _child(["--child", "prepare", "--store", str(built["store"])])
    loads.append(load())
    ours, nxs = [], []
    for r in range(args.rounds):
        extra = ["--txs-file", str(txs_file)] if r == 0 else []
        ours.append(_child(["--child", "ours", *common, *extra]))
        loads.append(load())
        nxs.append(_child(["--child", "networkx", *common, "--txs-file", str(txs_file)]))
        loads.append(load())
    txs_file.unlink()
    o_wall = [w for o in ours for w in o["wall_s"]]
    o_cpu = [w for o in ours for w in o["cpu_s"]]
    o_loop = [w for o in ours for w in o["loop_s"]]
    n_wall = [w for n in nxs for w in n["wall_s"]]
    n_cpu = [w for n in nxs for w in n["cpu_s"]]
    n_mem = [w for n in nxs for w in n["build_s"]]
    n_prop = [w for n in nxs for w in n["propagate_s"]]
    n_load = [w for n in nxs for w in n["load_s"]]
    first = ours[0]
    print(
        json.dumps(
            {
                "txs": args.txs,
                "seed": seed,
                "hops": first["hops"],
                "txs_reached": first["txs_reached"],
                "edges": first["edges"],
                "index_refresh": prepared,
                "store_open_s": _med([o["open_s"] for o in ours]),
                "ours_trace_wall_s": _med(o_wall),
                "ours_trace_cpu_s": _med(o_cpu),
                "ours_first_trace_wall_s": [round(o["wall_s"][0], 3) for o in ours],
                "ours_trace_walls_s": [[round(w, 3) for w in o["wall_s"]] for o in ours],
                "ours_hop_loop_wall_s": _med(o_loop),
                "ours_rss_after_open_mb": max(o["rss_open_mb"] for o in ours),
                "ours_peak_mb": max(o["peak_mb"] for o in ours),
                "nx_total_wall_s": _med(n_wall),
                "nx_total_cpu_s": _med(n_cpu),
                "nx_load_s": _med(n_load),
                "nx_build_s": _med(n_mem),
                "nx_propagate_s": _med(n_prop),
                "nx_graph": [nxs[0]["nodes"], nxs[0]["edges"]],
                "nx_peak_mb": max(n["peak_mb"] for n in nxs),
                "ratio_nx_total_over_ours_wall": round(_med(n_wall) / _med(o_wall), 2),
                "ratio_nx_total_over_ours_cpu": round(_med(n_cpu) / _med(o_cpu), 2),
                "ratio_nx_in_memory_over_ours_wall": round(
                    (_med(n_mem) + _med(n_prop)) / _med(o_wall), 3
                ),
                "endpoints_agree": _agree(first["endpoints"], nxs[0]["endpoints"]),
                "ours_endpoints": first["endpoints"],
                "nx_endpoints": nxs[0]["endpoints"],
                "repeats": [args.rounds, args.repeats],
                "load_avg": loads,
            },
            indent=2,
        )
    )


def _agree(a: dict[str, int], b: dict[str, int]) -> bool:
    """Same labels and amounts within 1 satoshi per 10^6 (haircut is float arithmetic)."""
    return a.keys() == b.keys() and all(abs(a[k] - b[k]) <= max(1, a[k] // 10**6) for k in a)


if __name__ == "__main__":
    main()
