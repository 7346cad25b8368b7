"""Bitcoin ingestion from a node over JSON-RPC, against a real HTTP server on loopback.

The server (tests/rpcserver.py) answers as Bitcoin Core would from real recorded answers
(`../shared/data/bitcoin/etl-fixtures`, bitcoin-etl's test resources): `getblock`
verbosity 2 for blocks 0, 1, 50000, 50001 and 50002, `getblockhash`, and
`getrawtransaction` for the three transactions block 50001 spends. Expected values come
from bitcoin-etl's own exports of the same blocks (`expected_transactions.json`; the
50001-50002 stream export is enriched with input addresses and values).

Derived, not recorded (each built in `FakeCore` below from the recordings):
- `getblockchaininfo`: chain name, tip height and hash of the served blocks.
- `getblockhash(h)` for a height whose block is not recorded but whose child is: the
  child's `previousblockhash` (e.g. 49999 from block 50000).
- `getblock HASH 3`: the verbosity-2 block with each input's `prevout` (value and
  scriptPubKey) copied from the recorded output it spends; a node "older than Core 23"
  refuses verbosity 3 with error -8 instead.
- A stand-in block at 49999 (the real hash of 49999, taken from block 50000's parent
  pointer, carrying the three recorded transactions block 50001 spends), so that their
  outputs can be stored and resolved from the store. Its content is not the real 49999.
- Competing blocks for reorgs: 50001' (block 50001 with only its coinbase, a new hash)
  and 50002' (block 50002 with a new hash and 50001' as parent).
"""

from __future__ import annotations

import copy
import decimal
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest

from chainsleuth.chains.jsonrpc import RetryPolicy
from chainsleuth.errors import AuthError, SourceError
from chainsleuth.ingest import bitcoin_rpc
from chainsleuth.ingest.bitcoin_rpc import ingest_rpc
from chainsleuth.ingest.common import IngestOptions, IngestSummary
from chainsleuth.interfaces.cli.main import run
from chainsleuth.store.db import connect
from tests import rpcserver
from tests.rpcserver import NO_ANSWER, RpcFault, RpcServer

ETL = Path("bitcoin/etl-fixtures/test_export_blocks_job/bitcoin")
FAST = RetryPolicy(timeout=5.0, attempts=3, backoff=0.01, max_backoff=0.02)
rpc_servers = rpcserver.rpc_servers  # fixture
CLI = [sys.executable, "-m", "chainsleuth.interfaces.cli.main"]
# bitcoin-etl writes Core's type names; ours (CONTRIBUTING.md) for the types recorded here.
ETL_TYPES = {"pubkey": "p2pk", "pubkeyhash": "p2pkh"}


@dataclass
class Recordings:
    """The recorded answers and bitcoin-etl's expected exports."""

    blocks: dict[int, dict[str, Any]]  # getblock verbosity 2, by height
    raw_txs: dict[str, dict[str, Any]]  # getrawtransaction (verbose), by txid
    hashes: dict[int, str]  # getblockhash answers, by height
    expected_txs: dict[str, dict[str, Any]]  # bitcoin-etl transactions, by txid
    expected_blocks: dict[int, dict[str, Any]]  # bitcoin-etl blocks, by height


def _load(path: Path) -> Any:
    return json.loads(path.read_text(), parse_float=decimal.Decimal)


@pytest.fixture(scope="module")
def rec(shared_data: Path) -> Recordings:
    """Everything recorded for blocks 0, 1, 50000-50002."""
    root = shared_data / ETL
    blocks = {b["height"]: b for b in map(_load, root.glob("*/rpc_response_getblock_*_2.json"))}
    raw = {t["txid"]: t for t in map(_load, root.glob("*/rpc_response_getrawtransaction_*"))}
    hashes = {
        int(p.stem.rsplit("_", 1)[1]): _load(p)
        for p in root.glob("*/rpc_response_getblockhash_*.json")
    }
    expected_txs: dict[str, dict[str, Any]] = {}
    expected_blocks: dict[int, dict[str, Any]] = {}
    # The stream export (enriched inputs) is read last so it wins for 50001-50002.
    for folder in ("block_0", "block_1", "block_without_transactions", "stream_50001_50002"):
        for line in (root / folder / "expected_transactions.json").read_text().splitlines():
            expected_txs[json.loads(line)["hash"]] = json.loads(line)
        for line in (root / folder / "expected_blocks.json").read_text().splitlines():
            expected_blocks[json.loads(line)["number"]] = json.loads(line)
    return Recordings(blocks, raw, hashes, expected_txs, expected_blocks)


