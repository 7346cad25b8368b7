"""The Ethereum commands end to end (`ingest ethereum`, `address ethereum`, `tx ethereum`)
on real ethereum-etl exports from ../shared/data, and the export files the other tests do
not reach: receipts and contracts as JSON, tokens as CSV, token transfers without logs,
and a Uniswap token list given on the command line.

Expected values are computed here from ethereum-etl's own expected files.
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from chainsleuth.errors import ParseError
from chainsleuth.interfaces.cli.main import app
from chainsleuth.store.db import connect

FIXTURES = "ethereum/etl-fixtures"
STREAM = f"{FIXTURES}/test_stream/blocks_17173049_17173050"
BLOCK_483920 = f"{FIXTURES}/test_export_blocks_job/block_with_logs"
TRANSFERS_483920 = f"{FIXTURES}/test_export_token_transfers_job/block_with_transfers"
RECEIPTS_483920 = f"{FIXTURES}/test_export_receipts_job/receipts_with_logs"
EOS = "0x86fa049857e0209aa7d9e616f7eb3b3b78ecfdb0"
KITTIES = "0x06012c8cf97bead5deae237070f9587f8e7a266d"


def cli(db: Path, *args: str) -> dict[str, Any]:
    """Run `chainsleuth --db DB --quiet --format json ARGS`; its JSON output."""
    r = CliRunner().invoke(app, ["--db", str(db), "--quiet", "--format", "json", *args])
    assert r.exit_code == 0, r.output
    found: dict[str, Any] = json.loads(r.output)
    return found


def ndjson(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def export(tmp: Path, files: dict[str, Path]) -> Path:
    """An export directory of symbolic links to real files, under ethereum-etl names."""
    tmp.mkdir(parents=True)
    for name, target in files.items():
        (tmp / name).symlink_to(target)
    return tmp


@pytest.fixture
def stream(shared_data: Path, tmp_path: Path) -> Path:
    src = shared_data / STREAM
    kinds = ("blocks", "transactions", "logs")
    return export(tmp_path / "stream", {f"{k}.json": src / f"expected_{k}.json" for k in kinds})


def test_ingest_then_tx_and_address_commands(db_path: Path, stream: Path) -> None:
    txs = ndjson(stream / "transactions.json")
    summary = cli(db_path, "ingest", "ethereum", "--from", "etl", str(stream))
    assert (summary["blocks"], summary["txs"]) == (2, len(txs))
    # The sender with the most successful transactions with value, and what it paid.
    by_sender: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for t in txs:
        by_sender[t["from_address"]].append(t)
    sender, sent_txs = max(
        by_sender.items(), key=lambda kv: sum(int(t["value"]) > 0 for t in kv[1])
    )
    paid = [t for t in sent_txs if t["receipt_status"] == 1 and int(t["value"]) > 0]
    assert len(paid) >= 2
    one = paid[0]
    view = cli(db_path, "tx", "ethereum", one["hash"])
    assert view["value"] == int(one["value"])
    assert view["fee"] == one["receipt_gas_used"] * one["receipt_effective_gas_price"]
    assert view["success"] is True
    native = [f for f in view["transfers"] if f["kind"] == "native"]
    assert [(f["from_address"], f["to_address"], f["amount"]) for f in native] == [
        (one["from_address"], one["to_address"], int(one["value"]))
    ]
    address = cli(db_path, "address", "ethereum", sender)
    eth = next(b for b in address["balances"] if b["asset"] == "ETH")
    assert eth["sent"] == sum(int(t["value"]) for t in paid)
    assert eth["fees_paid"] == sum(
        t["receipt_gas_used"] * t["receipt_effective_gas_price"] for t in sent_txs
    )
    expected: dict[str, int] = defaultdict(int)
    for t in paid:
        expected[t["to_address"]] += int(t["value"])
    got = {
        c["address"]: c["amount"]
        for c in address["counterparties"]
        if c["asset"] == "ETH" and c["direction"] == "out"
    }
    assert got == dict(expected)


def test_json_receipts_and_token_transfers_without_logs(
    db_path: Path, shared_data: Path, tmp_path: Path
) -> None:
    d = export(
        tmp_path / "x",
        {
            "blocks.csv": shared_data / BLOCK_483920 / "expected_blocks.csv",
            "transactions.csv": shared_data / BLOCK_483920 / "expected_transactions.csv",
            "receipts.json": shared_data / RECEIPTS_483920 / "expected_receipts.json",
            "token_transfers.csv": shared_data / TRANSFERS_483920 / "expected_token_transfers.csv",
        },
    )
    summary = cli(db_path, "ingest", "ethereum", "--from", "etl", str(d))
    assert summary["blocks"] == 1
    with (d / "token_transfers.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    con = connect(db_path, read_only=True)
    stored = con.execute(
        """SELECT t.tx_hash, t.asset, f.address, o.address, t.amount::VARCHAR FROM transfers t
        JOIN addresses f ON f.address_id = t.from_id JOIN addresses o ON o.address_id = t.to_id
        WHERE t.kind = 'token' ORDER BY ALL"""
    ).fetchall()
    assert stored == sorted(
        (r["transaction_hash"], r["token_address"], r["from_address"], r["to_address"], r["value"])
        for r in rows
    )
    fees = dict(con.execute("SELECT tx_hash, fee FROM eth_txs").fetchall())
    receipts = ndjson(d / "receipts.json")
    assert fees == {
        r["transaction_hash"]: r["gas_used"] * r["effective_gas_price"] for r in receipts
    }
    con.close()


def test_tokens_csv_contracts_json_and_a_token_list(
    db_path: Path, shared_data: Path, stream: Path, tmp_path: Path
) -> None:
    tokens = shared_data / FIXTURES / "test_export_tokens_job/token_with_alternative_return_type"
    contracts = shared_data / FIXTURES / "test_export_contracts_job/erc721_contract"
    (stream / "tokens.csv").symlink_to(tokens / "expected_tokens.csv")
    (stream / "contracts.json").symlink_to(contracts / "expected_contracts.json")
    # The token the stream's logs move most, named by a token list in EIP-55 form.
    moved: dict[str, int] = defaultdict(int)
    for log in ndjson(stream / "logs.json"):
        if len(log["topics"]) == 3 and log["topics"][0].startswith("0xddf252ad"):
            moved[log["address"]] += 1
    busiest = max(moved, key=lambda a: moved[a])
    listed = {
        "name": "test list",
        "tokens": [
            {"chainId": 1, "address": busiest, "symbol": "BUSY", "name": "Busy", "decimals": 7},
            {"chainId": 10, "address": "0x" + "1" * 40, "symbol": "OTHER", "decimals": 18},
        ],
    }
    token_list = tmp_path / "list.json"
    token_list.write_text(json.dumps(listed))
    summary = cli(
        db_path, "ingest", "ethereum", "--from", "etl", str(stream), "--token-list", str(token_list)
    )
    assert summary["token_list"] == 1  # the chainId 10 token is for another chain
    con = connect(db_path, read_only=True)
    got = dict(
        (c, (s, d))
        for c, s, d in con.execute("SELECT contract, symbol, decimals FROM tokens").fetchall()
    )
    with (tokens / "expected_tokens.csv").open(newline="") as fh:
        eos = next(csv.DictReader(fh))
    assert got[EOS] == (eos["symbol"], int(eos["decimals"]))
    assert got[busiest] == ("BUSY", 7)
    listed_contracts = con.execute(
        "SELECT c.block_height FROM contracts c JOIN addresses a USING (address_id)"
        " WHERE a.address = ?",
        [KITTIES],
    ).fetchall()
    assert listed_contracts == [(None,)]  # export_contracts gives no creation block
    con.close()
    # A bad list is refused before anything is ingested.
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"tokens": [{"chainId": 1, "address": busiest}]}))
    other = tmp_path / "other.duckdb"
    args = ["ingest", "ethereum", "--from", "etl", str(stream), "--token-list", str(bad)]
    r = CliRunner().invoke(app, ["--db", str(other), "--quiet", *args])
    assert isinstance(r.exception, ParseError)
    assert "bad.json: token 0 lacks address or decimals" in str(r.exception)
    assert not other.exists()
