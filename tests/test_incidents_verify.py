"""`incidents verify`: amounts recomputed from simulated theft transactions in the store."""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from chainsleuth.errors import NotFoundError
from chainsleuth.interfaces.cli.main import app
from chainsleuth.store.db import connect
from tests.chainbuilder import chain, ingest

STOLEN = 450_290_000_000  # 4,502.9 BTC in satoshi


def txid(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


COINBASE, THEFT, ETH_THEFT = txid("coinbase"), txid("theft"), "0x" + txid("eth-theft")
STETH = "0xae7ab96520de3a18e5e111b5eaab095312d7fe84"
BASE: dict[str, Any] = {
    "name": "Simulated theft",
    "date": "2024-05-31",
    "victim": {"name": "Sim exchange", "type": "centralised_exchange", "country": "JP"},
    "usd_value": 300_000_000,
    "valuation": "reported",
    "attribution": {"actor": "TraderTraitor", "confidence": "high", "attributed_by": ["test"]},
    "sources": ["doc:simulated incident for tests"],
}


def incident(directory: Path, incident_id: str, **fields: Any) -> None:
    record = {**copy.deepcopy(BASE), "id": incident_id, **fields}
    (directory / f"{incident_id}.yaml").write_text(yaml.safe_dump(record), encoding="utf-8")


def btc(amount: str) -> list[dict[str, str]]:
    return [{"chain": "bitcoin", "asset": "BTC", "amount": amount}]


def seeds(tx: str, *addresses: str, chain_name: str = "bitcoin") -> dict[str, Any]:
    return {
        "txids": [{"chain": chain_name, "txid": tx}],
        "addresses": [{"chain": chain_name, "address": a} for a in addresses],
    }


def add_eth_theft(db: Path) -> None:
    """One Ethereum theft: 401,346 ETH and 90,375 stETH to the thief, 5 ETH to someone else."""
    con = connect(db)
    rows = [("0xvictim", 9001), ("0xthief", 9002), ("0xother", 9003)]
    con.executemany("INSERT INTO addresses VALUES ('ethereum', ?, ?)", rows)
    con.execute(
        "INSERT INTO tokens VALUES ('ethereum', ?, 'stETH', 'Lido stETH', 18, 'erc20', 'test')",
        [STETH],
    )
    transfers = [
        ("tx", "native", "ETH", 9002, 401_346 * 10**18, True),
        ("log:1", "token", STETH, 9002, 90_375 * 10**18, True),
        ("trace:0", "internal", "ETH", 9003, 5 * 10**18, True),
        ("trace:1", "internal", "ETH", 9002, 7 * 10**18, False),  # reverted: not counted
    ]
    for position, kind, asset, to_id, amount, success in transfers:
        con.execute(
            "INSERT INTO transfers VALUES ('ethereum', 21895238, ?, ?, ?, ?, ?, 9001, ?, ?, NULL,"
            " NULL, ?)",
            [
                dt.datetime(2025, 2, 21, 14, 13),
                ETH_THEFT,
                position,
                kind,
                asset,
                to_id,
                amount,
                success,
            ],
        )
    con.close()


@pytest.fixture
def store(db_path: Path, tmp_path: Path) -> Path:
    con = connect(db_path)
    ingest(
        con,
        chain(
            [{"id": COINBASE, "ins": [], "outs": [("victim-hot", STOLEN + 1_000)]}],
            [
                {
                    "id": THEFT,
                    "ins": [(COINBASE, 0)],
                    "outs": [("thief", STOLEN), ("victim-hot", 1_000)],
                }
            ],
        ),
    )
    con.close()
    add_eth_theft(db_path)
    files = tmp_path / "incidents"
    files.mkdir()
    incident(files, "sim-exact", assets=btc("4502.9"), seeds=seeds(THEFT, "thief"))
    incident(files, "sim-change", assets=btc("4502.9"), seeds=seeds(THEFT))
    incident(files, "sim-wrong", assets=btc("4600"), seeds=seeds(THEFT, "thief"), usd_value=1)
    incident(files, "sim-missing", assets=btc("1"), seeds=seeds(txid("not stored"), "thief"))
    incident(
        files,
        "sim-eth",
        date="2025-02-21",
        assets=[
            {"chain": "ethereum", "asset": "ETH", "amount": "401346"},
            {"chain": "ethereum", "asset": "stETH", "amount": "90375"},
        ],
        seeds=seeds(ETH_THEFT, "0xThief", chain_name="ethereum"),
    )
    result = CliRunner().invoke(
        app, ["--db", str(db_path), "-q", "incidents", "import", str(files)]
    )
    assert result.exit_code == 0, result.output
    return db_path


def verify(db: Path, incident_id: str) -> dict[str, Any]:
    result = CliRunner().invoke(
        app, ["--db", str(db), "incidents", "verify", incident_id, "-f", "json"]
    )
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.output)
    return data


def test_exact_amount_to_the_seed_address(store: Path) -> None:
    data = verify(store, "sim-exact")
    (check,) = data["assets"]
    assert (data["status"], check["status"]) == ("verified", "verified")
    assert (check["reported_base"], check["verified_base"], check["difference_base"]) == (
        STOLEN,
        STOLEN,
        0,
    )


def test_without_seed_addresses_change_is_excluded(store: Path) -> None:
    (check,) = verify(store, "sim-change")["assets"]
    assert (check["verified_base"], check["status"]) == (STOLEN, "verified")


def test_difference_and_missing_chain_data(store: Path) -> None:
    data = verify(store, "sim-wrong")
    (check,) = data["assets"]
    assert data["status"] == "differs"
    assert check["difference_base"] == STOLEN - 460_000_000_000
    missing = verify(store, "sim-missing")
    assert missing["status"] == "unverified"
    assert missing["assets"][0]["status"] == "no_chain_data"


def test_ethereum_native_and_token_amounts(store: Path) -> None:
    data = verify(store, "sim-eth")
    assert data["status"] == "verified", data
    assert [c["verified_base"] for c in data["assets"]] == [401_346 * 10**18, 90_375 * 10**18]


def test_stats_mark_verified_totals(store: Path) -> None:
    result = CliRunner().invoke(
        app, ["--db", str(store), "incidents", "stats", "--by", "year", "-f", "json"]
    )
    rows = {r["year"]: r for r in json.loads(result.output)}
    assert (rows[2024]["incidents"], rows[2024]["verified"], rows[2024]["verified_usd"]) == (
        4,
        2,
        600_000_000,
    )
    assert (rows[2025]["verified"], rows[2025]["verified_usd"]) == (1, 300_000_000)


def test_verify_needs_imported_incidents(db_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["--db", str(db_path), "incidents", "verify", "dmm-bitcoin-2024"]
    )
    assert isinstance(result.exception, NotFoundError)
    assert "incidents import" in str(result.exception)