def stand_in_49999(rec: Recordings) -> dict[str, Any]:
    """Derived block at 49999 holding the recorded transactions that block 50001 spends."""
    txs = [copy.deepcopy(rec.raw_txs[txid]) for txid in sorted(rec.raw_txs)]
    return {
        "hash": rec.blocks[50000]["previousblockhash"],
        "height": 49999,
        "previousblockhash": hashlib.sha256(b"stand-in parent of 49999").hexdigest(),
        "time": min(t["blocktime"] for t in txs),
        "tx": txs,
    }


def competing(block: dict[str, Any], parent: str, keep_txs: int | None = None) -> dict[str, Any]:
    """`block` re-hashed onto `parent` (optionally keeping only its first `keep_txs` txs)."""
    other = copy.deepcopy(block)
    other["hash"] = hashlib.sha256(f"competing {block['hash']}".encode()).hexdigest()
    other["previousblockhash"] = parent
    other["tx"] = other["tx"][:keep_txs]
    return other


def chain_a(rec: Recordings) -> dict[int, dict[str, Any]]:
    """The recorded chain 49999 (stand-in), 50000, 50001, 50002."""
    return {49999: stand_in_49999(rec), **{h: rec.blocks[h] for h in (50000, 50001, 50002)}}


def chain_b(rec: Recordings) -> dict[int, dict[str, Any]]:
    """The winning branch: 50001' (coinbase only) and 50002' replace 50001 and 50002."""
    b = chain_a(rec)
    b[50001] = competing(rec.blocks[50001], b[50000]["hash"], keep_txs=1)
    b[50002] = competing(rec.blocks[50002], b[50001]["hash"])
    return b


class FakeCore:
    """Bitcoin Core's answers for a chain of recorded blocks (an RpcServer handler).

    `blocks` (height -> verbosity-2 block) is the active chain; assign a new dict to
    switch tips (a reorg). Blocks seen once stay retrievable by hash, as stale blocks are
    in Core. `hooks` run after each answer, e.g. to switch the chain mid-run.
    """

    METHODS = ("getblockchaininfo", "getblockcount", "getblockhash", "getblock")

    def __init__(
        self,
        rec: Recordings,
        blocks: dict[int, dict[str, Any]],
        *,
        chain: str = "main",
        verbosity3: bool = True,
    ) -> None:
        self.blocks = blocks
        self.chain = chain
        self.verbosity3 = verbosity3
        self.by_hash = {b["hash"]: b for b in blocks.values()}
        self.known_txs = dict(rec.raw_txs)  # the node knows all history, stored or not
        for block in [*rec.blocks.values(), *blocks.values()]:
            self.known_txs.update({tx["txid"]: tx for tx in block["tx"]})
        self.hooks: list[Callable[[str, Any], None]] = []

    def __call__(self, method: str, params: Any) -> Any:
        self.by_hash.update({b["hash"]: b for b in self.blocks.values()})
        if method not in self.METHODS:
            return NO_ANSWER
        result = getattr(self, method)(*params)
        for hook in self.hooks:
            hook(method, params)
        return result

    @property
    def tip(self) -> int:
        return max(self.blocks)

    def getblockchaininfo(self) -> dict[str, Any]:
        tip = self.tip
        return {
            "chain": self.chain,
            "blocks": tip,
            "headers": tip,
            "bestblockhash": self.getblockhash(tip),
        }

    def getblockcount(self) -> int:
        return self.tip

    def getblockhash(self, height: int) -> str:
        if height in self.blocks:
            return str(self.blocks[height]["hash"])
        if height + 1 in self.blocks:
            return str(self.blocks[height + 1]["previousblockhash"])
        if not 0 <= height <= self.tip:
            raise RpcFault(-8, "Block height out of range")
        raise RpcFault(-1, f"height {height} is not recorded")

    def getblock(self, block_hash: str, verbosity: int = 1) -> dict[str, Any]:
        if block_hash not in self.by_hash:
            raise RpcFault(-5, "Block not found")
        if verbosity == 3 and not self.verbosity3:
            raise RpcFault(-8, "Verbosity must be in range 0..2")
        block = copy.deepcopy(self.by_hash[block_hash])
        if verbosity == 3:
            for tx in block["tx"]:
                for txin in tx["vin"]:
                    if "txid" in txin:
                        spent = self.known_txs[txin["txid"]]["vout"][txin["vout"]]
                        txin["prevout"] = {
                            "generated": True,
                            "value": spent["value"],
                            "scriptPubKey": spent["scriptPubKey"],
                        }
        return block


