"""Log and trace decoding: token standards, uint256 beyond DuckDB's integers, trace shapes.

Logs are ABI-encoded here from the event definitions (EIP-20, EIP-721, EIP-1155, WETH9);
trace flattening is checked against ethereum-etl's expected exports of real blocks.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from chainsleuth.chains.ethereum import events
from chainsleuth.chains.ethereum.flows import build_staging
from chainsleuth.chains.ethereum.raw import stage_raw
from chainsleuth.chains.ethereum.traces import geth_rows, parity_rows
from chainsleuth.errors import ParseError
from chainsleuth.store.account import apply_staged
from chainsleuth.store.account_queries import eth_address_view, eth_tx_view

A = "0x" + "a" * 40
B = "0x" + "b" * 40
OP = "0x" + "c" * 40
TOKEN = "0x" + "1" * 40
NFT = "0x" + "2" * 40
MULTI = "0x" + "3" * 40
OTHER = "0x" + "4" * 40
TX = "0x" + "f" * 64
BIG = 2**255 + 1


def word(value: int | str) -> str:
    """One 32-byte ABI word (an int or an address) as 64 hex digits."""
    n = int(value, 16) if isinstance(value, str) else value
    return f"{n:064x}"


def topic(value: int | str) -> str:
    return "0x" + word(value)


def log(i: int, address: str, topics: list[str], words: list[int | str]) -> dict[str, object]:
    return {
        "block_height": 100,
        "tx_hash": TX,
        "log_index": i,
        "address": address,
        "data": "0x" + "".join(word(w) for w in words),
        "topics": topics,
    }


def stage(
    con: duckdb.DuckDBPyConnection, logs: list[dict[str, object]], value: int = 0
) -> list[str]:
    block = {
        "height": [100],
        "hash": ["0x" + "0" * 63 + "1"],
        "parent_hash": ["0x" + "0" * 64],
        "timestamp": [1_600_000_000],
        "tx_count": [1],
        "miner": [OP],
        "base_fee_per_gas": [None],
        "gas_used": [0],
        "gas_limit": [0],
    }
    tx = {
        "block_height": [100],
        "tx_hash": [TX],
        "position": [0],
        "from_address": [A],
        "to_address": [TOKEN],
        "value": [str(value)],
        "gas_used": [50_000],
        "effective_gas_price": ["10"],
        "gas_price": ["10"],
        "status": [1],
    }
    stage_raw(
        con,
        {
            "raw_eth_blocks": pa.table(block),
            "raw_eth_txs": pa.table(tx),
            "raw_eth_logs": pa.Table.from_pylist(logs),
        },
    )
    notes = build_staging(con, None)
    apply_staged(con, "ethereum", "test")
    return notes


T = events.TRANSFER


def test_token_standards_and_uint256_beyond_128_bits(con: duckdb.DuckDBPyConnection) -> None:
    notes = stage(
        con,
        [
            log(0, TOKEN, [T, topic(A), topic(B)], [BIG]),
            log(1, TOKEN, [T, topic(A), topic(B)], [BIG]),
            log(2, TOKEN, [T, topic(B), topic(A)], [2**127]),
            log(3, TOKEN, [T, topic(B), topic(A)], [2**127 - 1]),
            log(4, NFT, [T, topic(A), topic(B), topic(2**200 + 5)], []),
            log(5, MULTI, [events.TRANSFER_SINGLE, topic(OP), topic(A), topic(B)], [7, 3]),
            log(
                6,
                MULTI,
                [events.TRANSFER_BATCH, topic(OP), topic(A), topic(B)],
                [64, 160, 2, 1, 2, 2, 10, 20],
            ),
            log(7, events.WETH, [events.WITHDRAWAL, topic(A)], [5]),
            log(8, OTHER, [events.DEPOSIT, topic(A)], [9]),  # not a wrapped-native contract
            log(9, TOKEN, [T, topic(A)], [1]),  # two topics: no standard
            log(10, TOKEN, [T, topic(A), topic(B)], [11]),
        ],
    )
    assert notes and notes[0].startswith("1 Transfer")
    view = eth_tx_view(con, TX)
    got = {
        f["position"]: (f["asset"], f["from_address"], f["to_address"], f["amount"], f["token_id"])
        for f in view["transfers"]
    }
    zero = "0x" + "0" * 40
    assert got == {
        "log:0": (TOKEN, A, B, BIG, None),
        "log:1": (TOKEN, A, B, BIG, None),
        "log:2": (TOKEN, B, A, 2**127, None),
        "log:3": (TOKEN, B, A, 2**127 - 1, None),
        "log:4": (NFT, A, B, 1, str(2**200 + 5)),
        "log:5": (MULTI, A, B, 3, "7"),
        "log:6.0": (MULTI, A, B, 10, "1"),
        "log:6.1": (MULTI, A, B, 20, "2"),
        "log:7": (events.WETH, A, zero, 5, None),
        "log:10": (TOKEN, A, B, 11, None),
    }
    assert list(got)[-2:] == ["log:7", "log:10"]  # numeric order of log indexes
    stored = con.execute(
        "SELECT position, amount, amount_raw FROM transfers WHERE position IN ('log:0', 'log:3')"
        " ORDER BY position"
    ).fetchall()
    assert stored == [("log:0", None, str(BIG)), ("log:3", 2**127 - 1, None)]
    b = eth_address_view(con, B)
    token = next(x for x in b["balances"] if x["asset"] == TOKEN)
    assert token["received"] == 2 * BIG + 11 and token["sent"] == 2**128 - 1
    assert token["balance"] == 2 * BIG + 11 - 2**128 + 1
    standards = dict(con.execute("SELECT contract, standard FROM tokens").fetchall())
    assert standards == {TOKEN: "erc20", NFT: "erc721", MULTI: "erc1155", events.WETH: "erc20"}
    a = eth_address_view(con, A)
    assert a["fees_paid"] == 500_000 and a["txs_sent"] == 1


def test_log_with_a_short_topic_is_an_error(con: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(ParseError, match=f"block 100 tx {TX} log 0 has a topic that is not"):
        stage(con, [log(0, TOKEN, [T, "0x1234", topic(B)], [1])])
    assert con.execute("SELECT count(*) FROM blocks").fetchall() == [(0,)]


def test_tx_value_beyond_the_eth_supply_is_an_error(con: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(ParseError, match=f"block 100 tx {TX}: value is not below 2\\^127"):
        stage(con, [], value=2**128)


def expected_traces(path: Path) -> list[dict[str, str | None]]:
    """ethereum-etl's traces.csv rows of transactions, in the fields both shapes carry."""
    keys = ("from_address", "to_address", "value", "trace_type", "call_type", "trace_address")
    with path.open(newline="") as fh:
        return [
            {k: (r[k] or None) if k != "trace_address" else r[k] for k in keys}
            for r in csv.DictReader(fh)
            if r["trace_type"] != "reward"
        ]


