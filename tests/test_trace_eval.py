"""Tracing accuracy against the simulators' ground truth (issue 6 goals: haircut recall and
precision at least 0.90 on the dmm-like theft on Bitcoin and the bybit-like theft across
Ethereum and Bitcoin)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from chainsleuth.interfaces.cli.main import app
from chainsleuth.sim import SimConfig, simulate_bitcoin
from chainsleuth.sim.crosschain import simulate_crosschain
from chainsleuth.sim.eth_config import EthSimConfig
from chainsleuth.sim.tagpack import write_tagpack


def cli(db: Path, *args: str) -> str:
    r = CliRunner().invoke(app, ["--db", str(db), "--quiet", *args])
    assert r.exit_code == 0, r.output
    return r.stdout


def evaluate(db: Path, truth: Path, *models: str) -> dict[tuple[str, str], dict]:
    """(scenario, model) -> the `eval tracing` row."""
    chosen = [arg for m in models for arg in ("--model", m)]
    rows = json.loads(
        cli(db, "eval", "tracing", "--truth", str(truth), *chosen, "--format", "json")
    )
    return {(r["scenario"], r["model"]): r for r in rows}


@pytest.mark.slow
def test_dmm_like_bitcoin_theft(tmp_path: Path) -> None:
    out, db = tmp_path / "chain", tmp_path / "s.duckdb"
    simulate_bitcoin(out, SimConfig(txs=6000, seed=11))
    cli(db, "ingest", "bitcoin", "--from", "etl", str(out))
    write_tagpack(out / "truth.json", out / "tags.yaml")
    cli(db, "tags", "import", str(out / "tags.yaml"))
    got = {m: r for (_, m), r in evaluate(db, out / "truth.json").items()}
    assert set(got) == {"poison", "haircut", "fifo", "lifo"}
    assert got["haircut"]["recall"] >= 0.90 and got["haircut"]["precision"] >= 0.90
    # poison over-taints: never more precise than haircut
    assert got["poison"]["precision"] <= got["haircut"]["precision"]


@pytest.mark.slow
def test_bybit_like_theft_across_ethereum_and_bitcoin(tmp_path: Path) -> None:
    out, db = tmp_path / "sim", tmp_path / "s.duckdb"
    eth = EthSimConfig(rounds=4, users=10, intermediaries=10, seed=5)  # 5 bridge hops
    simulate_crosschain(out, SimConfig(txs=3000, seed=5), eth)
    cli(db, "ingest", "bitcoin", "--from", "etl", str(out / "bitcoin"))
    cli(db, "ingest", "ethereum", "--from", "etl", str(out / "ethereum"))
    write_tagpack(out / "truth.json", out / "tags.yaml")
    cli(db, "tags", "import", str(out / "tags.yaml"))
    # Without the day's prices the bridge's releases cannot be matched: the trace stops at
    # the Ethereum bridge, and most of the stolen value is not found where it went.
    blind = evaluate(db, out / "truth.json", "haircut")[("bybit-like", "haircut")]
    assert blind["recall"] < 0.5
    cli(db, "prices", "import", str(out / "prices.csv"))
    got = evaluate(db, out / "truth.json", "haircut", "poison")
    haircut = got[("bybit-like", "haircut")]
    assert haircut["chains"] == "ethereum+bitcoin"
    assert haircut["recall"] >= 0.90 and haircut["precision"] >= 0.90
    assert haircut["endpoints_reported"] == haircut["endpoints_true"]
    assert got[("bybit-like", "poison")]["precision"] <= haircut["precision"]
    dmm = got[("dmm-like-btc", "haircut")]  # the same Bitcoin chain's own theft
    assert dmm["recall"] >= 0.90 and dmm["precision"] >= 0.90