def ingest(
    con: duckdb.DuckDBPyConnection, server: RpcServer, start: int | None, end: int | None, **kw: Any
) -> IngestSummary:
    """Run `ingest_rpc` against `server` with fast retries."""
    return ingest_rpc(con, server.url, IngestOptions(start=start, end=end, **kw), policy=FAST)


def dump(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple[Any, ...]]]:
    """Every stored UTXO row with addresses as strings (ids depend on history)."""
    addr = "LEFT JOIN addresses a ON a.chain = t.chain AND a.address_id = t.address_id"
    queries = {
        "blocks": "SELECT * EXCLUDE (chain) FROM blocks t",
        "txs": "SELECT * EXCLUDE (chain) FROM txs t",
        "outputs": f"SELECT t.* EXCLUDE (chain, address_id), a.address FROM outputs t {addr}",
        "inputs": f"SELECT t.* EXCLUDE (chain, address_id), a.address FROM inputs t {addr}",
    }
    return {name: sorted(con.execute(sql).fetchall(), key=repr) for name, sql in queries.items()}


RECORDED = (0, 1, 50000, 50001, 50002)


def assert_matches_bitcoin_etl(
    con: duckdb.DuckDBPyConnection, rec: Recordings, heights: tuple[int, ...] = RECORDED
) -> None:
    """Stored blocks, txs, outputs and inputs at `heights` equal bitcoin-etl's exports."""
    blocks = con.execute(
        "SELECT height, hash, tx_count FROM blocks WHERE list_contains(?, height)", [heights]
    ).fetchall()
    assert {h: (x, n) for h, x, n in blocks} == {
        h: (rec.expected_blocks[h]["hash"], rec.expected_blocks[h]["transaction_count"])
        for h in heights
    }
    stored = con.execute(
        "SELECT tx_hash, block_height, position, size, version, locktime, is_coinbase,"
        " input_count, output_count, input_value, output_value, fee FROM txs"
        " WHERE list_contains(?, block_height)",
        [heights],
    ).fetchall()
    assert sorted(t[0] for t in stored) == sorted(
        txid for txid, t in rec.expected_txs.items() if t["block_number"] in heights
    )
    for txid, *fields in stored:
        exp = rec.expected_txs[txid]
        assert fields == [
            exp[k]
            for k in (
                "block_number",
                "index",
                "size",
                "version",
                "lock_time",
                "is_coinbase",
                "input_count",
                "output_count",
                "input_value",
                "output_value",
                "fee",
            )
        ]
        outputs = con.execute(
            "SELECT o.n, a.address, o.value, o.script_type FROM outputs o"
            " LEFT JOIN addresses a USING (chain, address_id) WHERE o.tx_hash = ? ORDER BY o.n",
            [txid],
        ).fetchall()
        assert outputs == [
            (o["index"], o["addresses"][0], o["value"], ETL_TYPES[o["type"]])
            for o in exp["outputs"]
        ]
        inputs = con.execute(
            "SELECT i.n, i.prev_tx_hash, i.prev_n, a.address, i.value, i.sequence FROM inputs i"
            " LEFT JOIN addresses a USING (chain, address_id) WHERE i.tx_hash = ? ORDER BY i.n",
            [txid],
        ).fetchall()
        assert inputs == [
            (
                i["index"],
                i["spent_transaction_hash"],
                i["spent_output_index"],
                i["addresses"][0],
                i["value"],
                i["sequence"],
            )
            for i in exp["inputs"]
        ]