def ours(rows: list[dict[str, object]]) -> list[dict[str, object]]:
    keys = ("from_address", "to_address", "value", "trace_type", "call_type", "trace_address")
    return [{k: r[k] for k in keys} for r in rows if r["trace_type"] != "reward"]


@pytest.mark.parametrize(
    "job", ["block_with_create", "block_with_error", "block_with_subtraces", "block_with_suicide"]
)
def test_parity_and_geth_traces_flatten_as_ethereum_etl(shared_data: Path, job: str) -> None:
    root = shared_data / "ethereum/etl-fixtures"
    parity_dir = root / "test_export_traces_job" / job
    answer = json.loads(next(parity_dir.glob("web3_response.trace_block_*.json")).read_text())
    height = int(answer["result"][0]["blockNumber"])
    assert ours(parity_rows(height, answer["result"])) == expected_traces(
        parity_dir / "expected_traces.csv"
    )
    geth_dir = root / "test_extract_geth_traces_job" / job
    answer = json.loads(next(geth_dir.glob("web3_response.debug_*.json")).read_text())
    hashes = [f"0x{i:064x}" for i in range(len(answer["result"]))]
    rows = geth_rows(height, answer["result"], hashes)
    expected = expected_traces(geth_dir / "expected_traces.csv")
    for row, exp in zip(ours(rows), expected, strict=True):
        if exp["trace_type"] == "suicide" and exp["from_address"] is None:
            exp = {**exp, "value": None}  # old Geth gave SELFDESTRUCT frames no fields
        assert row == exp


def test_unknown_parity_trace_type_is_named() -> None:
    bad = [{"type": "teleport", "transactionHash": TX, "traceAddress": [0, 1], "action": {}}]
    with pytest.raises(ParseError, match=rf"block 7 tx {TX} trace \[0,1\]: unknown trace type"):
        parity_rows(7, bad)
    with pytest.raises(ParseError, match="block 7: debug_traceBlockByNumber gave 0 traces for 1"):
        geth_rows(7, [], [TX])
    # A Geth frame of an unknown type, nested one level down, is named by its place.
    frame = {"type": "CALL", "calls": [{"type": "TELEPORT"}]}
    with pytest.raises(ParseError, match=rf"block 7 tx {TX} trace \[0\]: unknown call frame"):
        geth_rows(7, [{"result": frame}], [TX])
    with pytest.raises(ParseError, match=rf"block 7 tx {TX}: no callTracer result"):
        geth_rows(7, [{"error": {"message": "execution timeout"}}], [TX])
