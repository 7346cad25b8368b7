"""UTXO tracing against hand-worked figures for every model, forward and backward.

Chain: t0 mints 50 to A; t1 spends A to B 30 and C 19 (fee 1); t2 spends B to D 29 (fee 1);
x0 mints 10 to X; t3 spends C (19) then X (10) to E 5 and F 23 (fee 1).
"""

from __future__ import annotations

import datetime as dt

import duckdb
import pyarrow as pa
import pytest

from chainsleuth.analytics.tracing.coins import CoinSeed, seed_coins
from chainsleuth.analytics.tracing.endpoints import CustodialStops
from chainsleuth.analytics.tracing.hop_fetch import HopFetch
from chainsleuth.analytics.tracing.result import Endpoint
from chainsleuth.analytics.tracing.run import trace
from chainsleuth.analytics.tracing.taint import Model
from chainsleuth.analytics.tracing.utxo import TraceParams, trace_utxo
from chainsleuth.store.addresses import address_id
from chainsleuth.store.utxo import rollback
from tests.chainbuilder import T0, addr, block, chain, ingest, tag

RAW = [
    [{"id": "t0", "ins": [], "outs": [("A", 50)]}, {"id": "x0", "ins": [], "outs": [("X", 10)]}],
    [{"id": "t1", "ins": [("t0", 0)], "outs": [("B", 30), ("C", 19)]}],
    [{"id": "t2", "ins": [("t1", 0)], "outs": [("D", 29)]}],
    [{"id": "t3", "ins": [("t1", 1), ("x0", 0)], "outs": [("E", 5), ("F", 23)]}],
]
BLOCKS = chain(*RAW)


