"""Benchmark: the screening service under bounded load on loopback (issue 8).

    python -m bench.service [--txs 10000000] [--rate 2000] [--seconds 3] [--rounds 2]

Goals: single-address screening p50 < 2 ms and p99 < 10 ms at 2,000 requests/s on 2
cores; a batch of 10,000 addresses < 1 s; service start < 5 s (process start to the
first 200 on /healthz). Two ratios in the same run: against a naive service doing the same
lookup with one plain DuckDB query per request, and against a bare endpoint of the same
server stack returning a constant (the framework's ceiling; goal: at least half of it).

Steps, on the cached simulated store with tags and exposures (`bench/common.py`):
1. `chainsleuth --db DB keys create --name bench --scopes screen --rate 100000000 --format json`
2. `chainsleuth --db DB serve --port P` (real uvicorn on 127.0.0.1); the start time is
   from spawning the process to the first 200 on /healthz.
3. A load process (asyncio, raw HTTP/1.1 keep-alive sockets, 127.0.0.1 only) offers
   `--rate` requests/s for `--seconds` (open loop: each request has a scheduled send time
   and its latency counts from then, so queueing is not hidden), then runs closed loop
   with `--connections` connections for `--seconds` for the maximal throughput. Every
   loop is bounded in count and time. Addresses: a fixed random sample of the store's
   exposed, risky and other addresses.
4. One POST /v1/risk/batch of 10,000 addresses, `--batch-repeats` times.
The same load then runs against this module's naive app (`--serve naive`: FastAPI on
uvicorn, one DuckDB query per request) and its bare endpoint (`GET /bare`, a constant).
The servers run one at a time (DuckDB lets one process open a store file for writing).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from bench.common import WORK, _cli, build_store, load

HOST = "127.0.0.1"


# ---------------------------------------------------------------- the naive and bare app
def naive_app(db: Path) -> Any:
    """A tiny service answering the same question with one DuckDB query per request."""
    import duckdb
    from fastapi import FastAPI

    from chainsleuth.analytics.scoring.score import Exposure, score
    from chainsleuth.services.screening.policy import load_policy

    con = duckdb.connect(str(db), read_only=True)
    policy = load_policy(None)
    local = threading.local()
    app = FastAPI()

    @app.get("/bare")
    async def bare() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/v1/risk/{chain}/address/{address}")
    def risk(chain: str, address: str) -> dict[str, Any]:
        cur = getattr(local, "cur", None)
        if cur is None:
            cur = local.cur = con.cursor()
        rows = cur.execute(
            """SELECT a.address_id, 'e' AS kind, e.concept, e.hop, e.tainted, e.received,
                      NULL, NULL, NULL, NULL, NULL, NULL
               FROM addresses a JOIN exposures e USING (address_id)
               WHERE a.chain = $c AND a.address = $a
               UNION ALL
               SELECT a.address_id, 'r', r.concept, NULL, NULL, NULL, r.entity, r.label,
                      r.source, r.confidence, r.confidence_level, r.tagged_address
               FROM addresses a JOIN risky_addresses r USING (address_id)
               WHERE a.chain = $c AND a.address = $a
               UNION ALL
               SELECT a.address_id, 'k', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
                      NULL, NULL
               FROM addresses a WHERE a.chain = $c AND a.address = $a""",
            {"c": chain, "a": address},
        ).fetchall()
        exposures = [Exposure(r[2], r[3], r[4], int(r[5])) for r in rows if r[1] == "e"]
        direct = [
            {
                "concept": r[2],
                "entity": r[6],
                "label": r[7],
                "source": r[8],
                "confidence": r[9],
                "confidence_level": r[10],
                "tagged_address": r[11],
            }
            for r in rows
            if r[1] == "r"
        ]
        return {
            "chain": chain,
            "address": address,
            "known": bool(rows),
            **score(direct, exposures, policy),
        }

    return app


def serve_naive(db: Path, port: int) -> None:
    """Run the naive app as `chainsleuth serve` runs ours."""
    import uvicorn

    uvicorn.run(naive_app(db), host=HOST, port=port, log_level="warning")


# ---------------------------------------------------------------- the load generator
async def _request(
    pool: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]], raw: bytes
) -> int:
    reader, writer = await pool.get()
    try:
        writer.write(raw)
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        if length:
            await reader.readexactly(length)
        return status
    finally:
        pool.put_nowait((reader, writer))


async def _pool(
    port: int, n: int
) -> asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    pool: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
    for _ in range(n):
        pool.put_nowait(await asyncio.open_connection(HOST, port))
    return pool


def _raw(path: str, key: str | None) -> bytes:
    auth = f"X-API-Key: {key}\r\n" if key else ""
    return f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\n{auth}\r\n".encode()


async def open_loop(
    port: int, paths: list[str], key: str | None, rate: float, seconds: float, conns: int
) -> dict[str, Any]:
    """Offer `rate` requests/s for `seconds`; latency from each request's scheduled time."""
    pool = await _pool(port, conns)
    total = int(rate * seconds)
    lat: list[float] = []
    bad = 0
    loop = asyncio.get_running_loop()

    async def one(i: int, due: float) -> None:
        nonlocal bad
        status = await _request(pool, _raw(paths[i % len(paths)], key))
        lat.append(loop.time() - due)
        bad += status != 200

    start = loop.time() + 0.05
    tasks = []
    for i in range(total):
        due = start + i / rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.ensure_future(one(i, due)))
    _, pending = await asyncio.wait(tasks, timeout=max(10.0, 3 * seconds))
    for t in pending:
        t.cancel()
    elapsed = loop.time() - start
    await _close(pool)
    return _summary(lat, bad, len(pending), total, elapsed)


