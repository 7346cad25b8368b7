"""Benchmark: ingest simulated bitcoin-etl JSON into the DuckDB store.

    python -m bench.ingest_etl [--txs 1000000] [--repeats 3] [--dir DIR] [--batch N]

Goals (issue 2): at least 100,000 tx/s, peak memory under 2 GB, and at most 2x the time
DuckDB alone takes to read the same files (the practical floor: `read_json` of both files
with every nested input and output parsed, `SELECT count(*), sum(...)`). Both are measured
in the same run, alternating, each repeat in a fresh child process (its own peak RSS) and,
for ingestion, a fresh store file. Reports medians, the ratio, and where ingestion spends
its time (reading + flattening in `chains.bitcoin.etl.load` versus the store writer).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

FLOOR_SQL = """
SELECT (SELECT count(*) FROM read_json('{d}/blocks.json')) AS blocks, count(*) AS txs,
       sum(output_value), sum(len(inputs)),
       sum(list_sum(list_transform(outputs, lambda o: o.value)))
FROM read_json('{d}/transactions.json')
"""


def _peak_mb() -> int:
    """This process's peak resident memory (VmHWM: not inherited from the parent)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def run_floor(directory: Path) -> dict[str, Any]:
    """DuckDB alone reads the files."""
    import duckdb

    began, cpu = time.perf_counter(), time.process_time()
    row = duckdb.connect().execute(FLOOR_SQL.format(d=directory)).fetchone()
    assert row is not None
    return {
        "wall_s": time.perf_counter() - began,
        "cpu_s": time.process_time() - cpu,
        "txs": int(row[1]),
        "peak_mb": _peak_mb(),
    }


def run_ingest(directory: Path, batch: int) -> dict[str, Any]:
    """chainsleuth ingests the files into a fresh store."""
    from chainsleuth.chains.bitcoin import etl
    from chainsleuth.ingest.bitcoin_etl import ingest_etl
    from chainsleuth.ingest.common import IngestOptions
    from chainsleuth.store.db import connect, limit_memory

    load_s: list[float] = []
    original = etl.load

    def timed_load(*args: Any) -> tuple[int, int]:
        began = time.perf_counter()
        result = original(*args)
        load_s.append(time.perf_counter() - began)
        return result

    etl.load = timed_load  # type: ignore[assignment]
    store = Path(tempfile.mkdtemp(prefix="chainsleuth-bench-")) / "store.duckdb"
    con = connect(store)
    opts = IngestOptions(batch_blocks=batch)
    limit_memory(con, opts.memory_limit)
    began, cpu = time.perf_counter(), time.process_time()
    summary = ingest_etl(con, str(directory), opts)
    con.close()
    wall, cpu = time.perf_counter() - began, time.process_time() - cpu
    size = store.stat().st_size
    shutil.rmtree(store.parent)
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "load_s": load_s[0],
        "txs": summary.txs,
        "peak_mb": _peak_mb(),
        "store_mb": round(size / 2**20),
    }


def _child(phase: str, directory: Path, batch: int) -> dict[str, Any]:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.ingest_etl",
            "--child",
            phase,
            "--dir",
            str(directory),
            "--batch",
            str(batch),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def main() -> None:
    """Run the benchmark (see module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--txs", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=None, help="Reuse a simulated chain.")
    parser.add_argument("--batch", type=int, default=100, help="Blocks per committed batch.")
    parser.add_argument("--child", choices=["floor", "ingest"], help=argparse.SUPPRESS)
    args = parser.parse_args(sys.argv[1:] if __name__ == "__main__" else [])
    if args.child:
        phase = run_floor(args.dir) if args.child == "floor" else run_ingest(args.dir, args.batch)
        print(json.dumps(phase))
        return
    directory = args.dir
    if directory is None:
        from chainsleuth.sim import SimConfig, simulate_bitcoin

        directory = Path(tempfile.mkdtemp(prefix="chainsleuth-etl-"))
        simulate_bitcoin(directory, SimConfig(txs=args.txs, seed=args.seed))
    load = [os.getloadavg()[0]]
    floors, ingests = [], []
    for _ in range(args.repeats):
        floors.append(_child("floor", directory, args.batch))
        ingests.append(_child("ingest", directory, args.batch))
        load.append(os.getloadavg()[0])
    txs = ingests[0]["txs"]
    floor_s = statistics.median(f["wall_s"] for f in floors)
    ingest_s = statistics.median(i["wall_s"] for i in ingests)
    print(
        json.dumps(
            {
                "txs": txs,
                "json_mb": round((directory / "transactions.json").stat().st_size / 2**20),
                "duckdb_read_s": round(floor_s, 2),
                "ingest_s": round(ingest_s, 2),
                "ingest_tx_per_s": round(txs / ingest_s),
                "ratio_to_duckdb_read": round(ingest_s / floor_s, 2),
                "duckdb_read_cpu_s": round(statistics.median(f["cpu_s"] for f in floors), 2),
                "ingest_cpu_s": round(statistics.median(i["cpu_s"] for i in ingests), 2),
                "load_and_flatten_s": round(statistics.median(i["load_s"] for i in ingests), 2),
                "store_writer_s": round(
                    statistics.median(i["wall_s"] - i["load_s"] for i in ingests), 2
                ),
                "ingest_peak_mb": max(i["peak_mb"] for i in ingests),
                "duckdb_read_peak_mb": max(f["peak_mb"] for f in floors),
                "store_mb": ingests[0]["store_mb"],
                "load_avg": [round(x, 1) for x in load],
                "repeats": args.repeats,
            },
            indent=2,
        )
    )
    if args.dir is None:
        shutil.rmtree(directory)


if __name__ == "__main__":
    main()
