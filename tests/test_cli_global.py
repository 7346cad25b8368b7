"""The global options (`--db` and `CHAINSLEUTH_DB`, `--format` before or after a read command)
and the JSON contract of `status` and `address`: snake_case keys, amounts as integers.

A hand-made chain: block 0 pays 50 to P; block 1 spends it to Q (30) and P (19, fee 1).
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from chainsleuth.interfaces.cli.main import app
from chainsleuth.store.db import connect
from tests.chainbuilder import T0, addr, chain, ingest

P, Q = addr("payer"), addr("payee")


@pytest.fixture
def store(db_path: Path) -> Path:
    con = connect(db_path)
    ingest(
        con,
        chain(
            [{"id": "t0", "ins": [], "outs": [(P, 50)]}],
            [{"id": "t1", "ins": [("t0", 0)], "outs": [(Q, 30), (P, 19)]}],
        ),
    )
    con.close()
    return db_path


def run(args: list[str], env: dict[str, str] | None = None) -> str:
    result = CliRunner().invoke(app, args, env=env)
    assert result.exit_code == 0, result.output
    return result.stdout


def test_status_json_from_the_env_store_with_format_after_the_command(store: Path) -> None:
    out = json.loads(run(["status", "--format", "json"], env={"CHAINSLEUTH_DB": str(store)}))
    assert out["store"] == str(store)
    [btc] = out["chains"]
    assert {k: btc[k] for k in ("chain", "first_height", "last_height")} == {
        "chain": "bitcoin",
        "first_height": 0,
        "last_height": 1,
    }
    assert (btc["blocks"], btc["transactions"], btc["addresses"]) == (2, 2, 2)


def test_format_before_the_command_and_db_over_the_env(store: Path, tmp_path: Path) -> None:
    other = str(tmp_path / "other.duckdb")
    args = ["--db", str(store), "--format", "csv", "status"]
    [row] = csv.DictReader(io.StringIO(run(args, env={"CHAINSLEUTH_DB": other})))
    assert (row["chain"], row["blocks"], row["transactions"]) == ("bitcoin", "2", "2")
    assert not Path(other).exists()


def test_default_store_is_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CHAINSLEUTH_DB", raising=False)
    assert json.loads(run(["--format", "json", "status"]))["chains"] == []
    assert (tmp_path / "chainsleuth.duckdb").is_file()


def test_address_json_amounts_are_integer_satoshi(store: Path) -> None:
    view = json.loads(run(["--db", str(store), "address", "bitcoin", P, "-f", "json"]))
    assert {k: view[k] for k in ("balance", "received", "sent", "tx_count")} == {
        "balance": 19,
        "received": 69,
        "sent": 50,
        "tx_count": 2,
    }
    assert all(type(view[k]) is int for k in ("balance", "received", "sent", "tx_count"))
    # ISO 8601 UTC: block 0 at T0, block 1 ten minutes later.
    assert T0.isoformat() == "2024-05-31T12:00:00"
    assert (view["first_seen"], view["last_seen"]) == (
        "2024-05-31T12:00:00Z",
        "2024-05-31T12:10:00Z",
    )


def test_progress_bars_go_to_stderr_and_quiet_silences_them(tmp_path: Path) -> None:
    from chainsleuth.sim import SimConfig, simulate_bitcoin

    export = tmp_path / "x"
    simulate_bitcoin(export, SimConfig(txs=500, seed=1))
    seen = {}
    for quiet in ([], ["--quiet"]):
        db = tmp_path / f"s{len(quiet)}.duckdb"
        args = ["--db", str(db), *quiet, "--format", "json", "ingest", "bitcoin"]
        r = CliRunner().invoke(app, [*args, "--from", "etl", str(export)])
        assert r.exit_code == 0, r.output
        seen[bool(quiet)] = (json.loads(r.stdout)["blocks"], r.stderr)  # stdout: JSON only
    (blocks, bar), (same, silent) = seen[False], seen[True]
    assert blocks == same > 0
    assert "etl: ingesting" in bar and f"{blocks}/{blocks}" in bar
    assert silent == ""


def test_a_usage_error_is_a_usage_line_not_a_traceback(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "chainsleuth.interfaces.cli.main",
            "--db",
            str(tmp_path / "s.duckdb"),
            "status",
            "extra-argument",
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert "unexpected extra argument" in done.stderr and "extra-argument" in done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
