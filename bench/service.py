"""Benchmark: the screening service under bounded load on loopback (issue 8).

    python -m bench.service [--txs 10000000] [--rates 2000,200] [--seconds 3] [--rounds 2]

Goals: single-address screening p50 < 2 ms and p99 < 10 ms at 2,000 requests/s on 2
cores; a batch of 10,000 addresses < 1 s; service start < 5 s (process start to the
first 200 on /healthz). Two ratios in the same run: against a naive service doing the same
lookup with one plain DuckDB query per request, and against a bare endpoint of the same
server stack returning a constant (the framework's ceiling; goal: at least half of it).

Steps, on the cached simulated store with tags and exposures (`bench/common.py`):
1. `chainsleuth --db DB keys create --name bench --scopes screen --rate 100000000 --format json`
2. `chainsleuth --db DB serve --port P` (real uvicorn on 127.0.0.1); the start time is
   from spawning the process to the first 200 on /healthz, the ready time to the first
   /healthz saying `ready` (the stored addresses' fingerprints loaded); the load starts
   then.
3. A load process (`run_load`: one process, uvloop, one asyncio protocol object per
   keep-alive HTTP/1.1 connection and no task per request, so that it takes as little as
   possible of the two cores it shares with the server; 127.0.0.1 only) runs a closed loop
   with `--connections` connections for `--seconds` (the maximal throughput), then offers
   each of `--rates` requests/s for `--seconds` (open loop: a request due while every
   connection is busy waits, and the wait counts, so queueing is not hidden). Every phase
   reports the server's CPU time per request from /proc (user + system, all threads), a
   figure the other processes on the machine barely move. Every loop is bounded in count
   and time. Addresses: a fixed random sample of the store's exposed, risky and other
   addresses.
4. One POST /v1/risk/batch of 10,000 addresses, `--batch-repeats` times (mostly addresses
   the single-address load did not send: the first repeat runs on cold caches).
The same load then runs against this module's naive app (`--serve naive`, served like
ours): its `GET /bare` (a constant from a routed FastAPI endpoint: the issue's bare
endpoint), its `GET /bare-asgi` (a constant from an ASGI middleware in front of the
routing, where our address route is answered) and its address route (one DuckDB query per
request; only the lowest rate: it serves a few dozen requests/s). The servers run one at a
time (DuckDB lets one process open a store file for writing).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, cast

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
    app.add_middleware(_BareFront)

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


class _BareFront:
    """`GET /bare-asgi`: a constant from an ASGI middleware in front of FastAPI's routing,
    where our service answers its address route (`interfaces.api.app.Front`): the ceiling
    of that path, as `GET /bare` is the ceiling of a routed endpoint."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] != "/bare-asgi":
            await self.app(scope, receive, send)
            return
        body = b'{"status":"ok"}'
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-length", str(len(body)).encode()),
                    (b"content-type", b"application/json"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def serve_naive(db: Path, port: int) -> None:
    """Run the naive app with the server settings of `chainsleuth serve`."""
    import uvicorn

    uvicorn.run(
        naive_app(db),
        host=HOST,
        port=port,
        log_level="warning",
        access_log=False,
        loop="uvloop",
        http="httptools",
    )


# ---------------------------------------------------------------- the load generator
class _Conn(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection: writes a request, parses the response's status
    and Content-Length body from the bytes as they come, and reports to `done`.

    A protocol object rather than streams and a task per request: the generator shares the
    two cores with the server, so each request must cost it as little as possible."""

    def __init__(self, done: Callable[[_Conn, int], None]) -> None:
        self.done = done
        self.buf = bytearray()
        self.transport: asyncio.Transport | None = None
        self.began = 0.0  # when the request in flight counts from

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def send(self, raw: bytes, began: float) -> None:
        assert self.transport is not None
        self.began = began
        self.transport.write(raw)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self.buf[:end]).lower()
        length = 0
        at = head.find(b"content-length:")
        if at >= 0:
            line_end = head.find(b"\r\n", at)
            length = int(head[at + 15 : line_end if line_end >= 0 else None])
        if len(self.buf) < end + 4 + length:
            return
        del self.buf[: end + 4 + length]
        self.done(self, int(head[9:12]))


async def _connect(port: int, n: int, done: Callable[[_Conn, int], None]) -> list[_Conn]:
    loop = asyncio.get_running_loop()
    conns = []
    for _ in range(n):
        _, conn = await loop.create_connection(lambda: _Conn(done), HOST, port)
        conns.append(conn)
    return conns


def _close(conns: list[_Conn]) -> None:
    for c in conns:
        if c.transport is not None:
            c.transport.close()


def clock() -> float:
    """Seconds, to the microsecond (uvloop's `loop.time()` counts whole milliseconds)."""
    return time.perf_counter()


def _raw(path: str, key: str | None) -> bytes:
    auth = f"X-API-Key: {key}\r\n" if key else ""
    return f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\n{auth}\r\n".encode()


async def open_loop(
    port: int, raws: list[bytes], rate: float, seconds: float, conns: int
) -> dict[str, Any]:
    """Offer `rate` requests/s for `seconds` over `conns` connections, whatever the answers.

    A request due while every connection is busy waits in a queue, and that wait counts in
    its latency, so the server's queueing is not hidden (open loop). The sender wakes on
    the event loop's timer (millisecond resolution), so a request goes out up to ~1 ms
    after its due time; latency counts from when the sender acted on it, and that lateness
    is reported apart (`send_late_*`)."""
    loop = asyncio.get_running_loop()
    total = int(rate * seconds)
    lat: list[float] = []
    late: list[float] = []
    bad = 0
    queued: deque[tuple[int, float]] = deque()
    idle: deque[_Conn] = deque()
    finished = loop.create_future()

    def done(conn: _Conn, status: int) -> None:
        nonlocal bad
        lat.append(clock() - conn.began)
        bad += status != 200
        if queued:
            i, began = queued.popleft()
            conn.send(raws[i % len(raws)], began)
        else:
            idle.append(conn)
        if len(lat) == total and not finished.done():
            finished.set_result(None)

    pool = await _connect(port, conns, done)
    idle.extend(pool)
    start = clock() + 0.05
    sent = 0
    while sent < total:
        now = clock()
        due_now = min(total, int((now - start) * rate) + 1) if now >= start else 0
        while sent < due_now:
            late.append(now - (start + sent / rate))
            if idle:
                idle.popleft().send(raws[sent % len(raws)], now)
            else:
                queued.append((sent, now))
            sent += 1
        # at least 1 ms: the loop's timers have millisecond resolution, and a shorter
        # sleep would spin and take a core from the server
        await asyncio.sleep(max(0.001, start + sent / rate - clock()))
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.shield(finished), max(10.0, 3 * seconds))
    elapsed = clock() - start
    _close(pool)
    summary = _summary(lat, bad, total - len(lat), total, elapsed)
    late.sort()
    summary["send_late_p50_ms"] = round(1000 * late[len(late) // 2], 3)
    summary["send_late_p99_ms"] = round(1000 * late[int(0.99 * (len(late) - 1))], 3)
    return summary


async def closed_loop(port: int, raws: list[bytes], seconds: float, conns: int) -> dict[str, Any]:
    """`conns` connections each sending the next request as soon as the last is answered."""
    loop = asyncio.get_running_loop()
    lat: list[float] = []
    bad = 0
    count = 0
    end = 0.0
    active = conns
    finished = loop.create_future()

    def done(conn: _Conn, status: int) -> None:
        nonlocal bad, count, active
        now = clock()
        lat.append(now - conn.began)
        bad += status != 200
        if now < end:
            count += 1
            conn.send(raws[count % len(raws)], now)
        else:
            active -= 1
            if active == 0 and not finished.done():
                finished.set_result(None)

    pool = await _connect(port, conns, done)
    began = clock()
    end = began + seconds
    for conn in pool:
        count += 1
        conn.send(raws[count % len(raws)], clock())
    await asyncio.wait_for(finished, seconds + 30)
    elapsed = clock() - began
    _close(pool)
    return _summary(lat, bad, 0, len(lat), elapsed)


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


def _cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_load(spec: dict[str, Any]) -> dict[str, Any]:
    """The load process: warm up, closed loop (saturation), then each open-loop rate."""
    import uvloop

    port = spec["port"]
    raws = [_raw(path, spec["key"]) for path in spec["paths"]]

    async def drain() -> None:
        """Wait (at most ~60 s) until a constant endpoint answers within 50 ms: the server
        has no backlog left from the last phase."""
        probe = [_raw(spec["drain_path"], None)]
        for _ in range(300):
            began = clock()
            await closed_loop(port, probe, 0.0, 1)
            if clock() - began < 0.05:
                return
            await asyncio.sleep(0.2)

    async def measured(run: Awaitable[dict[str, Any]]) -> dict[str, Any]:
        """A phase's summary with the server's CPU time per answered request (user +
        system, all its threads): a figure that other work on the cores barely moves."""
        before = _cpu_seconds(spec["pid"])
        summary = await run
        used = _cpu_seconds(spec["pid"]) - before
        summary["server_cpu_us_per_request"] = round(1e6 * used / max(1, summary["answered"]), 1)
        return summary

    async def go() -> dict[str, Any]:
        await closed_loop(port, raws, 1.0, 4)  # warm-up
        await drain()
        out: dict[str, Any] = {
            "closed_loop": await measured(closed_loop(port, raws, spec["seconds"], spec["conns"]))
        }
        for rate in spec["rates"]:
            await drain()
            out[f"open_loop_{rate:g}"] = await measured(
                open_loop(port, raws, rate, spec["seconds"], spec["conns"])
            )
        return out

    return uvloop.run(go())


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


def _ready(port: int, began: float, timeout: float = 300.0) -> float:
    """Seconds from `began` until /healthz says `ready` (the screener's index complete)."""
    import httpx

    while time.perf_counter() - began < timeout:
        if httpx.get(f"http://{HOST}:{port}/healthz", timeout=5.0).json()["ready"]:
            return time.perf_counter() - began
        time.sleep(0.05)
    raise SystemExit(f"server on port {port} not ready within {timeout} s")


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
    # The naive service answers a few dozen requests/s: it gets the lowest rate only (at
    # 2,000/s its queue would take minutes to drain and tell nothing more).
    naive_spec = {**spec, "rates": [min(rates)], "drain_path": "/bare"}
    naive_server = [sys.executable, "-m", "bench.service", "--serve", "naive", "--db", str(db)]
    loads = [load()]
    runs: dict[str, list[dict[str, Any]]] = {"ours": [], "bare": [], "bare_asgi": [], "naive": []}
    starts: list[float] = []
    readies: list[float] = []
    batches: list[dict[str, Any]] = []
    for _ in range(args.rounds):
        port = _free_port()
        began = time.perf_counter()
        proc, started = _start([*cli, "serve", "--port", str(port)], port)
        starts.append(round(started, 3))
        readies.append(round(_ready(port, began), 3))
        try:
            runs["ours"].append(
                _load_child(
                    {
                        **spec,
                        "port": port,
                        "pid": proc.pid,
                        "paths": single,
                        "key": key,
                        "drain_path": "/healthz",
                    }
                )
            )
            batches.append(_batch(port, key, batch, args.batch_repeats))
        finally:
            _stop(proc)
        loads.append(load())
        port = _free_port()
        proc, _ = _start([*naive_server, "--port", str(port)], port)
        try:
            for side, path in (("bare", "/bare"), ("bare_asgi", "/bare-asgi")):
                runs[side].append(
                    _load_child(
                        {
                            **spec,
                            "port": port,
                            "pid": proc.pid,
                            "paths": [path],
                            "key": None,
                            "drain_path": "/bare",
                        }
                    )
                )
            runs["naive"].append(
                _load_child(
                    {**naive_spec, "port": port, "pid": proc.pid, "paths": single, "key": None}
                )
            )
        finally:
            _stop(proc)
        loads.append(load())

    def med(side: str, phase: str, field: str) -> float:
        return round(float(statistics.median(r[phase][field] for r in runs[side])), 3)

    report: dict[str, Any] = {
        "txs": args.txs,
        "offered_rps": rates,
        "load_generator": "bench.service run_load: one process, uvloop, raw HTTP/1.1 protocol",
        "start_s": starts,
        "start_median_s": round(statistics.median(starts), 3),
        "ready_s": readies,
        "ready_median_s": round(statistics.median(readies), 3),
        "batch_10000": batches,
        "batch_median_s": round(statistics.median(b["median_s"] for b in batches), 3),
    }
    for side in runs:
        for phase in runs[side][0]:
            report[f"{side}_{phase}"] = {
                f: med(side, phase, f)
                for f in ("achieved_rps", "p50_ms", "p90_ms", "p99_ms", "server_cpu_us_per_request")
            } | {
                "non_200": sum(r[phase]["non_200"] for r in runs[side]),
                "unanswered": sum(r[phase]["unanswered"] for r in runs[side]),
            }

    def ratio(a: float | None, b: float | None) -> float | None:
        return round(a / b, 2) if a and b else None

    closed = {side: report[f"{side}_closed_loop"]["achieved_rps"] for side in runs}
    report["throughput_ours_over_naive"] = ratio(closed["ours"], closed["naive"])
    report["throughput_ours_over_bare"] = ratio(closed["ours"], closed["bare"])
    report["throughput_ours_over_bare_asgi"] = ratio(closed["ours"], closed["bare_asgi"])
    low = f"open_loop_{min(rates):g}"
    p50 = {side: report[f"{side}_{low}"]["p50_ms"] for side in runs}
    report["p50_ratios_at_rps"] = min(rates)
    report["p50_naive_over_ours"] = ratio(p50["naive"], p50["ours"])
    report["p50_bare_over_ours"] = ratio(p50["bare"], p50["ours"])
    report["runs"] = runs
    report["load_avg"] = loads
    report["cpus"] = os.cpu_count()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
