"""Benchmark: simulate a Bitcoin chain (goal: 10,000,000 transactions in under 2 minutes).

    python -m bench.simulate [--txs 10000000] [--seed 1] [--out DIR] [--keep]

Runs `chainsleuth.sim.simulate_bitcoin` in a child process (so its peak RSS is its own)
and reports wall time, CPU time, peak RSS, transactions per second and the sizes of the
files written, with the machine's load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import peak_mb


def child(out: Path, txs: int, seed: int) -> None:
    """Simulate and print the measurements as one JSON line."""
    from chainsleuth.sim import SimConfig, simulate_bitcoin

    wall, cpu = time.perf_counter(), time.process_time()
    summary = simulate_bitcoin(out, SimConfig(txs=txs, seed=seed))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    sizes = {p.name: p.stat().st_size for p in out.iterdir()}
    peak = peak_mb()
    print(
        json.dumps(
            {
                "txs": summary.txs,
                "blocks": summary.blocks,
                "addresses": summary.addresses,
                "wall_s": round(wall, 2),
                "cpu_s": round(cpu, 2),
                "peak_rss_mb": peak,
                "tx_per_s": round(summary.txs / wall),
                "files_mb": {k: round(v / 2**20) for k, v in sizes.items()},
            }
        )
    )


def main() -> None:
    """Run the benchmark (see module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--txs", type=int, default=10_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--keep", action="store_true", help="Keep the files written.")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(sys.argv[1:] if __name__ == "__main__" else [])
    out = args.out or Path(tempfile.mkdtemp(prefix="chainsleuth-sim-"))
    if args.child:
        child(out, args.txs, args.seed)
        return
    before = os.getloadavg()[0]
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.simulate",
            "--child",
            "--txs",
            str(args.txs),
            "--seed",
            str(args.seed),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    figures["load_avg_before_after"] = [round(before, 1), round(os.getloadavg()[0], 1)]
    print(json.dumps(figures, indent=2))
    if not args.keep and args.out is None:
        shutil.rmtree(out)


if __name__ == "__main__":
    main()
