"""The UTXO writer: prevout resolution, idempotent re-runs, atomic batches, reorg rollback.

A tiny hand-made chain: block 0 pays 50 to A; block 1 spends it to B (30) and C (19,
fee 1); block 2 spends B to D (29, fee 1). Expected figures are worked out by hand.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import duckdb
import pytest

from chainsleuth.errors import InputError
from chainsleuth.store.queries import utxo_address_view, utxo_tx_view
from chainsleuth.store.utxo import apply_staged, rollback, stage_arrow
from tests.chainbuilder import T0, block, ingest

CHAIN = [
    block(0, "00", [{"id": "t0", "ins": [], "outs": [("A", 50)]}]),
    block(1, "h0", [{"id": "t1", "ins": [("t0", 0)], "outs": [("B", 30), ("C", 19)]}]),
    block(2, "h1", [{"id": "t2", "ins": [("t1", 0)], "outs": [("D", 29)]}]),
]


def snapshot(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple[Any, ...]]]:
    """Every table, with address ids replaced by address strings (ids are never reused)."""
    by_address = (
        "SELECT t.* EXCLUDE (address_id), a.address FROM {} t"
        " LEFT JOIN addresses a USING (address_id) ORDER BY ALL"
    )
    return {
        t: con.execute(
            by_address.format(t)
            if t in ("outputs", "inputs")
            else f"SELECT * FROM {t} ORDER BY ALL"
        ).fetchall()
        for t in ("blocks", "txs", "outputs", "inputs", "addresses")
    }


def test_inputs_resolved_across_batches_and_fees(con: duckdb.DuckDBPyConnection) -> None:
    ingest(con, CHAIN)
    t1 = utxo_tx_view(con, "bitcoin", "t1")
    assert [(i["address"], i["value"]) for i in t1["inputs"]] == [("A", 50)]
    assert t1["fee"] == 1 and t1["input_value"] == 50 and t1["output_value"] == 49
    assert [o["spent_by"] for o in t1["outputs"]] == ["t2", None]
    b = utxo_address_view(con, "bitcoin", "B")
    assert (b["received"], b["sent"], b["balance"], b["tx_count"]) == (30, 30, 0, 2)
    assert b["first_seen"] == T0 + dt.timedelta(minutes=10)
    assert b["last_seen"] == T0 + dt.timedelta(minutes=20)
    assert [t["delta"] for t in b["transactions"]] == [-30, 30]


def test_rerun_is_idempotent(con: duckdb.DuckDBPyConnection) -> None:
    ingest(con, CHAIN)
    before = snapshot(con)
    ingest(con, CHAIN)
    assert snapshot(con) == before


def test_rollback_restores_spent_state_and_reingest_matches(
    con: duckdb.DuckDBPyConnection, tmp_path: Any
) -> None:
    ingest(con, CHAIN)
    assert rollback(con, "bitcoin", 2) == 1
    b = utxo_address_view(con, "bitcoin", "B")
    assert (b["received"], b["sent"], b["balance"]) == (30, 0, 30)
    # A competing block 2 pays B's coin to E instead.
    fork = block(2, "h1", [{"id": "t2b", "ins": [("t1", 0)], "outs": [("E", 28)]}])
    ingest(con, [fork])
    fresh = duckdb.connect(str(tmp_path / "fresh.duckdb"))
    from chainsleuth.store.db import migrate

    migrate(fresh)
    ingest(fresh, [*CHAIN[:2], fork])
    got, want = snapshot(con), snapshot(fresh)
    for table in ("blocks", "txs", "outputs", "inputs"):
        assert got[table] == want[table], table
    assert con.execute("SELECT count(*) FROM txs WHERE tx_hash = 't2'").fetchone() == (0,)


def test_failed_batch_leaves_nothing(con: duckdb.DuckDBPyConnection) -> None:
    ingest(con, CHAIN[:1])
    before = snapshot(con)
    bad = block(1, "h0", [{"id": "t1", "ins": [("t0", 0)], "outs": [("B", 30)]}])
    stage_arrow(con, bad)
    con.execute("ALTER TABLE stg_outputs ALTER value TYPE VARCHAR")
    con.execute("UPDATE stg_outputs SET value = 'not a number'")
    with pytest.raises(duckdb.Error):
        apply_staged(con, "bitcoin", "test")
    assert snapshot(con) == before


def merged(blocks: list[dict[str, Any]]) -> dict[str, Any]:
    """The staging tables of several blocks as one batch."""
    import pyarrow as pa

    return {name: pa.concat_tables([b[name] for b in blocks]) for name in blocks[0]}


def test_one_batch_of_many_blocks_equals_one_block_per_batch(
    con: duckdb.DuckDBPyConnection, tmp_path: Any
) -> None:
    """Spends inside a batch and spends of stored outputs end in the same store."""
    more = block(3, "h2", [{"id": "t3", "ins": [("t1", 1), ("t2", 0)], "outs": [("F", 47)]}])
    ingest(con, [CHAIN[0], merged([*CHAIN[1:], more])])
    from chainsleuth.store.db import migrate

    fresh = duckdb.connect(str(tmp_path / "fresh.duckdb"))
    migrate(fresh)
    ingest(fresh, [*CHAIN, more])
    assert snapshot(con) == snapshot(fresh)
    spent = con.execute("SELECT tx_hash, n, spent_by, spent_height FROM outputs ORDER BY ALL")
    assert spent.fetchall() == [
        ("t0", 0, "t1", 1),
        ("t1", 0, "t2", 2),
        ("t1", 1, "t3", 3),
        ("t2", 0, "t3", 3),
        ("t3", 0, None, None),
    ]


@pytest.mark.parametrize("in_batch", [True, False])
def test_output_spent_twice_is_refused(con: duckdb.DuckDBPyConnection, in_batch: bool) -> None:
    """Whether the twice-spent output is staged in the same batch or already stored."""
    ingest(con, CHAIN[:1] if in_batch else CHAIN[:2])
    before = snapshot(con)
    twice = block(
        2,
        "h1",
        [
            {"id": "t2", "ins": [("t1", 0)], "outs": [("D", 29)]},
            {"id": "t2x", "ins": [("t1", 0)], "outs": [("E", 29)]},
        ],
    )
    stage_arrow(con, merged([CHAIN[1], twice]) if in_batch else twice)
    with pytest.raises(InputError, match="output t1:0 is spent twice"):
        apply_staged(con, "bitcoin", "test")
    assert snapshot(con) == before


def test_output_spent_again_by_a_later_batch_is_refused(con: duckdb.DuckDBPyConnection) -> None:
    ingest(con, CHAIN)
    before = snapshot(con)
    again = block(3, "h2", [{"id": "t3", "ins": [("t1", 0)], "outs": [("E", 29)]}])
    stage_arrow(con, again)
    with pytest.raises(InputError, match=r"output t1:0 is spent twice \(block 2 and block 3\)"):
        apply_staged(con, "bitcoin", "test")
    assert snapshot(con) == before


@pytest.mark.parametrize("order", [(2, 1, 0), (1, 0, 2), (0, 2, 1)])
def test_earlier_blocks_stored_later_link_their_stored_spenders(
    con: duckdb.DuckDBPyConnection, tmp_path: Any, order: tuple[int, ...]
) -> None:
    """A range ingested after a later one: stored inputs get the address and value of the
    outputs they spend, the outputs their spender, the spending transactions their fee."""
    ingest(con, [CHAIN[h] for h in order])
    from chainsleuth.store.db import migrate

    fresh = duckdb.connect(str(tmp_path / "fresh.duckdb"))
    migrate(fresh)
    ingest(fresh, CHAIN)
    got, want = snapshot(con), snapshot(fresh)
    for table in ("blocks", "txs", "outputs", "inputs"):
        assert got[table] == want[table], table
    assert utxo_tx_view(con, "bitcoin", "t1")["fee"] == 1


@pytest.mark.parametrize("one_batch", [True, False])
def test_a_spend_of_a_duplicated_txid_takes_the_latest_output(
    con: duckdb.DuckDBPyConnection, one_batch: bool
) -> None:
    """Two coinbases with one txid (mainnet blocks 91722 and 91880, before BIP-30): a later
    spend of that outpoint spends the newer output, as the node's UTXO set holds only it;
    the input is stored once, with the newer output's address and value."""
    dup = [
        block(0, "00", [{"id": "cb", "ins": [], "outs": [("A", 50)]}]),
        block(1, "h0", [{"id": "cb", "ins": [], "outs": [("B", 50)]}]),
        block(2, "h1", [{"id": "t", "ins": [("cb", 0)], "outs": [("C", 49)]}]),
    ]
    ingest(con, [merged(dup)] if one_batch else dup)
    t = utxo_tx_view(con, "bitcoin", "t")
    assert [(i["address"], i["value"]) for i in t["inputs"]] == [("B", 50)]
    assert t["fee"] == 1
    spent = con.execute("SELECT block_height, spent_by FROM outputs WHERE tx_hash = 'cb'")
    assert sorted(spent.fetchall()) == [(0, None), (1, "t")]
