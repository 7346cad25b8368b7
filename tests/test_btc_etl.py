"""bitcoin-etl exports into the store: real plain and enriched exports, the public-dataset
shape, simulated enriched chains, missing fields, idempotence and resume."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import pytest

from chainsleuth.chains.bitcoin.etl import SCRIPT_TYPES
from chainsleuth.errors import InputError
from chainsleuth.ingest.bitcoin_etl import ingest_etl
from chainsleuth.ingest.common import IngestOptions, batches
from chainsleuth.sim import SimConfig, simulate_bitcoin
from chainsleuth.store.utxo import apply_staged

FIXTURES = "bitcoin/etl-fixtures/test_export_blocks_job/bitcoin"
REAL = [
    "block_0",
    "block_1",
    "block_with_transactions",
    "block_without_transactions",
    "stream_50001_50002",
]


def export_dir(tmp: Path, blocks: list[dict[str, Any]], txs: list[dict[str, Any]]) -> Path:
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "blocks.json").write_text("".join(json.dumps(b) + "\n" for b in blocks))
    (tmp / "transactions.json").write_text("".join(json.dumps(t) + "\n" for t in txs))
    return tmp


def read_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def real_export(shared_data: Path, name: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    d = shared_data / FIXTURES / name
    return read_lines(d / "expected_blocks.json"), read_lines(d / "expected_transactions.json")


def stored(con: duckdb.DuckDBPyConnection, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    return con.execute(sql, list(params)).fetchall()


@pytest.mark.parametrize("name", REAL)
def test_real_exports_are_stored_as_written(
    name: str, shared_data: Path, tmp_path: Path, con: duckdb.DuckDBPyConnection
) -> None:
    blocks, txs = real_export(shared_data, name)
    summary = ingest_etl(con, str(export_dir(tmp_path, blocks, txs)), IngestOptions())
    assert (summary.blocks, summary.txs) == (len(blocks), len(txs))
    for b in blocks:
        row = stored(
            con,
            "SELECT hash, epoch(time)::BIGINT, tx_count FROM blocks WHERE height = ?",
            b["number"],
        )
        assert row == [(b["hash"], b["timestamp"], b["transaction_count"])]
    for t in txs:
        row = stored(
            con,
            "SELECT block_height, position, version, locktime, size, is_coinbase, output_count,"
            " output_value FROM txs WHERE tx_hash = ?",
            t["hash"],
        )
        assert row == [
            (
                t["block_number"],
                t["index"],
                t["version"],
                t["lock_time"],
                t["size"],
                t["is_coinbase"],
                t["output_count"],
                t["output_value"],
            )
        ]
        outs = stored(
            con,
            "SELECT o.n, a.address, o.value, o.script_type FROM outputs o"
            " LEFT JOIN addresses a USING (address_id) WHERE o.tx_hash = ? ORDER BY o.n",
            t["hash"],
        )
        assert outs == [
            (o["index"], o["addresses"][0], o["value"], SCRIPT_TYPES[o["type"]])
            for o in t["outputs"]
        ]
        ins = stored(
            con,
            "SELECT n, prev_tx_hash, prev_n, value, sequence FROM inputs"
            " WHERE tx_hash = ? ORDER BY n",
            t["hash"],
        )
        assert ins == [
            (
                i["index"],
                i["spent_transaction_hash"],
                i["spent_output_index"],
                i["value"],
                i["sequence"],
            )
            for i in t["inputs"]
        ]


def test_enriched_inputs_keep_their_values_and_fee(
    shared_data: Path, tmp_path: Path, con: duckdb.DuckDBPyConnection
) -> None:
    blocks, txs = real_export(shared_data, "stream_50001_50002")  # enriched by bitcoin-etl
    ingest_etl(con, str(export_dir(tmp_path, blocks, txs)), IngestOptions())
    for t in txs:
        assert stored(con, "SELECT input_value, fee FROM txs WHERE tx_hash = ?", t["hash"]) == [
            (t["input_value"], t["fee"])
        ]
        ins = stored(
            con,
            "SELECT a.address FROM inputs i LEFT JOIN addresses a USING"
            " (address_id) WHERE i.tx_hash = ? ORDER BY n",
            t["hash"],
        )
        assert ins == [(i["addresses"][0],) for i in t["inputs"]]


def test_plain_inputs_stay_unknown_without_their_outputs(
    shared_data: Path, tmp_path: Path, con: duckdb.DuckDBPyConnection
) -> None:
    blocks, txs = real_export(shared_data, "block_with_transactions")
    summary = ingest_etl(con, str(export_dir(tmp_path, blocks, txs)), IngestOptions())
    assert any("3 inputs spend outputs that are not stored" in n for n in summary.notes)
    assert summary.unresolved_inputs == 3
    assert stored(con, "SELECT count(*) FROM txs WHERE NOT is_coinbase AND fee IS NULL") == [(2,)]


def test_public_dataset_shape(shared_data: Path, tmp_path: Path) -> None:
    """BigQuery's crypto_bitcoin export: quoted integers, text timestamps, no tx index."""
    blocks, txs = real_export(shared_data, "stream_50001_50002")
    bq_blocks = [
        {
            **{k: str(v) if isinstance(v, int) else v for k, v in b.items()},
            "timestamp": "2010-04-10 16:31:40 UTC"
            if b["number"] == 50001
            else "2010-04-10 16:33:01 UTC",
        }
        for b in blocks
    ]
    bq_txs = [
        {k: v for k, v in t.items() if k != "index"} | {"block_number": str(t["block_number"])}
        for t in reversed(txs)
    ]
    for t in bq_txs:
        t["outputs"] = [{**o, "value": str(o["value"])} for o in t["outputs"]]
    a = duckdb.connect(str(tmp_path / "a.duckdb"))
    b = duckdb.connect(str(tmp_path / "b.duckdb"))
    from chainsleuth.store.db import migrate

    migrate(a)
    migrate(b)
    ingest_etl(a, str(export_dir(tmp_path / "plain", blocks, txs)), IngestOptions())
    ingest_etl(b, str(export_dir(tmp_path / "bq", bq_blocks, bq_txs)), IngestOptions())
    for sql in (
        "SELECT height, hash, time, tx_count FROM blocks ORDER BY ALL",
        "SELECT * EXCLUDE (chain) FROM txs ORDER BY ALL",
        "SELECT tx_hash, n, value, script_type FROM outputs ORDER BY ALL",
        "SELECT tx_hash, n, prev_tx_hash, prev_n, value FROM inputs ORDER BY ALL",
    ):
        assert stored(a, sql) == stored(b, sql), sql


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("etlsim")
    simulate_bitcoin(out, SimConfig(txs=3_000, seed=4))
    return out


