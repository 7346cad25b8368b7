"""`chainsleuth demo`: simulate, ingest, show status, an address and a transaction, then
cluster, import tags, trace the theft, screen and measure the tracing against ground truth."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest


@pytest.mark.slow
def test_demo_runs_end_to_end_and_again(tmp_path: Path) -> None:
    command = [
        str(Path(sys.executable).parent / "chainsleuth"),
        "--quiet",
        "--format",
        "json",
        "demo",
        "--out",
        str(tmp_path),
    ]
    first = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    truth = json.loads((tmp_path / "chain" / "truth.json").read_text())
    theft = truth["thefts"][0]
    assert theft["seed"]["txid"] in first.stdout
    assert theft["seed"]["addresses"][0] in first.stdout
    assert f'"received": {theft["stolen"]}' in first.stdout
    again = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    con = duckdb.connect(str(tmp_path / "demo.duckdb"), read_only=True)
    row = con.execute("SELECT count(*), count(DISTINCT tx_hash) FROM txs").fetchone()
    assert row is not None and row[0] == row[1] == truth["txs"]
    # The walkthrough goes on to cluster, tag, trace, screen and measure.
    page = (tmp_path / "trace.html").read_text()
    top = max(theft["endpoints"], key=lambda e: e["amount"])
    assert top["label"] in page and 'id="sankey"' in page
    assert '"level": "severe"' in first.stdout  # the attacker's address, tagged perpetrator
    assert '"model": "haircut"' in first.stdout and '"recall"' in first.stdout
