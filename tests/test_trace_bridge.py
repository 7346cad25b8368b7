"""Crossing a bridge both ways, forward and backward, on a hand-built pair of chains.

Prices: ETH $3,000 and BTC $100,000 all day, so 1 BTC = 33⅓ ETH and 100 ETH = 3 BTC.

- Ethereum to Bitcoin: the victim A pays the thief 100 ETH (eth block 1, T0+1m); the thief
  deposits it at the bridge (block 2, T0+2m). On Bitcoin the bridge's wallet releases 3 BTC
  to R (tx R1, T0+10m, 8 minutes later); R pays exchange E (E1).
- Bitcoin to Ethereum: exchange V pays T 1.99995 BTC (T1, T0+40m); T deposits 1.5 BTC at
  the bridge with change back to itself (D1, T0+50m). On Ethereum the bridge releases
  70 ETH to U2 (T0+57m, not the match: 2.1 BTC's worth) and 50 ETH = 1.5 BTC to U1 (T0+58m,
  8 minutes after D1); U1 pays exchange X (T0+70m).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from chainsleuth.analytics.tracing.bridge import bridge_addresses, match
from chainsleuth.analytics.tracing.result import Leg
from chainsleuth.analytics.tracing.run import trace
from chainsleuth.analytics.tracing.taint import Model
from chainsleuth.analytics.tracing.utxo import TraceParams
from chainsleuth.interfaces.cli.main import app
from tests.chainbuilder import T0, chain, ingest, tag


def txid(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


CB, R1, E1, V1, T1, D1 = (txid(n) for n in ("cb", "r1", "e1", "v1", "t1", "d1"))
E = 10**18
ETH = {
    name: "0x" + byte * 20
    for name, byte in (
        ("victim", "a1"),
        ("thief", "b2"),
        ("bridge", "c3"),
        ("u1", "d4"),
        ("u2", "e5"),
        ("x", "f6"),
    )
}
ETH_TXS = {  # eth block: (minutes after T0, tx hash, from, to, ETH)
    1: (1, "0x" + "01" * 32, "victim", "thief", 100),
    2: (2, "0x" + "02" * 32, "thief", "bridge", 100),
    3: (57, "0x" + "03" * 32, "bridge", "u2", 70),
    4: (58, "0x" + "04" * 32, "bridge", "u1", 50),
    5: (70, "0x" + "05" * 32, "u1", "x", 50),
}
BTC_BLOCKS = chain(  # block h at T0 + 10h minutes
    [{"id": CB, "ins": [], "outs": [("btcbridge", 1_000_000_000)]}],
    [{"id": R1, "ins": [(CB, 0)], "outs": [("R", 300_000_000), ("btcbridge", 699_990_000)]}],
    [{"id": E1, "ins": [(R1, 0)], "outs": [("E", 299_990_000)]}],
    [{"id": V1, "ins": [], "outs": [("V", 200_000_000)]}],
    [{"id": T1, "ins": [(V1, 0)], "outs": [("T", 199_995_000)]}],
    [{"id": D1, "ins": [(T1, 0)], "outs": [("btcbridge", 150_000_000), ("T", 49_990_000)]}],
)
CONFIDENCE = round(1 - 8 * 60 / (6 * 3600), 3)  # exact amount, 8 minutes of a 6-hour window


@pytest.fixture
def store(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    ingest(con, BTC_BLOCKS)
    for i, address in enumerate(ETH.values()):
        con.execute("INSERT INTO addresses VALUES ('ethereum', ?, ?)", [address, 5000 + i])
    ids = {n: 5000 + i for i, n in enumerate(ETH)}
    for h, (minutes, tx, src, dst, ether) in ETH_TXS.items():
        time = T0 + dt.timedelta(minutes=minutes)
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
            [h, time, tx, ids[src], ids[dst], ether * E],
        )
    con.execute(
        "INSERT INTO prices_daily (asset, date, close_usd, source) VALUES"
        " ('ETH', ?, 3000, 't'), ('BTC', ?, 100000, 't')",
        [T0.date(), T0.date()],
    )
    tag(con, "ethereum", ETH["bridge"], "ETH-BTC bridge", "defi_bridge")
    tag(con, "bitcoin", "btcbridge", "ETH-BTC bridge", "defi_bridge")
    tag(con, "bitcoin", "E", "Exchange E", "exchange")
    tag(con, "bitcoin", "V", "Exchange V", "exchange")
    tag(con, "ethereum", ETH["x"], "Exchange X", "exchange")
    tag(con, "ethereum", ETH["victim"], "Exchange A", "exchange")
    return con


def test_trace_crosses_the_bridge_to_the_exchange(store: duckdb.DuckDBPyConnection) -> None:
    d = trace(store, "ethereum", ["0x" + "01" * 32], TraceParams(model=Model.haircut)).to_dict()
    (crossing,) = d["bridges"]
    assert (crossing["release_tx"], crossing["release_n"], crossing["release_amount"]) == (
        R1,
        0,
        300_000_000,
    )
    assert crossing["expected"] == 300_000_000
    assert crossing["confidence"] == CONFIDENCE
    (ep,) = d["endpoints"]
    assert (ep["chain"], ep["asset"], ep["label"], ep["amount"]) == (
        "bitcoin",
        "BTC",
        "Exchange E",
        299_990_000,
    )
    assert ep["share"] is None  # another chain's asset than the seed's
    assert "bridge" in d["flags"]


def test_a_coinjoin_after_the_crossing_is_flagged(store: duckdb.DuckDBPyConnection) -> None:
    params = TraceParams(model=Model.haircut)
    assert "coinjoin" not in trace(store, "ethereum", ["0x" + "01" * 32], params).flags
    store.execute("INSERT INTO coinjoin_txs VALUES ('bitcoin', 2, ?, 'wasabi2')", [E1])
    params = TraceParams(model=Model.haircut)
    assert "coinjoin" in trace(store, "ethereum", ["0x" + "01" * 32], params).flags


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
    assert m.found.tx_hash == R1 and 0 < m.confidence < 1


def test_bitcoin_deposit_continues_on_ethereum(store: duckdb.DuckDBPyConnection) -> None:
    d = trace(store, "bitcoin", [f"{T1}:0"], TraceParams(model=Model.haircut)).to_dict()
    (crossing,) = d["bridges"]
    deposit = {k: crossing[k] for k in ("deposit_chain", "deposit_tx", "deposit_n")}
    assert deposit == {"deposit_chain": "bitcoin", "deposit_tx": D1, "deposit_n": 0}
    assert (crossing["deposit_amount"], crossing["tainted"]) == (150_000_000, 150_000_000)
    # 1.5 BTC is 50 ETH: U1's release, not U2's 70 ETH a minute earlier
    assert (crossing["release_chain"], crossing["release_tx"]) == ("ethereum", ETH_TXS[4][1])
    assert (crossing["release_address"], crossing["release_amount"]) == (ETH["u1"], 50 * E)
    assert crossing["expected"] == pytest.approx(50 * E, rel=1e-9)
    assert (crossing["seconds"], crossing["confidence"]) == (480, CONFIDENCE)
    (ep,) = d["endpoints"]
    assert (ep["label"], ep["chain"], ep["asset"], ep["amount"]) == (
        "Exchange X",
        "ethereum",
        "ETH",
        50 * E,
    )
    assert [a["address"] for a in ep["addresses"]] == [ETH["x"]]
    # D1's change
    assert d["remainder"]["held"] == [{"address": "T", "asset": "BTC", "amount": 49_990_000}]
    crossed = [e for e in d["edges"] if "bridge" in e["provenance"]["flags"]]
    assert [(e["tx_hash"], e["to"], e["chain"], e["amount"]) for e in crossed] == [
        (D1, ETH["u1"], "ethereum", 50 * E)
    ]


def test_backward_from_ethereum_crosses_to_the_bitcoin_deposit(
    store: duckdb.DuckDBPyConnection,
) -> None:
    params = TraceParams(model=Model.haircut, direction="backward")
    d = trace(store, "ethereum", [ETH_TXS[5][1]], params).to_dict()
    (crossing,) = d["bridges"]
    assert crossing["direction"] == "backward"
    assert (crossing["release_tx"], crossing["release_address"]) == (ETH_TXS[4][1], ETH["u1"])
    assert (crossing["deposit_chain"], crossing["deposit_tx"], crossing["deposit_n"]) == (
        "bitcoin",
        D1,
        0,
    )
    assert (crossing["deposit_amount"], crossing["tainted"]) == (150_000_000, 150_000_000)
    assert crossing["expected"] == pytest.approx(150_000_000, rel=1e-9)
    assert (crossing["seconds"], crossing["confidence"]) == (480, CONFIDENCE)
    # D1 was paid from T's coin, which exchange V paid: V is where the deposit came from
    (ep,) = d["endpoints"]
    assert (ep["label"], ep["chain"], ep["asset"], ep["amount"]) == (
        "Exchange V",
        "bitcoin",
        "BTC",
        150_000_000,
    )


def test_backward_from_bitcoin_crosses_to_the_ethereum_deposit(
    store: duckdb.DuckDBPyConnection,
) -> None:
    params = TraceParams(model=Model.haircut, direction="backward")
    d = trace(store, "bitcoin", [f"{E1}:0"], params).to_dict()
    (crossing,) = d["bridges"]
    assert (crossing["release_chain"], crossing["release_tx"], crossing["release_n"]) == (
        "bitcoin",
        R1,
        0,
    )
    assert (crossing["release_address"], crossing["release_amount"]) == ("R", 300_000_000)
    assert (crossing["deposit_chain"], crossing["deposit_tx"]) == ("ethereum", ETH_TXS[2][1])
    assert (crossing["deposit_address"], crossing["deposit_amount"]) == (ETH["bridge"], 100 * E)
    # E's 2.9999 BTC came out of R's 3 BTC release: that share of the 100 ETH deposit
    share = 299_990_000 / 300_000_000
    assert crossing["tainted"] == pytest.approx(100 * E * share, rel=1e-9)
    assert (crossing["seconds"], crossing["confidence"]) == (480, CONFIDENCE)
    (ep,) = d["endpoints"]
    assert (ep["label"], ep["chain"], ep["asset"]) == ("Exchange A", "ethereum", "ETH")
    assert ep["amount"] == pytest.approx(100 * E * share, rel=1e-9)


def test_unmatched_release_stays_at_the_bridge(store: duckdb.DuckDBPyConnection) -> None:
    store.execute("DELETE FROM prices_daily")  # no price ratio: no amount to match
    params = TraceParams(model=Model.haircut, direction="backward")
    d = trace(store, "bitcoin", [f"{E1}:0"], params).to_dict()
    assert d["bridges"] == []
    (ep,) = d["endpoints"]
    assert (ep["category"], ep["chain"], ep["amount"]) == ("defi_bridge", "bitcoin", 299_990_000)
    assert [a["address"] for a in ep["addresses"]] == ["R"]


def test_matching_rules_from_bitcoin_both_ways(store: duckdb.DuckDBPyConnection) -> None:
    eth_bridge, btc_bridge = bridge_addresses(store, "ethereum"), bridge_addresses(store, "bitcoin")
    (bridge_id,) = btc_bridge
    at_d1 = T0 + dt.timedelta(minutes=50)

    def deposit(sat: int, time: dt.datetime) -> Leg:
        return Leg("bitcoin", "d", 0, bridge_id, sat, time)

    late = deposit(150_000_000, at_d1 - dt.timedelta(hours=7))  # releases 7 h later
    wrong = deposit(180_000_000, at_d1)  # 60 ETH: 50 and 70 are 17 % off
    assert match(store, [late, wrong], "ethereum", eth_bridge) == []
    (m,) = match(store, [deposit(210_000_000, at_d1)], "ethereum", eth_bridge)  # 70 ETH
    assert (m.found.tx_hash, m.found.amount) == (ETH_TXS[3][1], 70 * E)
    # Backward: a deposit must come before the release, within the window.
    release = Leg("ethereum", "r", -1, 5003, 50 * E, T0 + dt.timedelta(minutes=58))
    (m,) = match(store, [release], "bitcoin", btc_bridge, backward=True)
    assert (m.found.tx_hash, m.found.n, m.found.amount) == (D1, 0, 150_000_000)
    early = Leg("ethereum", "r", -1, 5003, 50 * E, T0 + dt.timedelta(minutes=45))
    too_late = Leg("ethereum", "r", -1, 5003, 50 * E, at_d1 + dt.timedelta(hours=7))
    assert match(store, [early, too_late], "bitcoin", btc_bridge, backward=True) == []


def test_cli_lists_the_crossing(store: duckdb.DuckDBPyConnection, db_path: Path) -> None:
    store.close()
    args = ["--db", str(db_path), "--quiet", "--format", "json", "trace", "--chain", "bitcoin"]
    r = CliRunner().invoke(app, [*args, "--seed", f"{T1}:0"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    (crossing,) = d["bridges"]
    assert (crossing["release_tx"], crossing["confidence"]) == (ETH_TXS[4][1], CONFIDENCE)
    assert [(e["label"], e["chain"], e["amount"]) for e in d["endpoints"]] == [
        ("Exchange X", "ethereum", 50 * E)
    ]
    r = CliRunner().invoke(app, [*args, "--seed", f"{E1}:0", "--direction", "backward"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert [(c["deposit_tx"], c["release_tx"]) for c in d["bridges"]] == [(ETH_TXS[2][1], R1)]
    assert [(e["label"], e["chain"]) for e in d["endpoints"]] == [("Exchange A", "ethereum")]
