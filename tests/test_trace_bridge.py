"""Crossing a bridge: an Ethereum deposit matched with its Bitcoin release, traced onward.

Ethereum: the victim pays the thief 100 ETH; the thief deposits it at a bridge (tagged
defi_bridge). Bitcoin: the bridge's wallet (tagged defi_bridge) releases 3 BTC — 100 ETH at
that day's closes (ETH $3,000, BTC $100,000) — to R eight minutes later; R pays an exchange.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest

from chainsleuth.analytics.tracing.bridge import bridge_addresses, match
from chainsleuth.analytics.tracing.result import Leg
from chainsleuth.analytics.tracing.run import trace
from chainsleuth.analytics.tracing.taint import Model
from chainsleuth.analytics.tracing.utxo import TraceParams
from tests.chainbuilder import T0, chain, ingest, tag

E = 10**18
ETH = {"victim": "0x" + "a1" * 20, "thief": "0x" + "b2" * 20, "bridge": "0x" + "c3" * 20}
BTC_BLOCKS = chain(
    [{"id": "cb", "ins": [], "outs": [("btcbridge", 1_000_000_000)]}],
    [{"id": "r1", "ins": [("cb", 0)], "outs": [("R", 300_000_000), ("btcbridge", 699_990_000)]}],
    [{"id": "e1", "ins": [("r1", 0)], "outs": [("E", 299_990_000)]}],
)


@pytest.fixture
def store(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    ingest(con, BTC_BLOCKS)
    for i, address in enumerate(ETH.values()):
        con.execute("INSERT INTO addresses VALUES ('ethereum', ?, ?)", [address, 5000 + i])
    ids = {n: 5000 + i for i, n in enumerate(ETH)}
    for h, tx, src, dst in (
        (1, "0x" + "01" * 32, "victim", "thief"),
        (2, "0x" + "02" * 32, "thief", "bridge"),
    ):
        time = T0 + dt.timedelta(minutes=h)
        con.execute(
            "INSERT INTO blocks VALUES ('ethereum', ?, ?, ?, ?, 1)", [h, f"e{h}", f"e{h - 1}", time]
        )
        con.execute(
            "INSERT INTO txs (chain, block_height, tx_hash, position, time) VALUES"
            " ('ethereum', ?, ?, 0, ?)",
            [h, tx, time],
        )
        con.execute(
            "INSERT INTO transfers (chain, block_height, time, tx_hash, position, kind, asset,"
            " from_id, to_id, amount, success) VALUES ('ethereum', ?, ?, ?, 'tx', 'native',"
            " 'ETH', ?, ?, ?, true)",
            [h, time, tx, ids[src], ids[dst], 100 * E],
        )
    con.execute(
        "INSERT INTO prices_daily (asset, date, close_usd, source) VALUES"
        " ('ETH', ?, 3000, 't'), ('BTC', ?, 100000, 't')",
        [T0.date(), T0.date()],
    )
    tag(con, "ethereum", ETH["bridge"], "ETH-BTC bridge", "defi_bridge")
    tag(con, "bitcoin", "btcbridge", "ETH-BTC bridge", "defi_bridge")
    tag(con, "bitcoin", "E", "Exchange E", "exchange")
    return con


def test_trace_crosses_the_bridge_to_the_exchange(store: duckdb.DuckDBPyConnection) -> None:
    d = trace(store, "ethereum", ["0x" + "01" * 32], TraceParams(model=Model.haircut)).to_dict()
    (crossing,) = d["bridges"]
    assert (crossing["release_tx"], crossing["release_n"], crossing["release_amount"]) == (
        "r1",
        0,
        300_000_000,
    )
    assert crossing["expected"] == 300_000_000
    assert crossing["confidence"] == pytest.approx(1 - 8 * 60 / (6 * 3600), abs=1e-3)
    (ep,) = d["endpoints"]
    assert (ep["chain"], ep["asset"], ep["label"], ep["amount"]) == (
        "bitcoin",
        "BTC",
        "Exchange E",
        299_990_000,
    )
    assert ep["share"] is None  # another chain's asset than the seed's
    assert "bridge" in d["flags"]


def test_unmatched_bridge_is_an_endpoint(store: duckdb.DuckDBPyConnection) -> None:
    store.execute("DELETE FROM prices_daily")  # no price ratio: no amount to match
    d = trace(store, "ethereum", ["0x" + "01" * 32], TraceParams(model=Model.haircut)).to_dict()
    assert d["bridges"] == []
    (ep,) = d["endpoints"]
    assert (ep["category"], ep["chain"], ep["amount"]) == ("defi_bridge", "ethereum", 100 * E)


def test_matching_rules(store: duckdb.DuckDBPyConnection) -> None:
    bridge = bridge_addresses(store, "bitcoin")
    late = Leg("ethereum", "x", -1, 5002, 100 * E, T0 - dt.timedelta(hours=7))
    wrong = Leg("ethereum", "y", -1, 5002, 120 * E, T0)
    assert match(store, [late, wrong], "bitcoin", bridge) == []  # out of window / amount
    ok = Leg("ethereum", "z", -1, 5002, 101 * E, T0)  # within 5 % of the release
    (m,) = match(store, [ok], "bitcoin", bridge)
    assert m.found.tx_hash == "r1" and 0 < m.confidence < 1
