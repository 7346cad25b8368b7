"""`incidents verify`: amounts recomputed from simulated theft transactions in the store."""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
from decimal import Decimal
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


# --- a simulated incident on a simulated chain ----------------------------------------------

SIM_USD = 306_000_000  # a nominal value, given to the record so stats can total it


def simulated_incident(root: Path, *, txs: int = 8_000, seed: int = 7) -> dict[str, Any]:
    """Simulate a small chain into `root/chain`, ingest it into `root/store.duckdb`, write its
    theft as an incident with `chainsleuth.sim.incident` into `root/incidents`, validate and
    import it with the CLI. Returns the paths, the theft's truth and the incident id."""
    from chainsleuth.ingest.bitcoin_etl import ingest_etl
    from chainsleuth.ingest.common import IngestOptions
    from chainsleuth.sim import SimConfig, simulate_bitcoin
    from chainsleuth.sim.incident import write_incidents

    chain_dir, db, files = root / "chain", root / "store.duckdb", root / "incidents"
    simulate_bitcoin(chain_dir, SimConfig(txs=txs, seed=seed))
    con = connect(db)
    ingest_etl(con, str(chain_dir), IngestOptions())
    con.close()
    truth = json.loads((chain_dir / "truth.json").read_text(encoding="utf-8"))
    (path,) = write_incidents(chain_dir / "truth.json", files, usd_value=SIM_USD)
    for command in (["incidents", "validate", str(files)], ["incidents", "import", str(files)]):
        result = CliRunner().invoke(app, ["--db", str(db), "-q", *command])
        assert result.exit_code == 0, result.output
    return {
        "db": db,
        "chain": chain_dir,
        "files": files,
        "truth": truth,
        "theft": truth["thefts"][0],
        "id": path.stem,
    }


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return simulated_incident(tmp_path_factory.mktemp("sim-incident"))


@pytest.mark.slow
def test_simulated_theft_is_a_valid_incident_record(sim: dict[str, Any]) -> None:
    theft = sim["theft"]
    record = yaml.safe_load((sim["files"] / f"{sim['id']}.yaml").read_text(encoding="utf-8"))
    assert sim["id"] == "sim-s7-dmm-like-btc"
    assert record["date"] == theft["time"][:10]
    (asset,) = record["assets"]
    assert (asset["chain"], asset["asset"]) == ("bitcoin", "BTC")
    assert int(Decimal(asset["amount"]).scaleb(8)) == theft["stolen"]
    assert record["seeds"]["txids"] == [{"chain": "bitcoin", "txid": theft["seed"]["txid"]}]
    assert [a["address"] for a in record["seeds"]["addresses"]] == theft["seed"]["addresses"]
    assert record["sources"] == ["doc:chainsleuth simulator seed 7, truth.json theft dmm-like-btc"]


@pytest.mark.slow
def test_verify_recomputes_the_simulated_theft(sim: dict[str, Any]) -> None:
    data = verify(sim["db"], sim["id"])
    (check,) = data["assets"]
    stolen = sim["theft"]["stolen"]
    assert (data["status"], check["status"]) == ("verified", "verified")
    assert (check["reported_base"], check["verified_base"], check["difference_base"]) == (
        stolen,
        stolen,
        0,
    )
    assert (check["theft_txs"], check["theft_txs_stored"]) == (1, 1)


@pytest.mark.slow
def test_stats_mark_the_simulated_total_verified(sim: dict[str, Any]) -> None:
    year = int(sim["theft"]["time"][:4])
    for by, key, value in (
        ("year", "year", year),
        ("actor", "actor", "dmm-like-thief (simulated)"),
    ):
        result = CliRunner().invoke(
            app, ["--db", str(sim["db"]), "incidents", "stats", "--by", by, "-f", "json"]
        )
        assert result.exit_code == 0, result.output
        rows = {r[key]: r for r in json.loads(result.output)}
        row = rows[value]
        assert (row["incidents"], row["stolen_usd"]) == (1, SIM_USD)
        assert (row["verified"], row["verified_usd"]) == (1, SIM_USD)


@pytest.mark.slow
def test_a_misreported_simulated_amount_differs(sim: dict[str, Any], tmp_path: Path) -> None:
    record = yaml.safe_load((sim["files"] / f"{sim['id']}.yaml").read_text(encoding="utf-8"))
    stolen = sim["theft"]["stolen"]
    record["id"] = "sim-misreported"
    record["assets"][0]["amount"] = format(Decimal(stolen + 1).scaleb(-8), "f")
    (tmp_path / "sim-misreported.yaml").write_text(yaml.safe_dump(record), encoding="utf-8")
    result = CliRunner().invoke(
        app, ["--db", str(sim["db"]), "-q", "incidents", "import", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    data = verify(sim["db"], "sim-misreported")
    assert data["status"] == "differs"
    assert (data["assets"][0]["verified_base"], data["assets"][0]["difference_base"]) == (
        stolen,
        -1,
    )


@pytest.mark.slow
def test_trace_from_an_incident_id(sim: dict[str, Any]) -> None:
    base = ["--db", str(sim["db"]), "-q", "-f", "json", "trace", "--max-hops", "3"]
    result = CliRunner().invoke(app, [*base, "--seed", f"incident:{sim['id']}"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert {i["kind"] for i in data["seed"]["items"]} == {"output"}
    assert {i["tx_hash"] for i in data["seed"]["items"]} == {sim["theft"]["seed"]["txid"]}
    assert data["seed"]["amount"] == sim["theft"]["stolen"]
    unknown = CliRunner().invoke(app, [*base, "--seed", "incident:no-such-incident"])
    assert isinstance(unknown.exception, NotFoundError)
