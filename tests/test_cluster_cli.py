"""`cluster`, `entity [--why]`, `export clusters|parquet` and `eval clustering` end to end."""

from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from chainsleuth.errors import InputError, NotFoundError
from chainsleuth.interfaces.cli.main import app
from chainsleuth.store.db import connect
from tests.chainbuilder import chain, ingest

COINBASE = {"id": "cb", "ins": [], "outs": [(f"A{k}", 10_000_000) for k in range(8)]}
BLOCKS = chain(
    [COINBASE],
    [
        # A0+A1 co-spent; the 0.05 BTC payment is round, so B0 is change.
        {"id": "t1", "ins": [("cb", 0), ("cb", 1)], "outs": [("P", 5_000_000), ("B0", 14_990_000)]},
        # A2 spends with B0 (via t1's change): joins A0's entity through two links.
        {"id": "t2", "ins": [("cb", 2), ("t1", 1)], "outs": [("P", 24_980_000)]},
        # A CoinJoin of A3..A5: no link.
        {
            "id": "cj",
            "ins": [("cb", 3), ("cb", 4), ("cb", 5)],
            "outs": [("M1", 9_000_000), ("M2", 9_000_000), ("M3", 9_000_000)],
        },
    ],
)


def invoke(db: Path, *args: str) -> Any:
    result = CliRunner().invoke(app, ["--db", str(db), "--quiet", *args])
    return result


@pytest.fixture
def store(db_path: Path) -> Path:
    con = connect(db_path)
    ingest(con, BLOCKS)
    con.close()
    return db_path


def test_cluster_entity_why_and_exports(store: Path, tmp_path: Path) -> None:
    ran = invoke(store, "--format", "json", "cluster", "--heuristics", "multi-input,change-round")
    assert ran.exit_code == 0, ran.output
    summary = json.loads(ran.stdout)
    assert summary["mode"] == "full"
    assert summary["coinjoins"] == 1

    shown = invoke(store, "entity", "bitcoin", "A2", "--format", "json")
    assert shown.exit_code == 0, shown.output
    entity = json.loads(shown.stdout)
    assert entity["size"] == 4
    assert set(entity["sample"]) == {"A0", "A1", "A2", "B0"}
    assert entity["balance"] == 0
    assert {h["heuristic"] for h in entity["heuristics"]} == {"multi-input", "change-round"}
    by_id = invoke(
        store, "-f", "json", "entity", "bitcoin", "--cluster-id", str(entity["cluster_id"])
    )
    assert by_id.exit_code == 0, by_id.output
    assert json.loads(by_id.stdout) == {
        **entity,
        "address": "A0",  # the cluster's id is its smallest address id: A0's
        "resolved_from": entity["cluster_id"],
    }

    explained = invoke(store, "entity", "bitcoin", "A1", "--why", "A2", "--format", "json")
    assert explained.exit_code == 0, explained.output
    path = json.loads(explained.stdout)["path"]
    assert [(p["from_address"], p["to_address"], p["heuristic"], p["tx_hash"]) for p in path] == [
        ("A1", "A0", "multi-input", "t1"),
        ("A0", "B0", "change-round", "t1"),
        ("B0", "A2", "multi-input", "t2"),
    ]
    apart = json.loads(invoke(store, "-f", "json", "entity", "bitcoin", "A3", "--why", "A4").stdout)
    assert apart["same_entity"] is False

    exported = invoke(store, "export", "clusters", "--chain", "bitcoin")
    assert exported.exit_code == 0, exported.output
    table = list(csv.DictReader(io.StringIO(exported.stdout)))
    assert {r["address"] for r in table if r["cluster_id"] == str(entity["cluster_id"])} == {
        "A0",
        "A1",
        "A2",
        "B0",
    }
    out = tmp_path / "c.parquet"
    assert (
        invoke(
            store,
            "export",
            "clusters",
            "--chain",
            "bitcoin",
            "--format",
            "parquet",
            "--out",
            str(out),
        ).exit_code
        == 0
    )
    assert pq.read_table(out).column_names == ["address", "cluster_id"]

    folder = tmp_path / "pq"
    dumped = invoke(store, "-f", "json", "export", "parquet", str(folder))
    assert dumped.exit_code == 0, dumped.output
    assert pq.read_table(folder / "outputs").num_rows == 8 + 2 + 1 + 3
    assert (folder / "outputs" / "chain=bitcoin").is_dir()
    assert not any(p.name.startswith("trace_") for p in folder.iterdir())  # derived


def test_unknown_address_and_heuristic_are_one_line_errors(store: Path) -> None:
    bad = invoke(store, "cluster", "--heuristics", "multi-input,psychic")
    assert isinstance(bad.exception, InputError)
    assert "psychic" in str(bad.exception)
    too_vague = invoke(store, "cluster", "--memory-limit", "lots")
    assert isinstance(too_vague.exception, InputError)
    assert invoke(store, "cluster", "--memory-limit", "1GB").exit_code == 0
    missing = invoke(store, "entity", "bitcoin", "nobody")
    assert isinstance(missing.exception, NotFoundError)
    for args in ([], ["nobody", "--cluster-id", "1"]):
        both = invoke(store, "entity", "bitcoin", *args)
        assert isinstance(both.exception, InputError)
        assert "an address or --cluster-id" in str(both.exception)
    never = invoke(store, "entity", "bitcoin", "--cluster-id", "987654")
    assert isinstance(never.exception, NotFoundError)


def test_eval_clustering_scores_against_truth(store: Path, tmp_path: Path) -> None:
    owners = {
        "A0": "alice",
        "A1": "alice",
        "A2": "alice",
        "B0": "alice",
        "P": "shop",
        "A3": "x",
        "A4": "y",
        "A5": "z",
        "M1": "x",
        "M2": "y",
        "M3": "z",
    }
    truth = tmp_path / "truth.json"
    truth.write_text(json.dumps({"addresses": owners, "coinjoins": ["cj"]}))
    result = invoke(
        store,
        "-f",
        "json",
        "eval",
        "clustering",
        "--truth",
        str(truth),
        "--set",
        "multi-input",
        "--set",
        "multi-input,change-round",
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["coinjoin_detection"]["recall"] == 1.0
    alone, with_round = report["sets"]
    # 9 true pairs: alice's 6, and each mixer's input with its mixed output (3).
    # multi-input finds {A0,A1} and {A2,B0}; the round-payment change link joins them.
    assert alone["precision"] == 1.0
    assert alone["recall"] == round(2 / 9, 6)
    assert with_round["recall"] == round(6 / 9, 6)
    assert with_round["false_merges"] == 0


def test_spark_engine_without_pyspark_names_the_install_line(
    store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pyspark", None)
    result = invoke(store, "cluster", "--engine", "spark")
    assert isinstance(result.exception, InputError)
    assert "pip install 'chainsleuth[spark]'" in str(result.exception)
