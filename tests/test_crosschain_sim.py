"""The cross-chain simulator: Ethereum bridge deposits released as real Bitcoin transactions,
and a ground truth that accounts for every stolen unit on both chains.

The Bitcoin side is read with DuckDB's own JSON reader and the Ethereum side with the csv
module, independently of chainsleuth's ingesters."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path
from typing import Any

import duckdb
import pytest
from typer.testing import CliRunner

from chainsleuth.errors import InputError
from chainsleuth.interfaces.cli.main import app
from chainsleuth.sim import SimConfig
from chainsleuth.sim.crosschain import simulate_crosschain
from chainsleuth.sim.eth_config import EthSimConfig

BTC = SimConfig(txs=3000, seed=5)
ETH = EthSimConfig(rounds=4, users=10, intermediaries=10, seed=5)
ETHER = 10**18
SAT_PER_ETH = 3_000_000  # the prices written in prices.csv: ETH $3,000, BTC $100,000


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("crosschain")
    simulate_crosschain(out, BTC, ETH)
    return out


@pytest.fixture(scope="module")
def truth(sim: Path) -> dict[str, Any]:
    return dict(json.loads((sim / "truth.json").read_text()))


@pytest.fixture(scope="module")
def btc(sim: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    path = sim / "bitcoin" / "transactions.json"
    con.execute(f"CREATE TABLE t AS SELECT * FROM read_json('{path}')")
    con.execute("CREATE TABLE o AS SELECT t.hash, u.* FROM t, unnest(t.outputs) AS x(u)")
    con.execute("CREATE TABLE i AS SELECT t.hash, u.* FROM t, unnest(t.inputs) AS x(u)")
    return con


def _entity(truth: dict[str, Any], kind: str, chain: str) -> int:
    (found,) = [e["id"] for e in truth["entities"] if (e["kind"], e["chain"]) == (kind, chain)]
    return int(found)


def _seconds(iso: str) -> int:
    return int(dt.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp())


def test_releases_are_bitcoin_transactions(
    sim: Path, truth: dict[str, Any], btc: duckdb.DuckDBPyConnection
) -> None:
    owner = truth["addresses"]
    bridge = _entity(truth, "bridge", "bitcoin")
    thieves = {e["id"] for e in truth["entities"] if e["kind"] == "thief"}
    users = {e["id"] for e in truth["entities"] if (e["kind"], e["chain"]) == ("user", "bitcoin")}
    with (sim / "ethereum" / "transactions.csv").open(newline="") as fh:
        calldata = {row["hash"]: row["input"] for row in csv.DictReader(fh)}
    releases = truth["bridge_releases"]
    assert sum(r["stolen"] for r in releases) == 5 and len(releases) > 5
    for r in releases:
        # The deposit's calldata names the address the release pays, at the bridge's rate.
        memo = bytes.fromhex(calldata[r["eth_txid"]][2:]).decode()
        assert memo == "=:BTC.BTC:" + r["btc_address"]
        assert r["btc_amount"] == r["amount_wei"] * SAT_PER_ETH // ETHER
        assert r["btc_amount"] * 0.99 < r["btc_value"] < r["btc_amount"]
        value, address, ts = btc.execute(
            "SELECT o.value, o.addresses[1], t.block_timestamp FROM o JOIN t USING (hash)"
            " WHERE o.hash = ? AND o.index = ?",
            [r["btc_txid"], r["btc_n"]],
        ).fetchall()[0]
        assert (value, address) == (r["btc_value"], r["btc_address"])
        # Paid by the bridge's wallet, after the deposit, well within the tracer's window.
        payers = btc.execute(
            "SELECT DISTINCT addresses[1] FROM i WHERE hash = ?", [r["btc_txid"]]
        ).fetchall()
        assert {owner[a] for (a,) in payers} == {bridge}
        assert 0 < ts - _seconds(r["eth_time"]) < 3600
        assert owner[r["btc_address"]] in (thieves if r["stolen"] else users)


def test_every_stolen_unit_is_accounted_for(
    truth: dict[str, Any], btc: duckdb.DuckDBPyConnection
) -> None:
    assert [t["id"] for t in truth["thefts"]] == ["dmm-like-btc", "bybit-like"]
    theft = truth["thefts"][1]
    ends = {
        c: [e for e in theft["endpoints"] if e.get("chain", "ethereum") == c]
        for c in truth["chains"]
    }
    assert {e["kind"] for e in ends["ethereum"]} == {"mixer", "exchange"}
    assert {e["kind"] for e in ends["bitcoin"]} == {"exchange", "otc"}
    # Ethereum: stolen ETH and swap proceeds = endpoints + bridged + held + fees.
    bridged = theft["bridged"]
    eth_in = theft["stolen"] + sum(s["eth_out"] for s in theft["swaps"])
    eth_out = sum(e["amount"] for e in ends["ethereum"]) + bridged["amount"]
    assert eth_in == eth_out + theft["held_by_thief"] + theft["fees"]
    # The bridge: what it converted = what it released to the thief + its fee.
    stolen_releases = [truth["bridge_releases"][i] for i in bridged["releases"]]
    assert all(r["stolen"] for r in stolen_releases)
    assert bridged["amount"] == sum(r["amount_wei"] for r in stolen_releases)
    assert bridged["btc_amount"] == sum(r["btc_amount"] for r in stolen_releases)
    assert bridged["released"] == sum(r["btc_value"] for r in stolen_releases)
    assert bridged["btc_amount"] == bridged["released"] + bridged["bridge_fees"]
    # Bitcoin: what the thief received = endpoints + held + fees + the CoinJoin's fee.
    part = theft["bitcoin"]
    assert part["received"] == bridged["released"]
    btc_out = sum(e["amount"] for e in ends["bitcoin"])
    assert (
        part["received"] == btc_out + part["held_by_thief"] + part["fees"] + part["coinjoin_fees"]
    )
    # The thief's first Bitcoin transaction spends exactly the releases it was paid.
    spent = btc.execute(
        "SELECT spent_transaction_hash FROM i WHERE hash = ?", [part["txids"][0]]
    ).fetchall()
    assert sorted(h for (h,) in spent) == sorted(part["release_txids"])
    # Each Bitcoin endpoint's amount is what the thief's transactions paid to its addresses.
    for end in ends["bitcoin"]:
        paid = btc.execute(
            "SELECT sum(value) FROM o WHERE list_contains(?::VARCHAR[], hash)"
            " AND list_contains(?::VARCHAR[], addresses[1])",
            [part["txids"], end["addresses"]],
        ).fetchall()[0][0]
        assert paid == end["amount"]
        assert all(truth["addresses"][a] == end["entity"] for a in end["addresses"])
    # Entity ids are unique across the chains; every address of both chains has an owner.
    ids = [e["id"] for e in truth["entities"]]
    assert ids == list(range(len(ids)))
    chains = {e["id"]: e["chain"] for e in truth["entities"]}
    assert {chains[e] for a, e in truth["addresses"].items() if a.startswith("0x")} == {"ethereum"}
    assert {chains[e] for a, e in truth["addresses"].items() if a.startswith("bc1")} == {"bitcoin"}


def test_same_seed_same_bytes(sim: Path, tmp_path: Path) -> None:
    simulate_crosschain(tmp_path, BTC, ETH)
    for name in (
        "truth.json",
        "prices.csv",
        "bitcoin/transactions.json",
        "ethereum/transactions.csv",
    ):
        assert (tmp_path / name).read_bytes() == (sim / name).read_bytes(), name


def test_a_bitcoin_chain_too_short_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="at least 4 rounds"):
        simulate_crosschain(tmp_path, SimConfig(txs=300, seed=5), ETH)


def test_cli(tmp_path: Path) -> None:
    args = ["--quiet", "--format", "json", "sim", "crosschain", "--out", str(tmp_path)]
    r = CliRunner().invoke(app, [*args, "--txs", "3000", "--eth-rounds", "4", "--seed", "2"])
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)
    assert summary["btc_txs"] == 3000 and summary["stolen_wei"] == 400_000 * ETHER
    names = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.*")}
    assert {"truth.json", "prices.csv", "bitcoin/blocks.json", "ethereum/traces.csv"} <= names
    r = CliRunner().invoke(app, [*args, "--txs", "300"])  # the CLI's entry point prints it
    assert isinstance(r.exception, InputError) and "at least 4 rounds" in str(r.exception)
