"""`chainsleuth address` shows what an address holds and the tags naming it."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from typer.testing import CliRunner

from chainsleuth.errors import InputError
from chainsleuth.interfaces.cli.main import app
from chainsleuth.store.db import connect
from tests.chainbuilder import addr, chain, ingest, tag

A, B = addr("payer"), addr("exchange deposit")


def test_address_json_with_tags(db_path: Path) -> None:
    con = connect(db_path)
    ingest(
        con,
        chain(
            [{"id": "t0", "ins": [], "outs": [(A, 70)]}],
            [{"id": "t1", "ins": [("t0", 0)], "outs": [(B, 60), (A, 9)]}],
        ),
    )
    tag(con, "bitcoin", B, "Exchange K", "exchange", source="https://example.org/k")
    con.close()
    r = CliRunner().invoke(app, ["--db", str(db_path), "address", "bitcoin", B, "-f", "json"])
    assert r.exit_code == 0, r.output
    view = json.loads(r.stdout)
    assert (view["balance"], view["received"], view["sent"], view["tx_count"]) == (60, 60, 0, 1)
    assert [(t["label"], t["source"], t["confidence"]) for t in view["tags"]] == [
        ("Exchange K", "https://example.org/k", "authority_data")
    ]
    r = CliRunner().invoke(app, ["--db", str(db_path), "address", "bitcoin", A, "-f", "json"])
    payer = json.loads(r.stdout)
    assert (payer["received"], payer["sent"], payer["balance"], payer["tags"]) == (79, 70, 9, [])


def test_bad_address_checksum_is_one_line(db_path: Path) -> None:
    bad = A[:-1] + ("q" if A[-1] != "q" else "p")
    r = CliRunner().invoke(app, ["--db", str(db_path), "address", "bitcoin", bad])
    assert r.exit_code != 0


def test_tx_command_json_and_a_bad_txid(db_path: Path) -> None:
    t0, t1 = (hashlib.sha256(name.encode()).hexdigest() for name in ("t0", "t1"))
    con = connect(db_path)
    ingest(
        con,
        chain(
            [{"id": t0, "ins": [], "outs": [(A, 70)]}],
            [{"id": t1, "ins": [(t0, 0)], "outs": [(B, 60), (A, 9)]}],
        ),
    )
    con.close()
    base = ["--db", str(db_path), "tx", "bitcoin"]
    r = CliRunner().invoke(app, [*base, t1.upper(), "-f", "json"])  # any case is accepted
    assert r.exit_code == 0, r.output
    view = json.loads(r.stdout)
    assert (view["tx_hash"], view["block_height"], view["fee"]) == (t1, 1, 70 - 60 - 9)
    assert [(i["prev_tx_hash"], i["prev_n"], i["address"], i["value"]) for i in view["inputs"]] == [
        (t0, 0, A, 70)
    ]
    assert [(o["n"], o["address"], o["value"], o["spent_by"]) for o in view["outputs"]] == [
        (0, B, 60, None),
        (1, A, 9, None),
    ]
    spent = json.loads(CliRunner().invoke(app, [*base, t0, "-f", "json"]).stdout)
    assert spent["outputs"][0]["spent_by"] == t1 and spent["is_coinbase"] is True
    bad = CliRunner().invoke(app, [*base, "abc"])
    assert isinstance(bad.exception, InputError) and "64 hex digits" in str(bad.exception)


def test_address_lists_its_latest_transactions_by_height_then_position(db_path: Path) -> None:
    from chainsleuth.store.queries import utxo_address_view

    con = connect(db_path)
    # A is paid in t0 (block 0); pays itself change in t1 and t2 (block 1, positions 0
    # and 1); t3 (block 2) spends the last change to B; C's t4 in block 2 does not touch A.
    ingest(
        con,
        chain(
            [{"id": "t0", "ins": [], "outs": [(A, 70)]}],
            [
                {"id": "t1", "ins": [("t0", 0)], "outs": [(B, 10), (A, 59)]},
                {"id": "t2", "ins": [("t1", 1)], "outs": [(B, 20), (A, 38)]},
            ],
            [
                {"id": "x0", "ins": [], "outs": [(addr("c"), 5)]},
                {"id": "t3", "ins": [("t2", 1)], "outs": [(B, 37)]},
            ],
        ),
    )
    times = dict(con.execute("SELECT height, time FROM blocks").fetchall())
    view = utxo_address_view(con, "bitcoin", A, limit=2)
    assert [(t["tx_hash"], t["block_height"], t["delta"]) for t in view["transactions"]] == [
        ("t3", 2, -38),
        ("t2", 1, -21),
    ]
    assert (view["tx_count"], view["first_seen"], view["last_seen"]) == (4, times[0], times[2])
    every = utxo_address_view(con, "bitcoin", A, limit=10)["transactions"]
    assert [t["tx_hash"] for t in every] == ["t3", "t2", "t1", "t0"]
    assert utxo_address_view(con, "bitcoin", B, limit=1)["transactions"][0]["tx_hash"] == "t3"
    con.close()
