"""Bridge traffic from Bitcoin to Ethereum in `sim crosschain`, traced both ways: each
deposit's release (and each release's deposit) is the one the ground truth records."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from chainsleuth.interfaces.cli.main import app
from chainsleuth.sim.tagpack import write_tagpack


def cli(db: Path, *args: str) -> str:
    r = CliRunner().invoke(app, ["--db", str(db), "--quiet", *args])
    assert r.exit_code == 0, r.output
    return r.stdout


@pytest.mark.slow
def test_bitcoin_to_ethereum_crossings_match_the_truth(tmp_path: Path) -> None:
    out, db = tmp_path / "sim", tmp_path / "s.duckdb"
    cli(
        db,
        "sim",
        "crosschain",
        "--out",
        str(out),
        "--txs",
        "3000",
        "--eth-rounds",
        "4",
        "--seed",
        "5",
        "--btc-to-eth",
        "3",
    )
    cli(db, "ingest", "bitcoin", "--from", "etl", str(out / "bitcoin"))
    cli(db, "ingest", "ethereum", "--from", "etl", str(out / "ethereum"))
    write_tagpack(out / "truth.json", out / "tags.yaml")
    cli(db, "tags", "import", str(out / "tags.yaml"))
    cli(db, "prices", "import", str(out / "prices.csv"))
    truth = json.loads((out / "truth.json").read_text())
    deposits = truth["bridge_deposits"]
    assert len(deposits) == 3
    for d in deposits:
        forward = traced(db, "bitcoin", f"{d['btc_txid']}:{d['btc_n']}")
        (pair,) = forward["bridges"]
        assert (pair["deposit_tx"], pair["deposit_amount"]) == (d["btc_txid"], d["btc_amount"])
        assert (pair["release_tx"], pair["release_address"], pair["release_amount"]) == (
            d["eth_txid"],
            d["eth_to"],
            d["amount_wei"],
        )
        assert 0 < pair["confidence"] <= 1
        backward = traced(db, "ethereum", d["eth_txid"], "--direction", "backward")
        (pair,) = backward["bridges"]
        assert (pair["deposit_tx"], pair["deposit_n"]) == (d["btc_txid"], d["btc_n"])
        # backward on Bitcoin from the deposit: the paying user's coins
        assert any(e["chain"] == "bitcoin" for e in backward["edges"])


def traced(db: Path, chain: str, seed: str, *more: str) -> Any:
    """`chainsleuth trace` of `seed` on `chain` as JSON."""
    return json.loads(cli(db, "--format", "json", "trace", "--chain", chain, "--seed", seed, *more))