async def closed_loop(
    port: int, paths: list[str], key: str | None, seconds: float, conns: int
) -> dict[str, Any]:
    """`conns` connections each sending the next request when the last is answered."""
    pool = await _pool(port, conns)
    lat: list[float] = []
    bad = 0
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    counter = iter(range(10**9))

    async def worker() -> None:
        nonlocal bad
        while loop.time() < end:
            i = next(counter)
            began = loop.time()
            status = await _request(pool, _raw(paths[i % len(paths)], key))
            lat.append(loop.time() - began)
            bad += status != 200

    began = loop.time()
    await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(conns))), seconds + 30)
    elapsed = loop.time() - began
    await _close(pool)
    return _summary(lat, bad, 0, len(lat), elapsed)


async def _close(pool: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]]) -> None:
    while not pool.empty():
        _, writer = pool.get_nowait()
        writer.close()


def _summary(lat: list[float], bad: int, lost: int, total: int, elapsed: float) -> dict[str, Any]:
    lat.sort()
    q = (lambda p: round(1000 * lat[min(len(lat) - 1, int(p * len(lat)))], 3)) if lat else None
    return {
        "requests": total,
        "answered": len(lat),
        "non_200": bad,
        "unanswered": lost,
        "achieved_rps": round(len(lat) / elapsed, 1) if elapsed > 0 else 0,
        "p50_ms": q(0.50) if q else None,
        "p90_ms": q(0.90) if q else None,
        "p99_ms": q(0.99) if q else None,
        "max_ms": round(1000 * lat[-1], 3) if lat else None,
    }