def test_derived_getblockhash_agrees_with_recordings(rec: Recordings) -> None:
    core = FakeCore(rec, rec.blocks)
    for height, recorded in rec.hashes.items():
        if height in rec.blocks:
            assert core.getblockhash(height) == recorded


def test_ingest_recorded_ranges_with_verbosity_3(
    con: duckdb.DuckDBPyConnection, rec: Recordings, rpc_servers: Any
) -> None:
    core = FakeCore(rec, rec.blocks)
    server = rpc_servers(handler=core)
    first = ingest(con, server, 0, 1)
    second = ingest(con, server, 50000, 50002)
    assert (first.blocks, first.txs, first.first_height, first.last_height) == (2, 2, 0, 1)
    assert (second.blocks, second.txs, second.first_height, second.last_height) == (
        3,
        5,
        50000,
        50002,
    )
    assert second.notes == [] and second.reorgs == []
    assert_matches_bitcoin_etl(con, rec)
    # Re-running is harmless: nothing added, nothing duplicated.
    before = dump(con)
    again = ingest(con, server, 0, 1)
    assert again.blocks == 0 and dump(con) == before


def test_verbosity_2_fallback_resolves_prevouts_from_the_store(
    con: duckdb.DuckDBPyConnection, rec: Recordings, rpc_servers: Any, tmp_path: Path
) -> None:
    core = FakeCore(rec, chain_a(rec), verbosity3=False)
    server = rpc_servers(handler=core)
    summary = ingest(con, server, 49999, 50002)
    assert summary.blocks == 4
    assert summary.notes == [
        "node refused getblock verbosity 3: input addresses and values were resolved"
        " from stored outputs"
    ]
    getblock_posts = [
        p for p in server.posts if isinstance(p, list) and p[0]["method"] == "getblock"
    ]
    assert [{c["params"][1] for c in post} for post in getblock_posts] == [{3}, {2}]
    assert_matches_bitcoin_etl(con, rec, (50000, 50001, 50002))

    # Without the spent outputs in the store, inputs stay unknown and the run says so.
    other = connect(tmp_path / "other.duckdb")
    summary = ingest(other, server, 50000, 50002)
    unknown = other.execute("SELECT count(*) FROM inputs WHERE value IS NULL").fetchone()
    other.close()
    assert unknown == (3,)
    assert summary.notes[1].startswith("3 inputs spend outputs that are not stored")


@pytest.mark.parametrize(("per_request", "getblocks"), [(10, [2]), (1, [1, 1])])
def test_batches_are_single_posts(
    con: duckdb.DuckDBPyConnection,
    rec: Recordings,
    rpc_servers: Any,
    monkeypatch: pytest.MonkeyPatch,
    per_request: int,
    getblocks: list[int],
) -> None:
    monkeypatch.setattr(bitcoin_rpc, "GETBLOCK_PER_REQUEST", per_request)
    server = rpc_servers(handler=FakeCore(rec, chain_a(rec)))
    summary = ingest(con, server, 49999, 50002, batch_blocks=2)
    assert summary.blocks == 4
    batches = [(p[0]["method"], len(p)) for p in server.posts if isinstance(p, list)]
    # Each batch of 2 blocks: getblockhash for the height below and the 2 heights, then
    # getblock (in slices of `per_request`); at the end the stored tip is checked again.
    one = [("getblockhash", 3)] + [("getblock", n) for n in getblocks]
    assert batches == one * 2 + [("getblockhash", 1)]


