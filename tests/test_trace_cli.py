"""`chainsleuth trace` end to end on a store: formats, endpoints from tags, bad input."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from typer.testing import CliRunner

from chainsleuth.interfaces.cli.main import app
from chainsleuth.store.db import connect
from tests.chainbuilder import chain, ingest, tag


def txid(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


T0, T1, T2 = txid("t0"), txid("t1"), txid("t2")


@pytest.fixture
def db(db_path: Path) -> Path:
    con = connect(db_path)
    ingest(
        con,
        chain(
            [{"id": T0, "ins": [], "outs": [("thief", 100)]}],
            [{"id": T1, "ins": [(T0, 0)], "outs": [("mule1", 60), ("mule2", 39)]}],
            [{"id": T2, "ins": [(T1, 0)], "outs": [("deposit", 59)]}],
        ),
    )
    tag(con, "bitcoin", "deposit", "Exchange K", "exchange")
    con.close()
    return db_path


def run(db: Path, *args: str) -> str:
    result = CliRunner().invoke(app, ["--db", str(db), "--quiet", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_json_contract(db: Path) -> None:
    data = json.loads(
        run(db, "trace", "--chain", "bitcoin", "--seed", f"{T0}:0", "--format", "json")
    )
    assert set(data) >= {"seed", "model", "endpoints", "remainder", "edges"}
    (ep,) = data["endpoints"]
    contract = {"entity", "label", "category", "chain", "asset", "amount", "share"}
    assert set(ep) >= contract | {"first_seen", "addresses"}
    assert ep["chain"] == "bitcoin" and ep["entity"]
    assert ep["first_seen"].startswith("2024-05-31T12:20")  # block 2, T2's block time
    assert (ep["label"], ep["category"], ep["amount"], ep["asset"]) == (
        "Exchange K",
        "exchange",
        59,
        "BTC",
    )
    assert ep["addresses"] == [{"address": "deposit", "amount": 59}]
    assert ep["share"] == pytest.approx(0.59)
    assert data["remainder"]["held"] == [{"address": "mule2", "asset": "BTC", "amount": 39}]
    assert data["remainder"]["fees"] == 2


def test_graphml_and_html(db: Path, tmp_path: Path) -> None:
    gml = tmp_path / "t.graphml"
    run(db, "trace", "--seed", T0, "--format", "graphml", "--out", str(gml))
    root = ET.parse(gml).getroot()
    ns = {"g": "http://graphml.graphdrawing.org/xmlns"}
    edges = root.findall(".//g:edge", ns)
    assert {(e.get("source"), e.get("target")) for e in edges} == {
        ("thief", "mule1"),
        ("thief", "mule2"),
        ("mule1", "deposit"),
    }
    html = tmp_path / "t.html"
    run(db, "trace", "--seed", T0, "--format", "html", "--out", str(html))
    page = html.read_text()
    assert "Exchange K" in page and 'id="sankey"' in page and 'id="graph"' in page
    assert "http://" not in page.replace("http://www.w3.org", "")  # self-contained


def test_csv_edges(db: Path) -> None:
    lines = run(db, "trace", "--seed", T0, "--model", "fifo", "--format", "csv").splitlines()
    assert lines[0].startswith("hop,tx_hash,from,to")
    assert len(lines) == 4


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--seed", "zz"], "not"),
        (["--seed", f"{T0}:x"], "output index"),
        (["--seed", T0, "--min-amount", "lots"], "--min-amount"),
        (["--seed", T0, "--until", "yesterday"], "--until"),
        (["--seed", txid("nothing")], "no stored outputs"),
        (["--seed", T0, "--memory-limit", "plenty"], "--memory-limit 'plenty'"),
    ],
)
def test_bad_input_is_one_clear_line(db: Path, args: list[str], message: str) -> None:

    from chainsleuth.interfaces.cli.main import run as cli_run

    del cli_run
    proc = subprocess.run(
        [sys.executable, "-m", "chainsleuth.interfaces.cli.main", "--db", str(db), "trace", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode != 0
    assert message in proc.stderr and "Traceback" not in proc.stderr


def test_table_format_and_backward_lifo_through_the_command(db: Path) -> None:
    table = run(db, "trace", "--seed", f"{T0}:0")  # the default format: a table
    assert "Exchange K" in table and "59" in table
    back = json.loads(
        run(
            db,
            "-f",
            "json",
            "trace",
            "--seed",
            f"{T2}:0",
            "--direction",
            "backward",
            "--model",
            "lifo",
        )
    )
    assert (back["model"], back["direction"]) == ("lifo", "backward")
    # deposit's 59 came from mule1's coin (60), which came from the minted 100.
    assert back["remainder"]["held"] == [
        {"address": "(newly minted)", "asset": "BTC", "amount": 59}
    ]
