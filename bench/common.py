"""Shared benchmark helpers: a simulated store of N transactions, built once and cached.

    python -m bench.common [--txs 200000] [--work /tmp/chainsleuth-bench-store]

Layout under `WORK/N/`: `etl/` (the simulator's bitcoin-etl JSON and truth.json),
`store.duckdb` (ingested, with the simulated services' tags and the exposures) and one
marker file per finished step, so an interrupted build resumes where it stopped. Every
step runs the public command a user would run:

    chainsleuth sim bitcoin --out WORK/N/etl --txs N
    chainsleuth --db WORK/N/store.duckdb ingest bitcoin --from etl WORK/N/etl
    python -c 'from chainsleuth.sim.tagpack import write_tagpack; ...'   # tags.yaml
    chainsleuth --db WORK/N/store.duckdb tags import WORK/N/tags.yaml
    chainsleuth --db WORK/N/store.duckdb exposures
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

WORK = Path(os.environ.get("CHAINSLEUTH_BENCH_WORK", "/tmp/chainsleuth-bench-store"))
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
CLI = [sys.executable, "-m", "chainsleuth.interfaces.cli.main"]


def shared_missing(path: Path) -> bool:
    """True, saying the benchmark is skipped, when the shared real data lacks `path`."""
    if path.exists():
        return False
    print(f"skipped: {path} is absent (the real data of ../shared/data, see its SOURCES.md)")
    return True


def peak_mb() -> int:
    """This process's peak resident memory in MiB (VmHWM: not inherited from the parent)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024)
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def rss_mb() -> int:
    """This process's current resident memory in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024)
    return 0


def run_module(module: str, *args: str) -> dict[str, Any]:
    """`python -m module args` in a fresh process (its own peak memory): the JSON of its last
    line of output. A child that fails ends the benchmark with the end of its errors."""
    done = subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(done.stderr[-3000:])
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def load() -> float:
    """The 1-minute load average (the machine is shared: every figure says how busy it was)."""
    return round(os.getloadavg()[0], 1)


def _cli() -> list[str]:
    """The `chainsleuth` entry point of this environment."""
    exe = Path(sys.executable).with_name("chainsleuth")
    return [str(exe)] if exe.exists() else CLI


def _step(folder: Path, name: str, argv: list[str], log: dict[str, float]) -> None:
    """Run one build step unless its marker exists; record its wall time."""
    marker = folder / f".{name}.done"
    if marker.exists():
        return
    print(f"[bench] {name}: {' '.join(argv)}", file=sys.stderr, flush=True)
    began = time.perf_counter()
    subprocess.run(argv, check=True)
    log[name] = round(time.perf_counter() - began, 1)
    marker.write_text(json.dumps({"seconds": log[name]}))


def build_store(txs: int, work: Path = WORK, seed: int = 1) -> dict[str, Any]:
    """The cached simulated store of `txs` transactions (built now if missing).

    Returns paths (`store`, `etl`, `truth`) and the build step times of this call.
    """
    folder = work / str(txs)
    etl, store = folder / "etl", folder / "store.duckdb"
    folder.mkdir(parents=True, exist_ok=True)
    cli, log = _cli(), dict[str, Any]()
    q = ["--quiet"]
    _step(
        folder,
        "sim",
        [*cli, *q, "sim", "bitcoin", "--out", str(etl), "--txs", str(txs), "--seed", str(seed)],
        log,
    )
    _step(
        folder,
        "ingest",
        [*cli, *q, "--db", str(store), "ingest", "bitcoin", "--from", "etl", str(etl)],
        log,
    )
    pack = folder / "tags.yaml"
    # The pack `chainsleuth.sim.tagpack.write_tagpack` writes, dumped with libyaml when
    # present (the pure-Python dumper takes minutes for the ~1.4M tags of 10M transactions).
    _step(
        folder,
        "tagpack",
        [sys.executable, "-m", "bench.common", "--tagpack", str(etl / "truth.json"), str(pack)],
        log,
    )
    _step(folder, "tags", [*cli, *q, "--db", str(store), "tags", "import", str(pack)], log)
    _step(folder, "exposures", [*cli, *q, "--db", str(store), "exposures"], log)
    return {"store": store, "etl": etl, "truth": etl / "truth.json", "built_s": log}


def write_tagpack(truth: Path, out: Path) -> int:
    """`chainsleuth.sim.tagpack.write_tagpack`, with the C YAML dumper when available."""
    import yaml

    from chainsleuth.sim.tagpack import build_tagpack

    pack = build_tagpack(json.loads(truth.read_text(encoding="utf-8")))
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    with out.open("w", encoding="utf-8") as f:
        yaml.dump(pack, f, Dumper=dumper, sort_keys=False)
    return len(pack["tags"])


def theft_seed(truth: Path) -> dict[str, Any]:
    """The first theft's seed (txid, outputs, addresses) from truth.json, read lazily:
    the file is large at 10M transactions and the thefts come before the address map."""
    with truth.open("rb") as f:
        head = f.read(1 << 24).decode("utf-8", errors="replace")
    start = head.find('"thefts"')
    if start < 0:  # not in the first 16 MiB: read it all
        return dict(json.loads(truth.read_text())["thefts"][0])
    decoder = json.JSONDecoder()
    array_at = head.index("[", start)
    thefts, _ = decoder.raw_decode(head, array_at)
    return dict(thefts[0])


def cli() -> None:
    """Build (or find) the cached store and print its paths (not a benchmark: no main())."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--txs", type=int, default=200_000)
    parser.add_argument("--work", type=Path, default=WORK)
    parser.add_argument("--tagpack", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(sys.argv[1:] if __name__ == "__main__" else [])
    if args.tagpack:
        write_tagpack(*args.tagpack)
        return
    built = build_store(args.txs, args.work)
    print(json.dumps({k: str(v) if isinstance(v, Path) else v for k, v in built.items()}))


if __name__ == "__main__":
    cli()