def test_refused_credentials_store_nothing(
    con: duckdb.DuckDBPyConnection, rec: Recordings, rpc_servers: Any, tmp_path: Path
) -> None:
    server = rpc_servers(handler=FakeCore(rec, rec.blocks), auth=("u", "p"))
    with pytest.raises(AuthError) as caught:
        ingest(con, server, 0, 1, rpc_user="u", rpc_password="nope")
    assert str(caught.value).startswith(f"credentials refused by {server.url} (HTTP 401)")
    assert "nope" not in str(caught.value)
    assert con.execute("SELECT count(*) FROM blocks").fetchone() == (0,)
    cookie = tmp_path / ".cookie"
    cookie.write_text("u:p")
    assert ingest(con, server, 0, 1, rpc_cookie=str(cookie)).blocks == 2


def test_timeout_then_success(
    con: duckdb.DuckDBPyConnection, rec: Recordings, rpc_servers: Any
) -> None:
    server = rpc_servers(handler=FakeCore(rec, rec.blocks))
    server.delay_next(0.6, count=2)
    policy = RetryPolicy(timeout=0.25, attempts=4, backoff=0.01, max_backoff=0.02)
    summary = ingest_rpc(con, server.url, IngestOptions(start=0, end=1), policy=policy)
    assert summary.blocks == 2


def block_not_found(rec: Recordings, rpc_servers: Any) -> Any:
    """A node that answers block 50001's `getblock` with a JSON-RPC error object."""
    core = FakeCore(rec, rec.blocks)
    broken = rec.blocks[50001]["hash"]

    def answer(method: str, params: Any) -> Any:
        if method == "getblock" and params[0] == broken:
            raise RpcFault(-5, "Block not found")
        return core(method, params)

    return rpc_servers(handler=answer)


def test_error_object_is_a_clear_error_and_keeps_earlier_batches(
    con: duckdb.DuckDBPyConnection, rec: Recordings, rpc_servers: Any
) -> None:
    server = block_not_found(rec, rpc_servers)
    with pytest.raises(SourceError) as caught:
        ingest(con, server, 50000, 50002, batch_blocks=1)
    assert str(caught.value) == (
        f"getblock failed at {server.url}: JSON-RPC error -5: Block not found"
    )
    assert con.execute("SELECT list(height) FROM blocks").fetchone() == ([50000],)