@pytest.fixture
def store(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    ingest(con, BLOCKS)
    return con


def run(
    con: duckdb.DuckDBPyConnection, model: Model, seed: CoinSeed, **kw: object
) -> dict[str, object]:
    fetch = HopFetch.current(con, "bitcoin")
    seeds = seed_coins(fetch, [seed])
    result = trace_utxo(fetch, seeds, [], TraceParams(model=model, **kw))  # type: ignore[arg-type]
    return result.to_dict()


def held(d: dict[str, object]) -> dict[str, int]:
    rem = d["remainder"]
    assert isinstance(rem, dict)
    return {h["address"]: h["amount"] for h in rem["held"]}


@pytest.mark.parametrize(
    ("model", "want_held", "want_fees"),
    [
        # t3's inputs: C 19 tainted then X 10 clean; outputs E 5, F 23, fee 1.
        (
            Model.haircut,
            {"D": 29, "E": round(5 * 19 / 29), "F": round(23 * 19 / 29)},
            round(1 + 1 + 19 / 29),
        ),
        (Model.fifo, {"D": 29, "E": 5, "F": 14}, 2),
        (Model.lifo, {"D": 29, "F": 18}, 3),
        (Model.poison, {"D": 29, "E": 5, "F": 23}, 3),
    ],
)
def test_forward_models(
    store: duckdb.DuckDBPyConnection, model: Model, want_held: dict[str, int], want_fees: int
) -> None:
    d = run(store, model, CoinSeed("t0", 0))
    assert held(d) == want_held
    rem = d["remainder"]
    assert isinstance(rem, dict) and rem["fees"] == want_fees


def test_endpoint_stops_the_trace(store: duckdb.DuckDBPyConnection) -> None:
    d_id = address_id(store, "bitcoin", "B")
    assert d_id is not None
    stops = {d_id: Endpoint("cluster:7", "Exchange K", "exchange")}
    d = run(store, Model.haircut, CoinSeed("t0", 0), stops=stops)
    endpoints = d["endpoints"]
    assert isinstance(endpoints, list)
    assert [(e["label"], e["amount"], e["addresses"][0]["address"]) for e in endpoints] == [
        ("Exchange K", 30, "B")
    ]
    assert endpoints[0]["share"] == pytest.approx(30 / 50)
    assert "D" not in held(d)  # not followed past the exchange


def test_max_hops_and_min_amount(store: duckdb.DuckDBPyConnection) -> None:
    d = run(store, Model.haircut, CoinSeed("t0", 0), max_hops=1)
    rem = d["remainder"]
    assert isinstance(rem, dict) and rem["beyond_max_hops"] == 49 and rem["fees"] == 1
    d = run(store, Model.haircut, CoinSeed("t0", 0), min_amount=20)
    rem = d["remainder"]
    assert isinstance(rem, dict) and rem["below_threshold"] == 19  # C is not followed


def test_backward_haircut_reaches_the_mint(store: duckdb.DuckDBPyConnection) -> None:
    # F (23) came from t3's inputs C 19 and X 10 in proportion: 23*19/29 and 23*10/29,
    # and C's part from A's coinbase before it.
    d = run(store, Model.haircut, CoinSeed("t3", 1), direction="backward")
    assert held(d) == {"(newly minted)": 23}
    edges = d["edges"]
    assert isinstance(edges, list)
    first_hop = {(e["from"], e["to"]): e["amount"] for e in edges if e["hop"] == 1}
    assert first_hop == {("F", "C"): round(23 * 19 / 29), ("F", "X"): round(23 * 10 / 29)}


def test_backward_origin_is_timed_when_the_value_left_it(
    store: duckdb.DuckDBPyConnection,
) -> None:
    x_id = address_id(store, "bitcoin", "X")
    assert x_id is not None
    stops = {x_id: Endpoint("cluster:9", "Exchange X", "exchange")}
    d = run(store, Model.haircut, CoinSeed("t3", 1), direction="backward", stops=stops)
    endpoints = d["endpoints"]
    assert isinstance(endpoints, list)
    (x,) = [e for e in endpoints if e["label"] == "Exchange X"]
    spent = store.execute("SELECT time FROM txs WHERE tx_hash = 't3'").fetchall()[0][0]
    assert x["amount"] == round(23 * 10 / 29)
    assert x["first_seen"] == x["last_seen"] == spent


def test_edges_carry_provenance(store: duckdb.DuckDBPyConnection) -> None:
    d = run(store, Model.fifo, CoinSeed("t0", 0))
    edges = d["edges"]
    assert isinstance(edges, list)
    assert {(e["hop"], e["tx_hash"], e["from"], e["to"], e["amount"]) for e in edges} == {
        (1, "t1", "A", "B", 30),
        (1, "t1", "A", "C", 19),
        (2, "t2", "B", "D", 29),
        (2, "t3", "C", "E", 5),
        (2, "t3", "C", "F", 14),
    }
    assert all(e["provenance"]["rule"].startswith("fifo") for e in edges)


def test_coinjoin_passes_by_value_share_and_is_flagged(store: duckdb.DuckDBPyConnection) -> None:
    d = run(store, Model.fifo, CoinSeed("t0", 0), coinjoins=frozenset({"t3"}))
    assert held(d)["F"] == int(23 * 19 / 29)  # value share, not FIFO order
    assert d["flags"] == ["coinjoin"]


def test_index_follows_new_blocks_and_reorgs(con: duckdb.DuckDBPyConnection) -> None:
    ingest(con, BLOCKS[:2])
    assert held(run(con, Model.haircut, CoinSeed("t0", 0))) == {"B": 30, "C": 19}
    ingest(con, BLOCKS[2:])  # t2 spends B, t3 spends C: the index must link both
    d = run(con, Model.fifo, CoinSeed("t0", 0))
    assert held(d) == {"D": 29, "E": 5, "F": 14}
    # A reorg replaces blocks 2 and 3 by one block where t4 spends B to G (fee 2); the
    # index was built on the old blocks and is not told: it must see the hash change.
    rollback(con, "bitcoin", 2)
    alt = block(2, "h1", [{"id": "t4", "ins": [("t1", 0)], "outs": [("G", 28)]}])
    alt["stg_blocks"] = alt["stg_blocks"].set_column(
        alt["stg_blocks"].schema.get_field_index("hash"), "hash", pa.array(["h2-other"])
    )
    ingest(con, [alt])
    d = run(con, Model.fifo, CoinSeed("t0", 0))
    assert held(d) == {"G": 28, "C": 19}
    rem = d["remainder"]
    assert isinstance(rem, dict) and rem["fees"] == 1 + 2


def test_tags_added_after_a_trace_are_endpoints(store: duckdb.DuckDBPyConnection) -> None:
    def endpoints() -> list[tuple[str, int]]:
        stops = CustodialStops(store, "bitcoin")
        assert stops.indexed  # brought up to date: the indexed endpoints are the ones read
        d = run(store, Model.haircut, CoinSeed("t0", 0), stops=stops)
        found = d["endpoints"]
        assert isinstance(found, list)
        return [(e["label"], e["amount"]) for e in found]

    assert endpoints() == []
    tag(store, "bitcoin", "D", "Exchange K", "exchange")
    assert endpoints() == [("Exchange K", 29)]


def test_index_takes_in_a_block_stored_late(con: duckdb.DuckDBPyConnection) -> None:
    ingest(con, [BLOCKS[0], BLOCKS[2]])  # block 1 (t1) is missing: t0's coin looks unspent
    assert held(run(con, Model.fifo, CoinSeed("t0", 0))) == {"A": 50}
    ingest(con, [BLOCKS[1]])  # stored below the indexed tip
    d = run(con, Model.fifo, CoinSeed("t0", 0))
    assert held(d)["C"] == 19 and "A" not in held(d)


def test_until_leaves_later_spends_where_they_are(store: duckdb.DuckDBPyConnection) -> None:
    # Blocks are 10 minutes apart from T0: t2 (block 2) is before the cut, t3 (block 3) after.
    until = T0 + dt.timedelta(minutes=25)
    d = run(store, Model.haircut, CoinSeed("t0", 0), until=until)
    assert held(d) == {"D": 29}
    rem = d["remainder"]
    assert isinstance(rem, dict) and (rem["after_until"], rem["fees"]) == (19, 2)


def test_an_address_seed_traces_what_it_received(con: duckdb.DuckDBPyConnection) -> None:
    named = chain(
        *[
            [
                {
                    **tx,
                    "outs": [(addr(name), value) for name, value in tx["outs"]],
                }
                for tx in txs
            ]
            for txs in RAW
        ]
    )
    ingest(con, named)
    result = trace(con, "bitcoin", [addr("A")], TraceParams(model=Model.fifo), use_tags=False)
    d = result.to_dict()
    assert d["seed"]["items"] == [{"kind": "address", "address": addr("A")}]
    assert d["seed"]["amount"] == 50
    assert held(d) == {addr("D"): 29, addr("E"): 5, addr("F"): 14}  # test_forward_models' FIFO
