"""The Bitcoin simulator: a valid UTXO chain, bitcoin-etl field names, and ground truth
that agrees with the chain (owners, CoinJoins, where every stolen satoshi went)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import bech32
import duckdb
import numpy as np
import pytest

from chainsleuth.chains.bitcoin.address import decode
from chainsleuth.errors import InputError
from chainsleuth.sim import SimConfig, simulate_bitcoin
from chainsleuth.sim.config import BOOTSTRAP_BLOCKS, DUST, SUBSIDY
from chainsleuth.sim.encode import DOMAIN_TX, hex_ids, p2wpkh

TXS = 4_000
SEED = 11
FIXTURES = "bitcoin/etl-fixtures/test_export_blocks_job/bitcoin"


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sim")
    simulate_bitcoin(out, SimConfig(txs=TXS, seed=SEED))
    return out


@pytest.fixture(scope="module")
def truth(chain: Path) -> dict[str, Any]:
    return dict(json.loads((chain / "truth.json").read_text()))


@pytest.fixture(scope="module")
def db(chain: Path) -> duckdb.DuckDBPyConnection:
    """The simulated files flattened by DuckDB (independently of chainsleuth's ETL reader)."""
    con = duckdb.connect()
    con.execute(f"CREATE TABLE t AS SELECT * FROM read_json('{chain}/transactions.json')")
    con.execute(f"CREATE TABLE b AS SELECT * FROM read_json('{chain}/blocks.json')")
    con.execute(
        "CREATE TABLE o AS SELECT t.hash, t.block_number AS h, t.index AS pos, t.is_coinbase,"
        " u.* FROM t, unnest(t.outputs) AS x(u)"
    )
    con.execute(
        "CREATE TABLE i AS SELECT t.hash, t.block_number AS h, t.index AS pos, u.*"
        " FROM t, unnest(t.inputs) AS x(u)"
    )
    return con


def one(con: duckdb.DuckDBPyConnection, sql: str) -> Any:
    row = con.execute(sql).fetchone()
    assert row is not None
    return row[0]


def test_p2wpkh_addresses_match_independent_bech32() -> None:
    ids = np.arange(0, 5000, 7, dtype=np.int64)
    text, program = p2wpkh(ids, 99)
    for row_text, row_program in zip(text, program, strict=True):
        address = bytes(row_text).decode()
        assert bech32.decode("bc", address) == (0, list(bytes(row_program)))
        assert decode(address, "mainnet").program == bytes(row_program)


def test_names_are_unique() -> None:
    ids = np.arange(200_000, dtype=np.int64)
    assert len(set(hex_ids(ids, 3, DOMAIN_TX).to_pylist())) == len(ids)
    text, _ = p2wpkh(ids, 3)
    assert len(np.unique(text.view("S42"))) == len(ids)


def test_exact_size_and_deterministic(chain: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    summary = simulate_bitcoin(again, SimConfig(txs=TXS, seed=SEED))
    assert summary.txs == TXS
    for name in ("blocks.json", "transactions.json", "truth.json"):
        digest = [hashlib.sha256((d / name).read_bytes()).hexdigest() for d in (chain, again)]
        assert digest[0] == digest[1], name
    other = simulate_bitcoin(tmp_path / "other", SimConfig(txs=TXS, seed=SEED + 1))
    assert other.txs == TXS
    assert (tmp_path / "other/transactions.json").read_bytes() != (
        chain / "transactions.json"
    ).read_bytes()


def test_too_small_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="--txs 50"):
        simulate_bitcoin(tmp_path, SimConfig(txs=50))


def test_field_names_are_bitcoin_etl(chain: Path, shared_data: Path) -> None:
    """Same keys, in the same order, as bitcoin-etl's real enriched stream export."""
    real = [
        json.loads(line)
        for line in (shared_data / FIXTURES / "stream_50001_50002/expected_transactions.json")
        .read_text()
        .splitlines()
    ]
    ours = [
        json.loads(line) for line in (chain / "transactions.json").read_text().splitlines()[-50:]
    ]
    spend = next(t for t in real if t["inputs"])
    mine = next(t for t in ours if t["inputs"])
    assert list(mine) == [k for k in spend if k not in ("type", "item_id")]
    assert list(mine["inputs"][0]) == list(spend["inputs"][0])
    assert list(mine["outputs"][0]) == list(spend["outputs"][0])
    real_block = json.loads(
        (shared_data / FIXTURES / "block_with_transactions/expected_blocks.json")
        .read_text()
        .splitlines()[0]
    )
    our_block = json.loads((chain / "blocks.json").read_text().splitlines()[0])
    assert list(our_block) == list(real_block)


def test_a_valid_utxo_chain(db: duckdb.DuckDBPyConnection) -> None:
    assert one(db, "SELECT count(*) FROM t") == TXS
    assert one(db, "SELECT count(DISTINCT hash) FROM t") == TXS
    # Every input spends an earlier output, with its address and value, exactly once.
    assert (
        one(
            db,
            "SELECT count(*) FROM i LEFT JOIN o ON o.hash = i.spent_transaction_hash"
            " AND o.index = i.spent_output_index WHERE o.hash IS NULL OR o.value <> i.value"
            " OR o.addresses <> i.addresses OR (o.h, o.pos) >= (i.h, i.pos)",
        )
        == 0
    )
    assert (
        one(
            db,
            "SELECT count(*) FROM (SELECT 1 FROM i GROUP BY spent_transaction_hash,"
            " spent_output_index HAVING count(*) > 1)",
        )
        == 0
    )
    # Coinbase outputs wait 100 blocks.
    assert (
        one(
            db,
            "SELECT count(*) FROM i JOIN o ON o.hash = i.spent_transaction_hash"
            " WHERE o.is_coinbase AND i.h - o.h < 100",
        )
        == 0
    )
    # Amounts: inputs = outputs + fee, no dust, counts agree with the lists.
    assert (
        one(
            db,
            "SELECT count(*) FROM t WHERE NOT is_coinbase AND"
            " (input_value <> output_value + fee OR fee < 0)",
        )
        == 0
    )
    assert (
        one(
            db,
            "SELECT count(*) FROM t WHERE input_count <> len(inputs)"
            " OR output_count <> len(outputs)",
        )
        == 0
    )
    assert one(db, "SELECT min(value) FROM o") >= DUST
    # Blocks: heights 0..n-1, one coinbase first in each, which takes subsidy + fees.
    blocks = one(db, "SELECT count(*) FROM b")
    assert one(db, "SELECT max(number) FROM b") == blocks - 1
    assert one(db, "SELECT sum(transaction_count) FROM b") == TXS
    assert one(db, "SELECT count(*) FROM t WHERE is_coinbase <> (index = 0)") == 0
    assert (
        one(
            db,
            f"""
        SELECT count(*) FROM t c JOIN (SELECT block_number, sum(fee) AS fees FROM t
                                       WHERE NOT is_coinbase GROUP BY 1) f USING (block_number)
        WHERE c.is_coinbase AND c.block_number >= {BOOTSTRAP_BLOCKS}
          AND c.output_value <> {SUBSIDY} + f.fees""",
        )
        == 0
    )
    assert (
        one(
            db,
            "SELECT count(*) FROM t JOIN b ON b.number = t.block_number"
            " WHERE b.hash <> t.block_hash OR b.timestamp <> t.block_timestamp",
        )
        == 0
    )


def test_scripts_match_addresses(db: duckdb.DuckDBPyConnection) -> None:
    rows = db.execute("SELECT addresses[1], script_hex FROM o USING SAMPLE 300 ROWS").fetchall()
    for address, script in rows:
        assert script == "0014" + decode(address, "mainnet").program.hex()


def test_truth_owns_every_address(db: duckdb.DuckDBPyConnection, truth: dict[str, Any]) -> None:
    used = {r[0] for r in db.execute("SELECT DISTINCT addresses[1] FROM o").fetchall()}
    owners = truth["addresses"]
    assert used == set(owners)
    kinds = Counter(e["kind"] for e in truth["entities"])
    assert set(kinds) == {"user", "merchant", "miner", "otc", "coinjoin", "exchange", "thief"}
    assert all(truth["entities"][e]["id"] == e for e in range(len(truth["entities"])))


def test_inputs_share_an_owner_except_in_coinjoins(
    db: duckdb.DuckDBPyConnection, truth: dict[str, Any]
) -> None:
    owners = truth["addresses"]
    coinjoins = set(truth["coinjoins"])
    assert coinjoins
    by_tx: dict[str, set[int]] = {}
    for tx, address in db.execute("SELECT hash, addresses[1] FROM i").fetchall():
        by_tx.setdefault(tx, set()).add(owners[address])
    multi = [tx for tx, o in by_tx.items() if len(o) > 1]
    assert set(multi) == coinjoins
    # The multi-input heuristic has plenty to find.
    assert one(db, "SELECT count(*) FROM t WHERE input_count > 1") > TXS // 10


def test_coinjoins_look_like_coinjoins(
    db: duckdb.DuckDBPyConnection, truth: dict[str, Any]
) -> None:
    for txid in truth["coinjoins"]:
        values = [r[0] for r in db.execute("SELECT value FROM o WHERE hash = ?", [txid]).fetchall()]
        denomination, count = Counter(values).most_common(1)[0]
        assert count >= 3
        n_in = one(db, f"SELECT input_count FROM t WHERE hash = '{txid}'")
        assert n_in >= 3 and count >= n_in  # one equal output per participant at least
        coordinator = [
            truth["addresses"][r[0]]
            for r in db.execute("SELECT addresses[1] FROM o WHERE hash = ?", [txid]).fetchall()
        ]
        kinds = {truth["entities"][e]["kind"] for e in coordinator}
        assert "coinjoin" in kinds
        assert denomination in (100_000, 1_000_000, 5_000_000, 10_000_000, 100_000_000)


def test_theft_outcome_adds_up_and_matches_the_chain(
    db: duckdb.DuckDBPyConnection, truth: dict[str, Any]
) -> None:
    (theft,) = truth["thefts"]
    assert theft["id"] == "dmm-like-btc" and theft["chain"] == "bitcoin"
    stolen = theft["stolen"]
    assert stolen == 450_290_000_000
    cashed = sum(e["amount"] for e in theft["endpoints"])
    assert stolen == cashed + theft["held_by_thief"] + theft["fees"] + theft["coinjoin_fees"]
    assert {e["kind"] for e in theft["endpoints"]} == {"exchange", "otc"}
    assert theft["victim"]["entity"] not in {e["entity"] for e in theft["endpoints"]}
    # The seed output exists, pays the thief, and its value is the stolen total.
    seed = theft["seed"]["outputs"][0]
    value, address = db.execute(
        "SELECT value, addresses[1] FROM o WHERE hash = ? AND index = ?", [seed["txid"], seed["n"]]
    ).fetchone() or (None, None)
    assert value == stolen and truth["addresses"][address] == theft["thief"]["entity"]
    assert theft["seed"]["addresses"] == [address]
    # Each endpoint's amount is what the theft's transactions paid to its addresses.
    txids = theft["txids"]
    assert theft["coinjoin_txid"] in txids and theft["coinjoin_txid"] in truth["coinjoins"]
    for end in theft["endpoints"]:
        paid = db.execute(
            "SELECT sum(value) FROM o WHERE list_contains(?::VARCHAR[], hash)"
            " AND list_contains(?::VARCHAR[], addresses[1])",
            [txids, end["addresses"]],
        ).fetchone()
        assert paid is not None and paid[0] == end["amount"]
        assert all(truth["addresses"][a] == end["entity"] for a in end["addresses"])
    # What the thief still holds is unspent and the thief's.
    for coin in theft["held"]:
        assert truth["addresses"][coin["address"]] == theft["thief"]["entity"]
        assert (
            one(
                db,
                f"SELECT count(*) FROM i WHERE spent_transaction_hash = '{coin['txid']}'"
                f" AND spent_output_index = {coin['n']}",
            )
            == 0
        )


@pytest.mark.slow
def test_cli_writes_the_files_and_refuses_tiny_chains(tmp_path: Path) -> None:
    exe = str(Path(sys.executable).parent / "chainsleuth")
    ok = subprocess.run(
        [
            exe,
            "-q",
            "--format",
            "json",
            "sim",
            "bitcoin",
            "--out",
            str(tmp_path / "c"),
            "--txs",
            "1500",
            "--seed",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["txs"] == 1500
    assert {p.name for p in (tmp_path / "c").iterdir()} == {
        "blocks.json",
        "transactions.json",
        "truth.json",
    }
    bad = subprocess.run(
        [exe, "-q", "sim", "bitcoin", "--out", str(tmp_path / "d"), "--txs", "10"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2 and "--txs 10" in bad.stderr


def test_address_map_is_valid_json_across_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chainsleuth.sim import truth as truth_module

    monkeypatch.setattr(truth_module, "ADDRESS_CHUNK", 1000)
    summary = simulate_bitcoin(tmp_path, SimConfig(txs=1500, seed=3))
    owners = json.loads((tmp_path / "truth.json").read_text())["addresses"]
    assert len(owners) == summary.addresses > 2000