def test_error_object_through_the_command_is_one_line(
    tmp_path: Path,
    rec: Recordings,
    rpc_servers: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server = block_not_found(rec, rpc_servers)
    db = tmp_path / "cli.duckdb"
    args = ["--db", str(db), "--quiet", "ingest", "bitcoin", "--from", "rpc", server.url]
    monkeypatch.setattr(sys, "argv", ["chainsleuth", *args, "--start", "50000", "--batch", "1"])
    with pytest.raises(SystemExit) as exited:
        run()
    assert exited.value.code not in (0, None)
    assert capsys.readouterr().err.strip().splitlines() == [
        f"error: getblock failed at {server.url}: JSON-RPC error -5: Block not found"
    ]
    stored = duckdb.connect(str(db))  # the command's own connection may still be open
    assert stored.execute("SELECT list(height) FROM blocks").fetchone() == ([50000],)
    stored.close()


def test_wrong_network_is_refused(
    con: duckdb.DuckDBPyConnection, rec: Recordings, rpc_servers: Any
) -> None:
    server = rpc_servers(handler=FakeCore(rec, rec.blocks, chain="test"))
    with pytest.raises(SourceError) as caught:
        ingest(con, server, 0, 1)
    assert str(caught.value) == (
        f"{server.url} serves Bitcoin chain 'test', not mainnet; pass --network testnet"
    )
    assert ingest(con, server, 0, 1, network="testnet").blocks == 2


def winning_chain_store(
    rec: Recordings, rpc_servers: Any, path: Path, end: int = 50002
) -> dict[str, Any]:
    """A fresh ingest of the winning branch 49999..`end`, dumped."""
    fresh = connect(path)
    ingest(fresh, rpc_servers(handler=FakeCore(rec, chain_b(rec))), 49999, end)
    rows = dump(fresh)
    fresh.close()
    return rows


def assert_orphans_gone(con: duckdb.DuckDBPyConnection, rec: Recordings) -> None:
    """Block 50001's spends are gone and the outputs they spent are unspent again."""
    orphan = rec.blocks[50001]
    spenders = [tx["txid"] for tx in orphan["tx"][1:]]
    assert con.execute(
        "SELECT count(*) FROM blocks WHERE hash = ?", [orphan["hash"]]
    ).fetchone() == (0,)
    for table in ("txs", "inputs", "outputs"):
        assert con.execute(
            f"SELECT count(*) FROM {table} WHERE list_contains(?, tx_hash)", [spenders]
        ).fetchone() == (0,)
    spent = con.execute(
        "SELECT count(*), count(spent_by) FROM outputs WHERE list_contains(?, tx_hash)",
        [sorted(rec.raw_txs)],
    ).fetchone()
    assert spent == (3, 0)


def test_reorg_between_runs(
    con: duckdb.DuckDBPyConnection, rec: Recordings, rpc_servers: Any, tmp_path: Path
) -> None:
    core = FakeCore(rec, chain_a(rec))
    server = rpc_servers(handler=core)
    ingest(con, server, 49999, 50001)
    assert con.execute("SELECT count(spent_by) FROM outputs").fetchone() == (3,)
    core.blocks = chain_b(rec)  # the node switches to the competing branch
    summary = ingest(con, server, None, None)  # resumes at 50002, whose parent is 50001'
    assert summary.reorgs == [{"from_height": 50001, "blocks_removed": 1}]
    assert (summary.blocks, summary.first_height, summary.last_height) == (2, 50001, 50002)
    assert_orphans_gone(con, rec)
    assert dump(con) == winning_chain_store(rec, rpc_servers, tmp_path / "fresh.duckdb")


def test_tip_replaced_at_the_same_height(
    con: duckdb.DuckDBPyConnection, rec: Recordings, rpc_servers: Any, tmp_path: Path
) -> None:
    core = FakeCore(rec, {h: b for h, b in chain_a(rec).items() if h <= 50001})
    server = rpc_servers(handler=core)
    ingest(con, server, 49999, None)
    # 50001' replaces the tip 50001 and the node's height stays: no new block to notice.
    core.blocks = {h: b for h, b in chain_b(rec).items() if h <= 50001}
    summary = ingest(con, server, None, None)
    assert summary.reorgs == [{"from_height": 50001, "blocks_removed": 1}]
    assert (summary.blocks, summary.first_height, summary.last_height) == (1, 50001, 50001)
    assert_orphans_gone(con, rec)
    assert dump(con) == winning_chain_store(rec, rpc_servers, tmp_path / "fresh.duckdb", 50001)


def test_reorg_mid_run_at_the_tip(
    con: duckdb.DuckDBPyConnection, rec: Recordings, rpc_servers: Any, tmp_path: Path
) -> None:
    core = FakeCore(rec, chain_a(rec))
    old_tip = rec.blocks[50002]["hash"]

    def switch_after_old_tip(method: str, params: Any) -> None:
        if method == "getblock" and params[0] == old_tip:
            core.blocks = chain_b(rec)

    core.hooks.append(switch_after_old_tip)
    summary = ingest(con, rpc_servers(handler=core), 49999, 50002, batch_blocks=2)
    assert summary.reorgs == [{"from_height": 50001, "blocks_removed": 2}]
    assert_orphans_gone(con, rec)
    assert dump(con) == winning_chain_store(rec, rpc_servers, tmp_path / "fresh.duckdb")


def test_follow_stays_behind_and_waits_for_new_blocks(
    con: duckdb.DuckDBPyConnection, rec: Recordings, rpc_servers: Any
) -> None:
    full = chain_a(rec)
    core = FakeCore(rec, {h: b for h, b in full.items() if h <= 50001})
    polls: list[int] = []

    def new_block_on_third_poll(method: str, params: Any) -> None:
        if method == "getblockcount":
            polls.append(core.tip)
            if len(polls) == 3:
                core.blocks = full  # block 50002 arrives

    core.hooks.append(new_block_on_third_poll)
    summary = ingest(
        con, rpc_servers(handler=core), 49999, 50001, follow=True, behind=1, poll_seconds=0.01
    )
    # Tip 50001, one behind: 49999..50000; then waits until tip 50002 allows 50001.
    assert (summary.first_height, summary.last_height, summary.blocks) == (49999, 50001, 3)
    assert polls == [50001, 50001, 50001, 50002, 50002]


def test_a_signal_mid_batch_commits_that_batch_then_stops(
    con: duckdb.DuckDBPyConnection, rec: Recordings, rpc_servers: Any
) -> None:
    core = FakeCore(rec, chain_a(rec))
    sent: list[int] = []

    def interrupt_during_first_getblock(method: str, params: Any) -> None:
        if method == "getblock" and not sent:
            sent.append(1)
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C while the batch is being fetched

    core.hooks.append(interrupt_during_first_getblock)
    server = rpc_servers(handler=core)
    summary = ingest(con, server, 49999, None, batch_blocks=2)
    assert (summary.blocks, summary.first_height, summary.last_height) == (2, 49999, 50000)
    assert summary.notes == ["stopped on request; the next run resumes at height 50001"]
    assert con.execute("SELECT list(height ORDER BY height) FROM blocks").fetchone() == (
        [49999, 50000],
    )
    again = ingest(con, server, None, None)
    assert (again.blocks, again.first_height, again.last_height, again.notes) == (
        2,
        50001,
        50002,
        [],
    )


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_follow_stops_cleanly_on_a_signal(
    db_path: Path, rec: Recordings, rpc_servers: Any, sig: signal.Signals
) -> None:
    server = rpc_servers(handler=FakeCore(rec, chain_a(rec)))
    args = ["--db", str(db_path), "--quiet", "--format", "json", "ingest", "bitcoin"]
    args += ["--from", "rpc", server.url, "--start", "49999", "--follow", "--behind", "0"]
    follower = subprocess.Popen([*CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        # Caught up: a second getblockcount, then the check of the stored tip, then it waits
        # (10 s between polls by default).
        deadline = time.monotonic() + 60
        while not (
            [m for m, _ in server.calls].count("getblockcount") >= 2
            and server.calls[-1][0] == "getblockhash"
        ):
            assert follower.poll() is None and time.monotonic() < deadline, "never caught up"
            time.sleep(0.05)
        began = time.monotonic()
        follower.send_signal(sig)
        out, err = follower.communicate(timeout=30)
    finally:
        follower.kill()
    assert time.monotonic() - began < 5  # woke from its wait, not after the next poll
    assert follower.returncode == 0, err
    result = json.loads(out)
    assert (result["blocks"], result["first_height"], result["last_height"]) == (4, 49999, 50002)
    assert "stopped on request; the next run resumes at height 50003" in result["notes"]
    con = connect(db_path)
    assert con.execute("SELECT count(*), max(height) FROM blocks").fetchone() == (4, 50002)
    con.close()


@pytest.mark.slow
def test_cli_ingest_from_rpc(
    db_path: Path,
    rec: Recordings,
    rpc_servers: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server = rpc_servers(handler=FakeCore(rec, rec.blocks), auth=("u", "p"))
    args = ["--db", str(db_path), "--quiet", "ingest", "bitcoin", "--from", "rpc", server.url]
    args += ["--start", "0", "--end", "1", "--rpc-user", "u"]
    ok = subprocess.run(
        [*CLI, "--format", "json", *args, "--rpc-password", "p"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ok.returncode == 0, ok.stderr
    result = json.loads(ok.stdout)
    assert (result["blocks"], result["txs"], result["last_height"]) == (2, 2, 1)
    # Refused credentials: one line on stderr, exit code 5 (in-process, same entry point).
    monkeypatch.setattr(sys, "argv", ["chainsleuth", *args, "--rpc-password", "wrong"])
    with pytest.raises(SystemExit) as exited:
        run()
    assert exited.value.code == 5
    assert capsys.readouterr().err.strip().splitlines() == [
        f"error: credentials refused by {server.url} (HTTP 401) for getblockchaininfo; "
        "check the RPC user/password or the cookie file"
    ]
