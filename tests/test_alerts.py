"""Alerts from watchlists, delivered to a real webhook receiver with HMAC signatures."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from chainsleuth.services.screening.alerts import deliver_pending, list_alerts, scan
from chainsleuth.services.screening.engine import Screener
from chainsleuth.services.screening.policy import load_policy
from chainsleuth.services.screening.watchlists import create_watchlist
from chainsleuth.store.db import connect
from tests.service_fixture import A, build_store


class Receiver:
    """A webhook endpoint on loopback that fails its first `fail` requests with HTTP 503."""

    def __init__(self, fail: int) -> None:
        self.fail = fail
        self.received: list[tuple[bytes, str]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if outer.fail > 0:
                    outer.fail -= 1
                    self.send_response(503)
                else:
                    outer.received.append((body, self.headers["X-Chainsleuth-Signature"]))
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver(fail=1)
    yield r
    r.server.shutdown()
    r.server.server_close()


def test_watched_movement_alert_is_signed_and_retried(tmp_path: Path, receiver: Receiver) -> None:
    db = tmp_path / "s.duckdb"
    build_store(db)
    con = connect(db)
    made = create_watchlist(
        con,
        "mule watch",
        [{"kind": "address", "chain": "bitcoin", "value": A["mule"]}],
        [receiver.url],
    )
    screener = Screener(con, load_policy())
    # The mule receives at height 1 and pays the exchange at height 2.
    assert scan(con, "bitcoin", 0, 2, screener) == 2
    assert scan(con, "bitcoin", 0, 2, screener) == 0  # no duplicates on a re-scan
    kinds = {(a["kind"], a["block_height"]) for a in list_alerts(con)}
    assert kinds == {("watched-inflow", 1), ("watched-outflow", 2)}
    t0 = dt.datetime(2030, 1, 1)
    # First try: the receiver answers 503 for one request -> one delivered, one retried.
    assert deliver_pending(con, now=t0) == {"delivered": 1, "retry": 1, "failed": 0}
    states = [d for a in list_alerts(con) for d in a["deliveries"]]
    assert sorted(d["status"] for d in states) == ["delivered", "pending"]
    assert any(d["last_error"] == "HTTP 503" for d in states)
    # Not due again before the backoff, then delivered.
    assert deliver_pending(con, now=t0 + dt.timedelta(seconds=5))["delivered"] == 0
    assert deliver_pending(con, now=t0 + dt.timedelta(minutes=5))["delivered"] == 1
    for body, signature in receiver.received:
        expected = hmac.new(made["secret"].encode(), body, hashlib.sha256).hexdigest()
        assert signature == f"sha256={expected}"
        assert json.loads(body)["watchlist"] == "mule watch"


def test_risky_deposit_to_watched_exchange(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    build_store(db)
    con = connect(db)
    create_watchlist(
        con, "our exchange", [{"kind": "address", "chain": "bitcoin", "value": A["exchange"]}], []
    )
    assert scan(con, "bitcoin", 0, 2, Screener(con, load_policy())) == 1
    (alert,) = list_alerts(con)
    assert alert["kind"] == "high-exposure-deposit"
    assert alert["detail"]["deposit_risk"]["level"] == "severe"


@pytest.mark.slow
def test_ingesting_new_blocks_raises_alerts(tmp_path: Path) -> None:
    """A watched address moving funds in newly ingested blocks is an alert of that ingest."""
    from typer.testing import CliRunner

    from chainsleuth.interfaces.cli.main import app
    from chainsleuth.sim import SimConfig, simulate_bitcoin

    simulate_bitcoin(tmp_path / "chain", SimConfig(txs=3000, seed=5))
    truth = json.loads((tmp_path / "chain" / "truth.json").read_text())
    theft = truth["thefts"][0]
    db = str(tmp_path / "s.duckdb")
    runner = CliRunner()

    def ingest(*args: str) -> dict:
        r = runner.invoke(
            app,
            [
                "--db",
                db,
                "--quiet",
                "--format",
                "json",
                "ingest",
                "bitcoin",
                "--from",
                "etl",
                str(tmp_path / "chain"),
                *args,
            ],
        )
        assert r.exit_code == 0, r.output
        return json.loads(r.stdout)

    before = ingest("--end", str(theft["height"] - 1))
    assert before["alerts"] == 0
    con = connect(db)
    create_watchlist(
        con,
        "thief",
        [{"kind": "address", "chain": "bitcoin", "value": theft["seed"]["addresses"][0]}],
        [],
    )
    con.close()
    after = ingest()
    assert after["alerts"] >= 1
    con = connect(db)
    kinds = {a["kind"] for a in list_alerts(con)}
    assert "watched-inflow" in kinds