def file_totals(chain: Path) -> tuple[int, int, int, int]:
    """Transactions, output value, fees and inputs of the simulated file (DuckDB alone)."""
    row = (
        duckdb.connect()
        .execute(
            "SELECT count(*), sum(output_value), sum(fee), sum(input_count)"
            f" FROM read_json('{chain}/transactions.json')"
        )
        .fetchone()
    )
    assert row is not None
    return int(row[0]), int(row[1]), int(row[2]), int(row[3])


def test_simulated_enriched_export_round_trips(
    simulated: Path, con: duckdb.DuckDBPyConnection
) -> None:
    summary = ingest_etl(con, str(simulated), IngestOptions(batch_blocks=40))
    n, out_value, fees, n_inputs = file_totals(simulated)
    assert summary.txs == n and not summary.notes
    assert stored(con, "SELECT count(*), sum(output_value), sum(fee) FROM txs") == [
        (n, out_value, fees)
    ]
    assert stored(con, "SELECT count(*), count(value), count(address_id) FROM inputs") == [
        (n_inputs, n_inputs, n_inputs)
    ]
    assert stored(con, "SELECT count(*) FROM outputs WHERE spent_by IS NOT NULL") == [(n_inputs,)]
    truth = json.loads((simulated / "truth.json").read_text())
    assert stored(con, "SELECT count(*) FROM addresses") == [(len(truth["addresses"]),)]


def test_plain_export_is_resolved_from_stored_outputs(
    simulated: Path, tmp_path: Path, con: duckdb.DuckDBPyConnection
) -> None:
    """Strip inputs to bitcoin-etl's plain shape: batches resolve them from the store."""
    txs = read_lines(simulated / "transactions.json")
    for t in txs:
        t["inputs"] = [{**i, "addresses": [], "type": None, "value": None} for i in t["inputs"]]
    plain = export_dir(tmp_path, read_lines(simulated / "blocks.json"), txs)
    ingest_etl(con, str(plain), IngestOptions(batch_blocks=30))
    _, _, fees, n_inputs = file_totals(simulated)
    assert stored(con, "SELECT sum(fee), count(*) FILTER (WHERE fee IS NULL) FROM txs") == [
        (fees, 0)
    ]
    assert stored(con, "SELECT count(address_id) FROM inputs") == [(n_inputs,)]


