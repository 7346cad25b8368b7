"""The Ethereum simulator through the real ETL reader: ingested flows against ground truth."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import duckdb
import pytest

from chainsleuth.ingest.common import IngestOptions
from chainsleuth.ingest.ethereum_etl import ingest_eth_etl
from chainsleuth.sim.ethereum import EthSimConfig, simulate_ethereum
from chainsleuth.store.account_queries import eth_address_view, eth_tx_view

CFG = EthSimConfig(rounds=6, users=12, intermediaries=40, seed=3)


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ethsim")
    simulate_ethereum(out, CFG)
    return out


@pytest.fixture
def truth(sim: Path) -> dict[str, Any]:
    return dict(json.loads((sim / "truth.json").read_text()))


@pytest.fixture
def ingested(con: duckdb.DuckDBPyConnection, sim: Path) -> duckdb.DuckDBPyConnection:
    summary = ingest_eth_etl(con, sim, IngestOptions())
    assert summary.blocks > 0 and not summary.notes
    return con


def test_same_seed_same_bytes(sim: Path, tmp_path: Path) -> None:
    simulate_ethereum(tmp_path, CFG)
    for name in ("transactions.csv", "logs.csv", "traces.csv", "truth.json"):
        assert (tmp_path / name).read_bytes() == (sim / name).read_bytes()
    assert (sim / "transactions.csv").read_bytes().count(b"\r\n") > 100


def test_balances_match_truth(ingested: duckdb.DuckDBPyConnection, truth: dict[str, Any]) -> None:
    balances = truth["balances"]
    theft = truth["thefts"][0]
    sample = random.Random(5).sample(sorted(balances), 25) + list(theft["held"])[:5]
    for address in sample:
        view = eth_address_view(ingested, address)
        got = {b["asset"]: b["balance"] for b in view["balances"]}
        expected = {asset: v for asset, v in balances[address].items() if v or asset in got}
        assert {a: got.get(a, 0) for a in expected} == expected, address
    assert ingested.execute("SELECT bool_and(internal_available) FROM eth_blocks").fetchall() == [
        (True,)
    ]


def test_theft_flows_match_truth(
    ingested: duckdb.DuckDBPyConnection, truth: dict[str, Any]
) -> None:
    theft = truth["thefts"][0]
    view = eth_tx_view(ingested, theft["seed"]["txid"])
    drain = theft["seed"]["addresses"][0]
    internal = [f for f in view["transfers"] if f["kind"] == "internal"]
    # The delegatecall frame moves nothing and is not a transfer; the drain is.
    assert [(f["to_address"], f["amount"]) for f in internal] == [(drain, theft["stolen"])]
    tokens = {f["asset"]: f["amount"] for f in view["transfers"] if f["kind"] == "token"}
    assert tokens == theft["stolen_tokens"]
    # Swaps: token in and ETH out in one transaction, as the truth says.
    for swap in theft["swaps"]:
        flows = eth_tx_view(ingested, swap["txid"])["transfers"]
        assert {(f["kind"], f["asset"], f["amount"]) for f in flows} == {
            ("token", swap["token"], swap["amount_in"]),
            ("internal", "ETH", swap["eth_out"]),
        }
    # Every endpoint receives exactly its amount from the thief's addresses.
    thief = set(theft["held"]) | {drain} | _hops(truth)
    for end in theft["endpoints"]:
        got = ingested.execute(
            """
            SELECT coalesce(sum(t.amount), 0) FROM transfers t
            JOIN addresses f ON f.address_id = t.from_id
            JOIN addresses o ON o.address_id = t.to_id
            WHERE t.success AND t.asset = 'ETH' AND list_contains($thief, f.address)
              AND list_contains($to, o.address)
            """,
            {"thief": sorted(thief), "to": end["addresses"]},
        ).fetchall()[0][0]
        assert got == end["amount"], end["label"]
    stolen_in = theft["stolen"] + sum(s["eth_out"] for s in theft["swaps"])
    out = sum(e["amount"] for e in theft["endpoints"]) + theft["held_by_thief"] + theft["fees"]
    assert stolen_in == out


def _hops(truth: dict[str, Any]) -> set[str]:
    thief = truth["thefts"][0]["thief"]["entity"]
    return {a for a, e in truth["addresses"].items() if e == thief}


def test_bridge_releases_and_deposit_forwarding(
    ingested: duckdb.DuckDBPyConnection, truth: dict[str, Any]
) -> None:
    stolen = [r for r in truth["bridge_releases"] if r["stolen"]]
    assert len(stolen) >= 15
    for release in stolen:
        flows = eth_tx_view(ingested, release["eth_txid"])["transfers"]
        assert [(f["kind"], f["from_address"], f["amount"]) for f in flows] == [
            ("native", release["eth_from"], release["amount_wei"])
        ]
    # Deposit addresses send ETH only to their exchange's hot wallet.
    kinds = {e["id"]: e for e in truth["entities"]}
    rows = ingested.execute(
        """
        SELECT f.address, o.address FROM transfers t
        JOIN addresses f ON f.address_id = t.from_id JOIN addresses o ON o.address_id = t.to_id
        WHERE t.kind = 'native' AND t.success
        """
    ).fetchall()
    owner = truth["addresses"]
    forwarded = 0
    for frm, to in rows:
        entity = owner.get(frm)
        if entity is not None and kinds[entity]["kind"] == "exchange" and owner.get(to) == entity:
            forwarded += 1
    assert forwarded > 10
    # Contracts (created by transactions) are known as such; deposit addresses are not.
    dex = next(e["id"] for e in truth["entities"] if e["kind"] == "dex")
    pool = next(a for a, e in owner.items() if e == dex)
    assert eth_address_view(ingested, pool)["is_contract"]
    assert not eth_address_view(ingested, stolen[0]["eth_from"])["is_contract"]
