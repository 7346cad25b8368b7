"""`chainsleuth address` shows what an address holds and the tags naming it."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

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