def test_inputs_take_the_address_and_value_of_the_outputs_they_spend(
    simulated: Path, tmp_path: Path, con: duckdb.DuckDBPyConnection
) -> None:
    """An enriched export's copy of an input's address and value yields to the output it
    spends, whether that output is in the same batch or stored by an earlier one."""
    txs = read_lines(simulated / "transactions.json")
    outputs = {(t["hash"], o["index"]): o for t in txs for o in t["outputs"]}
    spenders = [t for t in txs if not t["is_coinbase"]][::40]
    stranger = txs[0]["outputs"][0]["addresses"]  # an address none of these inputs spends
    for t in spenders:
        t["inputs"][0] = {**t["inputs"][0], "addresses": stranger, "value": 1}
    doctored = export_dir(tmp_path, read_lines(simulated / "blocks.json"), txs)
    summary = ingest_etl(con, str(doctored), IngestOptions(batch_blocks=30))
    assert summary.unresolved_inputs == 0
    for t in spenders:
        spent = outputs[
            (t["inputs"][0]["spent_transaction_hash"], t["inputs"][0]["spent_output_index"])
        ]
        assert stored(
            con,
            "SELECT a.address, i.value FROM inputs i JOIN addresses a USING (address_id)"
            " WHERE i.tx_hash = ? AND i.n = 0",
            t["hash"],
        ) == [(spent["addresses"][0], spent["value"])]
    _, _, fees, _ = file_totals(simulated)
    assert stored(con, "SELECT sum(fee) FROM txs") == [(fees,)]


STORE_CONTENT = (
    "SELECT * EXCLUDE (chain) FROM txs ORDER BY ALL",
    "SELECT o.* EXCLUDE (address_id), a.address FROM outputs o"
    " LEFT JOIN addresses a USING (address_id) ORDER BY ALL",
    "SELECT i.* EXCLUDE (address_id), a.address FROM inputs i"
    " LEFT JOIN addresses a USING (address_id) ORDER BY ALL",
    "SELECT * FROM blocks ORDER BY ALL",
)


def test_rerun_and_resume_store_nothing_twice(simulated: Path, tmp_path: Path) -> None:
    from chainsleuth.store.db import connect

    whole, parts = connect(tmp_path / "whole.duckdb"), connect(tmp_path / "parts.duckdb")
    ingest_etl(whole, str(simulated), IngestOptions())
    ingest_etl(parts, str(simulated), IngestOptions(end=150, batch_blocks=30))
    again = ingest_etl(parts, str(simulated), IngestOptions())
    assert again.first_height == 151
    twice = ingest_etl(parts, str(simulated), IngestOptions())
    assert twice.blocks == 0 and twice.txs == 0
    for sql in STORE_CONTENT:
        assert stored(whole, sql) == stored(parts, sql)


def test_batches_hold_whole_blocks_within_both_caps() -> None:
    pending = [(10, 1), (11, 5), (12, 5), (13, 1), (14, 20), (15, 1), (16, 1)]
    assert batches(pending, max_blocks=3, max_txs=10) == [
        (10, 11),  # 6 transactions; block 12 would make 11
        (12, 13),
        (14, 14),  # a block over the cap is a batch of its own
        (15, 16),
    ]
    assert batches(pending, max_blocks=2, max_txs=100) == [
        (10, 11),
        (12, 13),
        (14, 15),
        (16, 16),
    ]
    assert batches([], max_blocks=5, max_txs=5) == []


