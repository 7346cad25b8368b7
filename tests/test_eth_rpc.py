"""Ethereum JSON-RPC ingestion against a real HTTP server replaying recorded mainnet answers.

Recordings are ethereum-etl's (../shared/data/ethereum/etl-fixtures): blocks 1755634-5
with per-transaction receipts, block 483920 with its four receipts, and the Parity
`trace_block` and Geth `debug_traceBlockByNumber` answers of block 1000895. Expected values
are ethereum-etl's own expected exports of the same blocks.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import duckdb
import pytest
from typer.testing import CliRunner

from chainsleuth.chains.jsonrpc import RetryPolicy
from chainsleuth.errors import ParseError, SourceError
from chainsleuth.ingest.common import IngestOptions
from chainsleuth.ingest.ethereum_rpc import ingest_eth_rpc
from chainsleuth.interfaces.cli.main import app
from chainsleuth.store.account_queries import eth_tx_view
from tests import rpcserver
from tests.rpcserver import RpcFault, RpcServer

rpc_server = rpcserver.rpc_server  # fixture
FAST = RetryPolicy(timeout=5, attempts=2, backoff=0.01)
STREAM = "ethereum/etl-fixtures/test_stream/blocks_1755634_1755635"


def recorded(path: Path) -> Any:
    return json.loads(path.read_text())["result"]


def ndjson(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def load_stream(server: RpcServer, shared_data: Path) -> dict[int, dict[str, Any]]:
    """Record blocks 1755634-5 and their receipts; the tip is 1755635."""
    folder = shared_data / STREAM
    blocks = {}
    for path in folder.glob("web3_response.eth_getBlockByNumber_0x*_true.json"):
        block = recorded(path)
        blocks[int(block["number"], 16)] = block
        server.add("eth_getBlockByNumber", [block["number"], True], block)
        hashes = [tx["hash"] for tx in block["transactions"]]
        server.add(
            "eth_getBlockByNumber", [block["number"], False], {**block, "transactions": hashes}
        )
    for path in folder.glob("web3_response.eth_getTransactionReceipt_*.json"):
        receipt = recorded(path)
        server.add("eth_getTransactionReceipt", [receipt["transactionHash"]], receipt)
    server.add("eth_blockNumber", [], hex(max(blocks)))
    return blocks


def test_stream_blocks_with_receipt_fallback_and_no_traces(
    con: duckdb.DuckDBPyConnection, rpc_server: RpcServer, shared_data: Path
) -> None:
    load_stream(rpc_server, shared_data)
    rpc_server.fail_next(status=503)  # an overloaded node: retried, not fatal
    opts = IngestOptions(start=1755634)
    summary = ingest_eth_rpc(con, rpc_server.url, opts, policy=FAST)
    assert (summary.blocks, summary.txs) == (2, 2)
    assert any("eth_getBlockReceipts" in n for n in summary.notes)
    assert any("neither trace_block nor debug_traceBlockByNumber" in n for n in summary.notes)
    folder = shared_data / STREAM
    for tt in ndjson(folder / "expected_token_transfers.json"):
        view = eth_tx_view(con, tt["transaction_hash"])
        flow = next(f for f in view["transfers"] if f["position"] == f"log:{tt['log_index']}")
        assert (flow["asset"], flow["from_address"], flow["to_address"], flow["amount"]) == (
            tt["token_address"],
            tt["from_address"],
            tt["to_address"],
            tt["value"],
        )
    for tx in ndjson(folder / "expected_transactions.json"):
        view = eth_tx_view(con, tx["hash"])
        assert view["value"] == tx["value"] and view["block_height"] == tx["block_number"]
    assert con.execute("SELECT bool_or(internal_available) FROM eth_blocks").fetchall() == [
        (False,)
    ]
    # Resume: nothing new on a second run.
    again = ingest_eth_rpc(con, rpc_server.url, IngestOptions(), policy=FAST)
    assert again.blocks == 0


def test_receipt_count_mismatch_and_malformed_json_store_nothing(
    con: duckdb.DuckDBPyConnection, rpc_server: RpcServer, shared_data: Path
) -> None:
    blocks = load_stream(rpc_server, shared_data)
    first = blocks[1755635]
    rpc_server.add("eth_getBlockReceipts", [first["number"]], [])
    with pytest.raises(ParseError, match="block 1755635: 0 receipts for 2 transactions"):
        ingest_eth_rpc(con, rpc_server.url, IngestOptions(start=1755635), policy=FAST)
    rpc_server.fail_next(status=200, body=b'{"jsonrpc": "2.0", "result": [', count=2)
    with pytest.raises(SourceError, match="malformed JSON"):
        ingest_eth_rpc(con, rpc_server.url, IngestOptions(start=1755634), policy=FAST)
    assert con.execute("SELECT count(*) FROM blocks").fetchall() == [(0,)]


@pytest.mark.parametrize("grows", [True, False], ids=["new-block-on-sibling", "same-height"])
def test_reorg_rolls_back_and_reingests(
    con: duckdb.DuckDBPyConnection, rpc_server: RpcServer, shared_data: Path, grows: bool
) -> None:
    blocks = load_stream(rpc_server, shared_data)
    ingest_eth_rpc(con, rpc_server.url, IngestOptions(start=1755634), policy=FAST)
    # The node switches to a sibling of 1755635 (no transactions) and, if `grows`, builds
    # 1755636 on it; else its height stays, with no new block to notice the switch by.
    sibling = {**copy.deepcopy(blocks[1755635]), "hash": "0x" + "ab" * 32, "transactions": []}
    child = {
        **copy.deepcopy(sibling),
        "number": hex(1755636),
        "hash": "0x" + "cd" * 32,
        "parentHash": sibling["hash"],
    }
    for block in (sibling, child) if grows else (sibling,):
        rpc_server.add("eth_getBlockByNumber", [block["number"], True], block)
        rpc_server.add("eth_getBlockByNumber", [block["number"], False], block)  # no txs
    if grows:
        rpc_server.add("eth_blockNumber", [], hex(1755636))
    summary = ingest_eth_rpc(con, rpc_server.url, IngestOptions(), policy=FAST)
    assert summary.reorgs == [{"from_height": 1755635, "blocks_removed": 1}]
    stored = con.execute("SELECT height, hash FROM blocks ORDER BY height").fetchall()
    assert stored == [
        (1755634, blocks[1755634]["hash"]),
        (1755635, sibling["hash"]),
        *([(1755636, child["hash"])] if grows else []),
    ]
    assert (
        con.execute("SELECT count(*) FROM transfers WHERE block_height >= 1755635").fetchall()[0][0]
        == 0
    )


def trace_block_node(server: RpcServer, shared_data: Path, geth: bool) -> list[dict[str, Any]]:
    """Block 1000895 rebuilt from its recorded traces' root frames (the recordings have no
    full block for it), with the recorded Parity or Geth trace answer."""
    root = shared_data / "ethereum/etl-fixtures"
    parity = recorded(
        root / "test_export_traces_job/block_with_error/web3_response.trace_block_0xf45bf.json"
    )
    txs = [
        {
            "hash": t["transactionHash"],
            "from": t["action"]["from"],
            "to": t["action"]["to"],
            "value": t["action"]["value"],
            "input": "0x",
        }
        for t in parity
        if t["type"] == "call" and not t["traceAddress"]
    ]
    block = {
        "number": "0xf45bf",
        "hash": "0x" + "11" * 32,
        "parentHash": "0x" + "22" * 32,
        "timestamp": "0x56c1f2b1",
        "miner": "0x" + "33" * 20,
        "transactions": txs,
    }
    server.add("eth_getBlockByNumber", ["0xf45bf", True], block)
    header = {**block, "transactions": [t["hash"] for t in txs]}
    server.add("eth_getBlockByNumber", ["0xf45bf", False], header)
    server.add("eth_blockNumber", [], "0xf45bf")
    server.add("eth_getBlockReceipts", ["0xf45bf"], [{"transactionHash": t["hash"]} for t in txs])
    if geth:
        server.add(
            "trace_block", ["0xf45bf"], RpcFault(-32601, "the method trace_block does not exist")
        )
        answer = recorded(
            root
            / "test_extract_geth_traces_job/block_with_error"
            / "web3_response.debug_traceBlockByNumber_0xf45bf_tracer_calltracer.json"
        )
        server.add("debug_traceBlockByNumber", ["0xf45bf", {"tracer": "callTracer"}], answer)
    else:
        server.add("trace_block", ["0xf45bf"], parity)
    return txs


@pytest.mark.parametrize("geth", [False, True])
def test_trace_method_detected_and_failed_tx_moves_nothing(
    con: duckdb.DuckDBPyConnection, rpc_server: RpcServer, shared_data: Path, geth: bool
) -> None:
    txs = trace_block_node(rpc_server, shared_data, geth)
    ingest_eth_rpc(con, rpc_server.url, IngestOptions(start=0xF45BF), policy=FAST)
    method = "debug_traceBlockByNumber" if geth else "trace_block"
    assert con.execute("SELECT internal_source, internal_available FROM eth_blocks").fetchall() == [
        (method, True)
    ]
    # ethereum-etl's expected traces: the first transaction ran out of gas (status 0).
    got = dict(con.execute("SELECT tx_hash, success FROM eth_txs").fetchall())
    assert got == {txs[0]["hash"]: False, txs[1]["hash"]: True}
    moved = con.execute(
        "SELECT sum(amount) FROM transfers WHERE success AND asset = 'ETH'"
    ).fetchall()[0][0]
    assert moved == 1100000000000000000


def test_follow_stays_behind_the_tip_until_end(
    con: duckdb.DuckDBPyConnection, rpc_server: RpcServer, shared_data: Path
) -> None:
    load_stream(rpc_server, shared_data)
    tips = iter([1755635, 1755635, 1755636])

    def tip(method: str, params: Any) -> Any:
        if method == "eth_blockNumber":
            return hex(next(tips, 1755636))
        return rpcserver.NO_ANSWER

    rpc_server.handler = tip
    opts = IngestOptions(start=1755634, end=1755635, follow=True, behind=1, poll_seconds=0.01)
    summary = ingest_eth_rpc(con, rpc_server.url, opts, policy=FAST)
    assert (summary.first_height, summary.last_height, summary.blocks) == (1755634, 1755635, 2)
    batches = [
        [c["params"][0] for c in post]
        for post in rpc_server.posts
        if isinstance(post, list)
        and post[0]["method"] == "eth_getBlockByNumber"
        and post[0]["params"][1]  # whole blocks, not the idle tip check's header
    ]
    # The first batch stopped one block behind the tip; the second came after it moved.
    assert batches[:2] == [[hex(1755634)], [hex(1755635)]]


def test_receipt_log_without_topics_is_named(
    con: duckdb.DuckDBPyConnection, rpc_server: RpcServer, shared_data: Path
) -> None:
    load_stream(rpc_server, shared_data)
    folder = shared_data / STREAM
    path = next(folder.glob("web3_response.eth_getTransactionReceipt_0x2e3d*.json"))
    receipt = recorded(path)
    del receipt["logs"][1]["topics"]
    rpc_server.add("eth_getTransactionReceipt", [receipt["transactionHash"]], receipt)
    with pytest.raises(
        ParseError, match=f"block 1755635 tx {receipt['transactionHash']} log 1 has no topics"
    ):
        ingest_eth_rpc(con, rpc_server.url, IngestOptions(start=1755634), policy=FAST)
    assert con.execute("SELECT count(*) FROM transfers").fetchall() == [(0,)]


def test_cli_ingest_from_rpc_then_tx_view(
    db_path: Path, rpc_server: RpcServer, shared_data: Path
) -> None:
    load_stream(rpc_server, shared_data)
    base = ["--db", str(db_path), "--quiet", "--format", "json"]
    r = CliRunner().invoke(
        app, [*base, "ingest", "ethereum", "--from", "rpc", rpc_server.url, "--start", "1755634"]
    )
    assert r.exit_code == 0, r.output
    summary = json.loads(r.output)
    assert (summary["blocks"], summary["txs"]) == (2, 2)
    assert any("neither trace_block nor debug_traceBlockByNumber" in n for n in summary["notes"])
    for tx in ndjson(shared_data / STREAM / "expected_transactions.json"):
        r = CliRunner().invoke(app, [*base, "tx", "ethereum", tx["hash"]])
        assert r.exit_code == 0, r.output
        view = json.loads(r.output)
        assert (view["value"], view["block_height"]) == (tx["value"], tx["block_number"])