def run_load(spec: dict[str, Any]) -> dict[str, Any]:
    """The load process: warm up, open loop at the rate, closed loop at saturation."""
    port, paths, key = spec["port"], spec["paths"], spec["key"]

    async def drain() -> None:
        """Wait (at most 60 s) until the server answers at once: no backlog left."""
        pool = await _pool(port, 1)
        loop = asyncio.get_running_loop()
        end = loop.time() + 60
        while loop.time() < end:
            began = loop.time()
            await _request(pool, _raw(paths[0], key))
            if loop.time() - began < 0.05:
                break
            await asyncio.sleep(0.2)
        await _close(pool)

    async def go() -> dict[str, Any]:
        await closed_loop(port, paths, key, 1.0, 4)  # warm-up
        await drain()
        peak = await closed_loop(port, paths, key, spec["seconds"], spec["conns"])
        out: dict[str, Any] = {"closed_loop": peak}
        for rate in spec["rates"]:
            await drain()
            out[f"open_loop_{rate:g}"] = await open_loop(
                port, paths, key, rate, spec["seconds"], spec["conns"]
            )
        return out

    return asyncio.run(go())


# ---------------------------------------------------------------- orchestration
def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _start(
    argv: list[str], port: int, timeout: float = 120.0
) -> tuple[subprocess.Popen[bytes], float]:
    """Spawn a server; seconds from spawn to the first 200 on /healthz (or /bare)."""
    import httpx

    began = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    while time.perf_counter() - began < timeout:
        if proc.poll() is not None:
            raise SystemExit(
                f"server exited: {proc.stderr.read().decode()[-2000:] if proc.stderr else ''}"
            )
        for path in ("/healthz", "/bare"):
            try:
                if httpx.get(f"http://{HOST}:{port}{path}", timeout=1.0).status_code == 200:
                    return proc, time.perf_counter() - began
            except httpx.HTTPError:
                pass
        time.sleep(0.01)
    proc.kill()
    raise SystemExit(f"server on port {port} did not answer within {timeout} s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _load_child(spec: dict[str, Any]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "bench.service", "--load-child"],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode:
        raise SystemExit(done.stderr[-3000:])
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _sample(db: Path, n: int) -> dict[str, list[str]]:
    """Addresses to screen: exposed, risky and random others (fixed seed)."""
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    q = "SELECT DISTINCT a.address FROM {t} x JOIN addresses a USING (address_id) ORDER BY 1"
    exposed = [r[0] for r in con.execute(q.format(t="exposures")).fetchall()]
    risky = [r[0] for r in con.execute(q.format(t="risky_addresses")).fetchall()]
    total = con.execute("SELECT max(address_id) FROM addresses").fetchall()[0][0]
    rng = random.Random(1)
    ids = sorted(rng.sample(range(1, int(total) + 1), min(int(total), 4 * n)))
    others = [
        r[0]
        for r in con.execute(
            "SELECT address FROM addresses WHERE address_id IN (SELECT unnest(?))"
            " AND address NOT LIKE 'nonstandard%' ORDER BY address_id",
            [ids],
        ).fetchall()
    ]
    con.close()
    rng.shuffle(exposed)
    rng.shuffle(others)
    return {"exposed": exposed[: n // 4], "risky": risky[: n // 20], "others": others}


def _batch(port: int, key: str, addresses: list[str], repeats: int) -> dict[str, Any]:
    import httpx

    body = {"items": [{"chain": "bitcoin", "address": a} for a in addresses]}
    times, statuses = [], []
    with httpx.Client(timeout=120) as client:
        for _ in range(repeats):
            began = time.perf_counter()
            r = client.post(
                f"http://{HOST}:{port}/v1/risk/batch", json=body, headers={"X-API-Key": key}
            )
            times.append(time.perf_counter() - began)
            statuses.append(r.status_code)
    return {
        "median_s": round(statistics.median(times), 3),
        "all_s": [round(t, 3) for t in times],
        "status": sorted(set(statuses)),
        "items": len(addresses),
    }


def main() -> None:
    """Run the benchmark (see module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--txs", type=int, default=10_000_000)
    parser.add_argument(
        "--rates", default="2000,200", help="Offered rates (requests/s), open loop, in turn."
    )
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--batch-repeats", type=int, default=3)
    parser.add_argument("--work", type=Path, default=WORK)
    parser.add_argument("--serve", choices=["naive"], help=argparse.SUPPRESS)
    parser.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--load-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(sys.argv[1:] if __name__ == "__main__" else [])
    if args.serve:
        serve_naive(args.db, args.port)
        return
    if args.load_child:
        print(json.dumps(run_load(json.loads(sys.stdin.read()))))
        return
    built = build_store(args.txs, args.work)
    db: Path = built["store"]
    cli = [*_cli(), "--quiet", "--db", str(db)]
    made = subprocess.run(
        [
            *cli,
            "--format",
            "json",
            "keys",
            "create",
            "--name",
            "bench",
            "--scopes",
            "screen",
            "--rate",
            "100000000",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    key = json.loads(made.stdout)["key"]
    sample = _sample(db, 10_000)
    pool = sample["exposed"] + sample["risky"] + sample["others"]
    single = [
        f"/v1/risk/bitcoin/address/{a}" for a in random.Random(2).sample(pool, min(len(pool), 5000))
    ]
    batch = (sample["exposed"] + sample["risky"] + sample["others"])[:10_000]
    rates = [float(r) for r in args.rates.split(",")]
    spec = {"rates": rates, "seconds": args.seconds, "conns": args.connections}
    loads = [load()]
    runs: dict[str, list[dict[str, Any]]] = {"ours": [], "naive": [], "bare": []}
    starts: list[float] = []
    batches: list[dict[str, Any]] = []
    for _ in range(args.rounds):
        port = _free_port()
        proc, started = _start([*cli, "serve", "--port", str(port)], port)
        starts.append(round(started, 3))
        try:
            runs["ours"].append(_load_child({**spec, "port": port, "paths": single, "key": key}))
            batches.append(_batch(port, key, batch, args.batch_repeats))
        finally:
            _stop(proc)
        loads.append(load())
        port = _free_port()
        proc, _ = _start(
            [
                sys.executable,
                "-m",
                "bench.service",
                "--serve",
                "naive",
                "--db",
                str(db),
                "--port",
                str(port),
            ],
            port,
        )
        try:
            runs["bare"].append(
                _load_child({**spec, "port": port, "paths": ["/bare"], "key": None})
            )
            runs["naive"].append(_load_child({**spec, "port": port, "paths": single, "key": None}))
        finally:
            _stop(proc)
        loads.append(load())

    def med(side: str, phase: str, field: str) -> float:
        return round(statistics.median(r[phase][field] for r in runs[side]), 3)

    report: dict[str, Any] = {
        "txs": args.txs,
        "offered_rps": rates,
        "start_s": starts,
        "start_median_s": round(statistics.median(starts), 3),
        "batch_10000": batches,
        "batch_median_s": round(statistics.median(b["median_s"] for b in batches), 3),
    }
    for side in runs:
        for phase in ["closed_loop"] + [f"open_loop_{r:g}" for r in rates]:
            report[f"{side}_{phase}"] = {
                f: med(side, phase, f) for f in ("achieved_rps", "p50_ms", "p90_ms", "p99_ms")
            } | {
                "non_200": sum(r[phase]["non_200"] for r in runs[side]),
                "unanswered": sum(r[phase]["unanswered"] for r in runs[side]),
            }
    o, n, b = (report[f"{s}_closed_loop"]["achieved_rps"] for s in ("ours", "naive", "bare"))
    report["throughput_ours_over_naive"] = round(o / n, 2) if n else None
    report["throughput_ours_over_bare"] = round(o / b, 2) if b else None
    last = f"open_loop_{rates[-1]:g}"
    op, np_, bp = (report[f"{s}_{last}"]["p50_ms"] for s in ("ours", "naive", "bare"))
    report["p50_ratios_at_rps"] = rates[-1]
    report["p50_naive_over_ours"] = round(np_ / op, 2) if op else None
    report["p50_bare_over_ours"] = round(bp / op, 2) if op else None
    report["runs"] = runs
    report["load_avg"] = loads
    report["cpus"] = os.cpu_count()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