def test_batch_txs_caps_each_commit_and_stores_the_same(
    simulated: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import chainsleuth.ingest.bitcoin_etl as bitcoin_etl
    from chainsleuth.store.db import connect

    committed: list[tuple[int, int]] = []

    def recording(*args: Any) -> Any:
        result = apply_staged(*args)
        committed.append((result.blocks, result.txs))
        return result

    whole, capped = connect(tmp_path / "whole.duckdb"), connect(tmp_path / "capped.duckdb")
    ingest_etl(whole, str(simulated), IngestOptions())
    monkeypatch.setattr(bitcoin_etl, "apply_staged", recording)
    summary = ingest_etl(capped, str(simulated), IngestOptions(batch_txs=250))
    assert len(committed) > 10
    assert all(txs <= 250 or blocks == 1 for blocks, txs in committed)
    assert sum(txs for _, txs in committed) == summary.txs == file_totals(simulated)[0]
    for sql in STORE_CONTENT:
        assert stored(whole, sql) == stored(capped, sql)
    with pytest.raises(InputError, match="--batch-txs must be at least 1"):
        ingest_etl(capped, str(simulated), IngestOptions(batch_txs=0))
    refused = ingest_cli(tmp_path / "cli.duckdb", simulated, "--batch-txs", "0")
    assert refused.returncode == 2
    assert refused.stderr.strip() == "error: --batch-txs must be at least 1 transaction"
    assert ingest_cli(tmp_path / "cli.duckdb", simulated, "--batch-txs", "400").returncode == 0
    by_cli = duckdb.connect(str(tmp_path / "cli.duckdb"), read_only=True)
    for sql in STORE_CONTENT:
        assert stored(by_cli, sql) == stored(whole, sql)


def test_a_height_range_reads_only_its_blocks(simulated: Path, tmp_path: Path) -> None:
    """--start/--end keep only those heights from the files (the block below for its hash):
    a bad row outside the range no longer stops the run, and the range stores as a whole
    run would."""
    from chainsleuth.store.db import connect

    blocks = read_lines(simulated / "blocks.json")
    txs = read_lines(simulated / "transactions.json")
    damaged = next(t for t in txs if t["block_number"] == 20 and t["outputs"])
    del damaged["outputs"][0]["value"]
    broken = export_dir(tmp_path / "broken", blocks, txs)
    whole = connect(tmp_path / "whole.duckdb")
    with pytest.raises(InputError, match=re.escape("required field 'outputs[].value' is missing")):
        ingest_etl(whole, str(broken), IngestOptions())
    ingest_etl(whole, str(simulated), IngestOptions())
    part = connect(tmp_path / "part.duckdb")
    ingest_etl(part, str(simulated), IngestOptions(end=99))
    summary = ingest_etl(part, str(broken), IngestOptions(start=100, end=160))
    assert (summary.first_height, summary.last_height) == (100, 160)
    parent = next(b["hash"] for b in blocks if b["number"] == 99)
    assert stored(part, "SELECT parent_hash FROM blocks WHERE height = 100") == [(parent,)]
    for sql in (
        "SELECT * FROM blocks WHERE height <= 160 ORDER BY ALL",
        "SELECT * EXCLUDE (chain) FROM txs WHERE block_height <= 160 ORDER BY ALL",
        "SELECT i.* EXCLUDE (address_id), a.address FROM inputs i"
        " LEFT JOIN addresses a USING (address_id) WHERE block_height <= 160 ORDER BY ALL",
    ):
        assert stored(whole, sql) == stored(part, sql)


@pytest.mark.parametrize(
    ("target", "field", "line"),
    [
        ("blocks", "timestamp", 2),
        ("transactions", "block_number", 3),
        ("transactions", "outputs[].value", 4),
        ("transactions", "inputs[].spent_output_index", 2),
    ],
)
def test_missing_field_names_file_and_line(
    target: str,
    field: str,
    line: int,
    simulated: Path,
    tmp_path: Path,
    con: duckdb.DuckDBPyConnection,
) -> None:
    blocks = read_lines(simulated / "blocks.json")[:3]
    txs = [t for t in read_lines(simulated / "transactions.json") if t["block_number"] < 3]
    txs.insert(
        1,
        {
            **txs[0],
            "hash": "ab" * 32,
            "is_coinbase": False,
            "inputs": [
                {
                    "index": 0,
                    "spent_transaction_hash": txs[0]["hash"],
                    "spent_output_index": 0,
                    "value": None,
                }
            ],
        },
    )
    rows = blocks if target == "blocks" else txs
    row = rows[line - 1]
    if field == "outputs[].value":
        del row["outputs"][0]["value"]
    elif field == "inputs[].spent_output_index":
        del row["inputs"][0]["spent_output_index"]
    else:
        del row[field]
    d = export_dir(tmp_path, blocks, txs)
    with pytest.raises(
        InputError, match=re.escape(f"{target}.json line {line}: required field '{field}'")
    ):
        ingest_etl(con, str(d), IngestOptions())
    assert stored(con, "SELECT count(*) FROM blocks") == [(0,)]


def test_incomplete_block_is_refused(
    simulated: Path, tmp_path: Path, con: duckdb.DuckDBPyConnection
) -> None:
    blocks = read_lines(simulated / "blocks.json")
    txs = read_lines(simulated / "transactions.json")
    victim = max(txs, key=lambda t: t["block_number"] * 10_000 + t["index"])
    txs.remove(victim)
    with pytest.raises(InputError, match=f"block {victim['block_number']} has transaction_count"):
        ingest_etl(con, str(export_dir(tmp_path, blocks, txs)), IngestOptions())


@pytest.mark.slow
def test_cli_reports_a_bad_export_in_one_line(tmp_path: Path) -> None:
    d = export_dir(tmp_path / "x", [{"hash": "00" * 32, "number": 1}], [])
    (d / "transactions.json").write_text("")
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "chainsleuth"),
            "--db",
            str(tmp_path / "s.duckdb"),
            "--quiet",
            "ingest",
            "bitcoin",
            "--from",
            "etl",
            str(d),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "blocks.json line 1: required field 'timestamp'" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["bitcoin", "--from", "etl", "DIR", "--follow"], "--follow needs --from rpc"),
        (
            ["ethereum", "--from", "blk", "DIR"],
            "--from 'blk' is not a source for ethereum; use one of: rpc, etl",
        ),
        (
            ["bitcoin", "--from", "csv", "DIR"],
            "--from 'csv' is not a source for bitcoin; use one of: rpc, blk, raw, etl",
        ),
    ],
)
def test_source_and_options_refused_before_the_store_opens(
    simulated: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    from typer.testing import CliRunner

    from chainsleuth.interfaces.cli.main import app

    db = tmp_path / "s.duckdb"
    given = [str(simulated) if a == "DIR" else a for a in args]
    result = CliRunner().invoke(app, ["--db", str(db), "ingest", *given])
    assert isinstance(result.exception, InputError)
    assert message in str(result.exception)
    assert not db.exists()


def test_missing_directory_and_files(tmp_path: Path, con: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(InputError, match="not a directory"):
        ingest_etl(con, str(tmp_path / "nope"), IngestOptions())
    (tmp_path / "blocks.json").write_text("")
    with pytest.raises(InputError, match=r"found 1 and 0"):
        ingest_etl(con, str(tmp_path), IngestOptions())
    shutil.rmtree(tmp_path)


def ingest_cli(db: Path, export: Path, *options: str) -> subprocess.CompletedProcess[str]:
    """`chainsleuth --db DB --quiet ingest bitcoin --from etl EXPORT OPTIONS...`."""
    cli = str(Path(sys.executable).parent / "chainsleuth")
    argv = [cli, "--db", str(db), "--quiet", "ingest", "bitcoin", "--from", "etl", str(export)]
    return subprocess.run([*argv, *options], capture_output=True, text=True, timeout=300)


def test_memory_limit_is_checked_and_applied(simulated: Path, tmp_path: Path) -> None:
    """A bad size is refused by name; a tight limit still stores every transaction exactly."""
    bad = ingest_cli(tmp_path / "s.duckdb", simulated, "--memory-limit", "lots")
    assert bad.returncode == 2 and "--memory-limit 'lots': expected a size" in bad.stderr
    assert ingest_cli(tmp_path / "s.duckdb", simulated, "--memory-limit", "300MB").returncode == 0
    n, out_value, fees, n_inputs = file_totals(simulated)
    con = duckdb.connect(str(tmp_path / "s.duckdb"), read_only=True)
    assert stored(con, "SELECT count(*), sum(output_value), sum(fee) FROM txs") == [
        (n, out_value, fees)
    ]
    assert stored(con, "SELECT count(*) FROM outputs WHERE spent_by IS NOT NULL") == [(n_inputs,)]


@pytest.mark.slow
def test_sigkill_mid_etl_ingestion_then_rerun_matches_uninterrupted(
    simulated: Path, tmp_path: Path
) -> None:
    from tests.test_btc_raw_blk import cli, kill_after_first_commit, snapshot

    args = ["ingest", "bitcoin", "--from", "etl", str(simulated), "--batch", "5"]
    reference = tmp_path / "reference.duckdb"
    cli(reference, *args)
    killed = tmp_path / "killed.duckdb"
    kill_after_first_commit(killed, args, settle=0.1)
    partial = snapshot(killed)
    heights = [row[1] for row in partial["blocks"]]
    total = len(read_lines(simulated / "blocks.json"))
    assert 5 <= len(heights) < total  # killed after the first commit, before the end
    assert heights == list(range(len(heights)))  # whole batches of whole blocks
    cli(killed, *args)
    got, want = snapshot(killed), snapshot(reference)
    got.pop("address_ids"), want.pop("address_ids")
    assert got == want
