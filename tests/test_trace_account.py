"""Account-chain tracing against hand-worked figures: balances over time, swaps, endpoints.

Block 1: the victim sends the thief 100 ETH; a clean source sends the thief 100 ETH.
Block 2: the thief sends a mule 50 ETH.
Block 3: the mule sends an exchange 50 ETH; the thief swaps 100 ETH for 1,000 TOK at a pool.
Block 4: the thief sends the exchange 1,000 TOK.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest

from chainsleuth.analytics.tracing.run import trace
from chainsleuth.analytics.tracing.taint import Model
from chainsleuth.analytics.tracing.utxo import TraceParams
from tests.chainbuilder import tag

E = 10**18
NAMES = ["victim", "thief", "clean", "mule", "exchange", "pool"]
ADDR = {n: "0x" + f"{i + 1:040x}" for i, n in enumerate(NAMES)}
TOK = "0x" + "7" * 40
FLOWS = [  # (height, tx, position in block, asset, from, to, amount)
    (1, "a1", 0, "ETH", "victim", "thief", 100 * E),
    (1, "a2", 1, "ETH", "clean", "thief", 100 * E),
    (2, "b1", 0, "ETH", "thief", "mule", 50 * E),
    (3, "c1", 0, "ETH", "mule", "exchange", 50 * E),
    (3, "c2", 1, "ETH", "thief", "pool", 100 * E),
    (3, "c2", 1, TOK, "pool", "thief", 1000 * E),
    (4, "d1", 0, TOK, "thief", "exchange", 1000 * E),
]


def txhash(name: str) -> str:
    return "0x" + name.encode().hex().rjust(64, "0")


@pytest.fixture
def store(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    t0 = dt.datetime(2025, 2, 21, 14, 0)
    for i, n in enumerate(NAMES):
        con.execute("INSERT INTO addresses VALUES ('ethereum', ?, ?)", [ADDR[n], 1000 + i])
    ids = {n: 1000 + i for i, n in enumerate(NAMES)}
    for h in range(1, 5):
        con.execute(
            "INSERT INTO blocks VALUES ('ethereum', ?, ?, ?, ?, 1)",
            [h, f"b{h}", f"b{h - 1}", t0 + dt.timedelta(minutes=h)],
        )
    seen = set()
    for i, (h, tx, pos, asset, src, dst, amount) in enumerate(FLOWS):
        time = t0 + dt.timedelta(minutes=h)
        if tx not in seen:
            seen.add(tx)
            con.execute(
                "INSERT INTO txs (chain, block_height, tx_hash, position, time)"
                " VALUES ('ethereum', ?, ?, ?, ?)",
                [h, txhash(tx), pos, time],
            )
        con.execute(
            "INSERT INTO transfers (chain, block_height, time, tx_hash, position, kind, asset,"
            " from_id, to_id, amount, success) VALUES ('ethereum', ?, ?, ?, ?, ?, ?, ?, ?, ?,"
            " true)",
            [
                h,
                time,
                txhash(tx),
                "tx" if asset == "ETH" else f"log:{i}",
                "native" if asset == "ETH" else "token",
                asset,
                ids[src],
                ids[dst],
                amount,
            ],
        )
    tag(con, "ethereum", ADDR["exchange"], "Exchange X", "exchange")
    return con


def endpoints(d: dict) -> dict[str, int]:
    return {e["asset"]: e["amount"] for e in d["endpoints"]}


@pytest.mark.parametrize(
    ("model", "eth", "tok", "held"),
    [
        # haircut: the thief holds 200 with 100 tainted; pays the mule 25 tainted of 50; then
        # 150 with 75 tainted, swaps 100 (50 tainted) into 1,000 TOK (500 tainted).
        (Model.haircut, 25 * E, 500 * E, 25 * E),
        # fifo: the victim's 100 came first: the mule's 50 is all tainted, the swap takes the
        # last 50 tainted and 50 clean.
        (Model.fifo, 50 * E, 500 * E, 0),
        # lifo: the clean 100 came last and leaves first: the mule's 50 is clean; the swap
        # takes the clean 50 left and 50 tainted.
        (Model.lifo, 0, 500 * E, 50 * E),
        (Model.poison, 50 * E, 1000 * E, 0),
    ],
)
def test_models_on_balances(
    store: duckdb.DuckDBPyConnection, model: Model, eth: int, tok: int, held: int
) -> None:
    result = trace(store, "ethereum", [txhash("a1")], TraceParams(model=model))
    d = result.to_dict()
    got = endpoints(d)
    assert got.get("ETH", 0) == eth
    assert got.get(TOK, 0) == tok
    assert d["remainder"]["held_total"] == held
    assert d["seed"]["amount"] == 100 * E


def test_swap_edge_is_flagged_and_pool_not_tainted(store: duckdb.DuckDBPyConnection) -> None:
    d = trace(store, "ethereum", [txhash("a1")], TraceParams(model=Model.haircut)).to_dict()
    swaps = [e for e in d["edges"] if "swap" in e["provenance"]["flags"]]
    assert [(e["from"], e["to"], e["amount"]) for e in swaps] == [
        (ADDR["thief"], ADDR["pool"], 50 * E)
    ]
    assert all(e["from"] != ADDR["pool"] for e in d["edges"])
    (ex_tok,) = [e for e in d["endpoints"] if e["asset"] == TOK]
    assert ex_tok["label"] == "Exchange X" and ex_tok["addresses"][0]["address"] == ADDR["exchange"]
    # Arrival times: the ETH with c1 in block 3, the TOK with d1 in block 4 (a minute each).
    at = {e["asset"]: (e["first_seen"], e["last_seen"]) for e in d["endpoints"]}
    t0 = dt.datetime(2025, 2, 21, 14, 0)
    block = {h: t0 + dt.timedelta(minutes=h) for h in (3, 4)}
    assert at == {"ETH": (block[3], block[3]), TOK: (block[4], block[4])}


def test_a_seed_of_several_assets_shares_by_value(store: duckdb.DuckDBPyConnection) -> None:
    # c2's flows: 100 ETH thief -> pool and 1,000 TOK pool -> thief; the TOK reaches the
    # exchange whole (d1). No prices: no share rather than wei and token units added up.
    d = trace(store, "ethereum", [txhash("c2")], TraceParams(model=Model.haircut)).to_dict()
    assert d["seed"]["assets"] == {"ETH": 100 * E, TOK: 1000 * E}
    assert d["seed"]["value_usd"] is None
    # The ETH stays at the pool; held amounts keep their asset.
    assert d["remainder"]["held"] == [{"address": ADDR["pool"], "asset": "ETH", "amount": 100 * E}]
    assert d["remainder"]["held_by_asset"] == {"ETH": 100 * E}
    assert [e["share"] for e in d["endpoints"]] == [None]
    day = dt.date(2025, 2, 21)
    store.execute(
        "INSERT INTO tokens (chain, contract, symbol, decimals) VALUES ('ethereum', ?, 'TOK', 18)",
        [TOK],
    )
    store.execute(
        "INSERT INTO prices_daily (asset, date, close_usd, source) VALUES"
        " ('ETH', ?, 3000, 't'), ('TOK', ?, 0.5, 't')",
        [day, day],
    )
    d = trace(store, "ethereum", [txhash("c2")], TraceParams(model=Model.haircut)).to_dict()
    assert d["seed"]["value_usd"] == 100 * 3000 + 1000 * 0.5
    (tok,) = d["endpoints"]
    assert (tok["asset"], tok["amount"]) == (TOK, 1000 * E)
    assert tok["share"] == pytest.approx(1000 * 0.5 / 300_500)


def test_address_seed_and_bad_seeds(store: duckdb.DuckDBPyConnection) -> None:
    from chainsleuth.errors import AddressError, NotFoundError

    d = trace(store, "ethereum", [ADDR["mule"]], TraceParams(model=Model.haircut)).to_dict()
    assert endpoints(d) == {"ETH": 50 * E}
    with pytest.raises(AddressError):
        trace(store, "ethereum", ["0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD"], TraceParams())
    with pytest.raises(NotFoundError):
        trace(store, "ethereum", ["0x" + "9" * 40], TraceParams())


@pytest.mark.parametrize(
    ("model", "origins"),
    [
        # The mule's 50 came from the thief's b1, paid from the thief's balance of a1
        # (victim, 100, first) and a2 (clean, 100, second).
        (Model.haircut, {"victim": 25, "clean": 25}),
        (Model.fifo, {"victim": 50}),
        (Model.lifo, {"clean": 50}),
        (Model.poison, {"victim": 100, "clean": 100}),  # every earlier inflow, whole
    ],
)
def test_backward_finds_where_a_deposit_came_from(
    store: duckdb.DuckDBPyConnection, model: Model, origins: dict[str, int]
) -> None:
    params = TraceParams(model=model, direction="backward")
    d = trace(store, "ethereum", [txhash("c1")], params, use_tags=False).to_dict()
    assert d["direction"] == "backward"
    assert d["seed"]["amount"] == 50 * E
    by_address = {v: k for k, v in ADDR.items()}
    held = {by_address[h["address"]]: h["amount"] for h in d["remainder"]["held"]}
    assert held == {k: v * E for k, v in origins.items()}
    first = [
        (by_address[e["from"]], by_address[e["to"]], e["amount"])
        for e in d["edges"]
        if e["hop"] == 1
    ]
    assert first == [("mule", "thief", 50 * E)]
    second = {by_address[e["to"]]: e["amount"] for e in d["edges"] if e["hop"] == 2}
    assert second == {k: v * E for k, v in origins.items()}


def test_backward_from_an_address_asks_the_senders_of_all_it_received(
    store: duckdb.DuckDBPyConnection,
) -> None:
    # Everything the exchange received, asked backward: the mule's 50 ETH (from the thief,
    # from the victim and the clean source) and the thief's 1,000 TOK (from the pool's swap).
    params = TraceParams(model=Model.fifo, direction="backward", max_hops=1)
    d = trace(store, "ethereum", [ADDR["exchange"]], params, use_tags=False).to_dict()
    assert d["seed"]["assets"] == {"ETH": 50 * E, TOK: 1000 * E}
    rem = d["remainder"]
    # the seed's own asset alone: wei and token units are never added up
    assert rem["beyond_max_hops"] == 50 * E
    assert rem["by_asset"]["ETH"]["beyond_max_hops"] == 50 * E
    assert rem["by_asset"][TOK]["beyond_max_hops"] == 1000 * E


def test_value_shares_reach_past_a_bridge() -> None:
    from chainsleuth.analytics.tracing.result import TraceResult

    result = TraceResult("ethereum", "haircut", "forward", [], 0.0, "ETH")
    result.seed_assets = {"ETH": 2 * E, TOK: 1000 * E}
    usd = {"ETH": 3000 / E, TOK: 0.5 / E, "BTC": 100_000 / 10**8}
    assert result.share("bitcoin", "BTC", 10**8) is None  # not valued yet
    result.usd_per_unit = usd
    assert result.seed_value() == pytest.approx(6500)
    assert result.share("bitcoin", "BTC", 10**8) == pytest.approx(100_000 / 6500)
    assert result.share("ethereum", TOK, 1000 * E) == pytest.approx(500 / 6500)
    assert result.share("ethereum", "0x" + "9" * 40, 1) is None  # an asset without price


def test_the_remainder_keeps_each_asset_apart() -> None:
    from chainsleuth.analytics.tracing.result import TraceResult

    result = TraceResult("ethereum", "haircut", "forward", [], 0.0, "ETH")
    result.hold("1", 3 * E)
    result.hold("2", 7 * E, TOK)
    result.lose("fees", E)
    result.lose("below_threshold", 5 * E, TOK)
    past = TraceResult("bitcoin", "haircut", "forward", [], 0.0, "BTC")
    past.hold("9", 4 * 10**8)
    past.lose("fees", 2_000)
    result.absorb(past, hop_offset=3)
    rem = result.remainder()
    # the seed's asset (ETH) alone in the single figures: no wei + token units + satoshi
    assert (rem["held_total"], rem["fees"], rem["below_threshold"]) == (3 * E, E, 0)
    assert rem["held_by_asset"] == {"ETH": 3 * E, TOK: 7 * E, "BTC": 4 * 10**8}
    assert rem["by_asset"][TOK] == {
        "held": 7 * E,
        "fees": 0,
        "below_threshold": 5 * E,
        "beyond_max_hops": 0,
        "after_until": 0,
    }
    assert rem["by_asset"]["BTC"]["fees"] == 2_000
    assert {h["address"] for h in rem["held"]} == {"1", "2", "bitcoin:9"}
