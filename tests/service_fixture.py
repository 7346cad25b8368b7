"""A store with a small screened chain, and the real service running on a loopback port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from chainsleuth.analytics.scoring.exposure import compute_exposures
from chainsleuth.services.screening.keys import create_key, revoke_key
from chainsleuth.store.db import connect
from tests.chainbuilder import addr, chain, ingest, tag

A = {n: addr(n) for n in ("sanctioned", "mule", "clean", "customer", "exchange")}
BLOCKS = chain(
    [
        {"id": "a" * 64, "ins": [], "outs": [(A["sanctioned"], 100)]},
        {"id": "b" * 64, "ins": [], "outs": [(A["clean"], 50)]},
    ],
    [{"id": "c" * 64, "ins": [("a" * 64, 0)], "outs": [(A["mule"], 90), (A["sanctioned"], 9)]}],
    [{"id": "d" * 64, "ins": [("c" * 64, 0)], "outs": [(A["exchange"], 89)]}],
)


@dataclass
class Service:
    """The running service and the keys made for the tests."""

    url: str
    db: Path
    keys: dict[str, str]
    process: subprocess.Popen[bytes]

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=10.0)


def build_store(db: Path) -> dict[str, str]:
    """Ingest the chain, tag it, compute exposures, create keys; return the keys by role."""
    con = connect(db)
    ingest(con, BLOCKS)
    tag(
        con,
        "bitcoin",
        A["sanctioned"],
        "SDN entity",
        "perpetrator",
        "sanction",
        source="https://sanctionssearch.ofac.treas.gov/",
    )
    tag(con, "bitcoin", A["exchange"], "Exchange K", "exchange")
    compute_exposures(con, "bitcoin")
    keys = {
        "screen": create_key(con, "screening", ["screen"])["key"],
        "admin": create_key(con, "admin", ["admin"])["key"],
        "slow": create_key(con, "slow", ["screen"], rate_per_minute=6)["key"],
        "guard": create_key(con, "guard only", ["guard"])["key"],
    }
    revoked = create_key(con, "old", ["screen"])
    revoke_key(con, revoked["key_id"])
    keys["revoked"] = revoked["key"]
    con.close()
    return keys


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_service(db: Path, keys: dict[str, str]) -> Iterator[Service]:
    """Start `chainsleuth serve` on a free loopback port; stop it afterwards."""
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "chainsleuth.interfaces.cli.main",
            "--db",
            str(db),
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            _, err = proc.communicate()
            raise RuntimeError(f"service did not start: {err.decode()[-2000:]}")
        time.sleep(0.1)
    try:
        yield Service(url, db, keys, proc)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()
        proc.stderr.close()
