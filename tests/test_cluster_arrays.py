"""The embedded engine's array heuristics make exactly the links of the portable SQL (the
Spark job's), on random chains, over the whole chain and over later windows."""

from __future__ import annotations

from collections import Counter

import duckdb
import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from chainsleuth.analytics.clustering import arrays
from chainsleuth.analytics.clustering.coinjoin import TX0, detection_sql
from chainsleuth.analytics.clustering.heuristics import families
from chainsleuth.analytics.clustering.window import Window
from chainsleuth.store.db import connect
from tests.chainbuilder import chain, ingest
from tests.test_cluster_engine import ALL, EVERY, random_chain

Rows = list[tuple[object, ...]]


def by_sql(con: duckdb.DuckDBPyConnection, w: Window, names: list[str]) -> tuple[Rows, Rows]:
    """(links, CoinJoins and tx0s) of the window from the SQL the Spark job runs."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE _found AS {detection_sql(w)}")
    con.execute(f"INSERT INTO sql_cj SELECT 'bitcoin', * FROM _found WHERE kind <> '{TX0}'")
    con.execute(
        "INSERT INTO sql_pm SELECT 'bitcoin', block_height, tx_hash FROM _found"
        f" WHERE kind = '{TX0}'"
    )
    links: Rows = []
    for build, chosen in families(names):
        links += con.execute(build(w, chosen)).fetchall()
    found = con.execute("SELECT block_height, tx_hash, kind FROM _found").fetchall()
    return sorted(links), sorted(found)


def by_arrays(con: duckdb.DuckDBPyConnection, w: Window, names: list[str]) -> tuple[Rows, Rows]:
    """The same from `arrays.make` / `arrays.store`."""
    made = arrays.make(con, w, names)
    arrays.store(con, made, "arr_links", "arr_cj", "arr_pm")
    links = con.execute(  # the evidence's hash from its (height, position)
        "SELECT address_id_a, address_id_b, t.tx_hash, l.block_height, heuristic"
        " FROM arr_links l JOIN txs t ON t.chain = l.chain AND t.block_height = l.block_height"
        " AND t.position = l.tx_position"
    ).fetchall()
    found = con.execute(
        "SELECT * FROM (SELECT block_height, tx_hash, kind FROM arr_cj UNION ALL"
        f" SELECT block_height, tx_hash, '{TX0}' FROM arr_pm) WHERE block_height >= ?",
        [w.lo],
    ).fetchall()
    con.execute("DELETE FROM arr_links")
    return sorted(links), sorted(found)


@pytest.mark.slow
@settings(max_examples=25, deadline=None)
@example(seed=7, n_blocks=12, cut=5, shuffled=False)
@example(seed=7, n_blocks=12, cut=5, shuffled=True)
@given(st.integers(0, 10**6), st.integers(2, 14), st.integers(0, 13), st.booleans())
def test_array_links_equal_the_sql_links(
    seed: int, n_blocks: int, cut: int, shuffled: bool
) -> None:
    con = connect(":memory:")
    ingest(con, chain(*random_chain(seed, n_blocks)))
    if shuffled:  # rows stored out of chain order, a transaction's rows apart
        for table in ("inputs", "outputs"):
            con.execute(
                f"CREATE TEMP TABLE _rows AS SELECT * FROM {table} ORDER BY hash(n, tx_hash)"
            )
            con.execute(f"DELETE FROM {table}")
            con.execute(f"INSERT INTO {table} SELECT * FROM _rows")
            con.execute("DROP TABLE _rows")
    for table, like in (
        ("sql_cj", "coinjoin_txs"),
        ("sql_pm", "premix_txs"),
        ("arr_cj", "coinjoin_txs"),
        ("arr_pm", "premix_txs"),
        ("arr_links", "cluster_links"),
    ):
        con.execute(f"CREATE TEMP TABLE {table} AS SELECT * FROM {like} LIMIT 0")
    tip = n_blocks - 1
    whole = Window("bitcoin", 0, tip, coinjoins="sql_cj", premixes="sql_pm")
    expected = by_sql(con, whole, EVERY)
    if (seed, n_blocks) == (7, 12):  # the explicit example is not vacuous: CoinJoins, links
        assert expected[1] and {row[4] for row in expected[0]} >= {"multi-input", "change-fresh"}
    assert by_arrays(con, Window("bitcoin", 0, tip, "arr_cj", "arr_pm"), EVERY) == expected
    # A later window (what an incremental run reads), with the incremental heuristics.
    lo = min(cut, tip)
    con.execute("DELETE FROM sql_cj WHERE block_height >= ?", [lo])
    con.execute("DELETE FROM sql_pm WHERE block_height >= ?", [lo])
    con.execute("DELETE FROM arr_cj WHERE block_height >= ?", [lo])
    con.execute("DELETE FROM arr_pm WHERE block_height >= ?", [lo])
    later = by_sql(con, Window("bitcoin", lo, tip, "sql_cj", "sql_pm"), ALL)
    assert by_arrays(con, Window("bitcoin", lo, tip, "arr_cj", "arr_pm"), ALL) == later
    con.close()


@pytest.mark.parametrize("n", [10, 2**40])  # 2**40 transactions leave 22 bits: values ranked
def test_equal_values_groups_each_transactions_equal_outputs(n: int) -> None:
    rng = np.random.default_rng(n)
    tx = np.sort(rng.integers(0, min(n, 50), 2_000))
    value = rng.choice([5, 1 << 30, 2_100_000_000_000_000, 7_000], tx.size)
    expected = sorted(Counter(zip(tx.tolist(), value.tolist(), strict=True)).items())
    g_tx, g_value, k = arrays._equal_values(tx, value, n)
    found = list(zip(g_tx.tolist(), g_value.tolist(), strict=True))
    assert sorted(zip(found, k.tolist(), strict=True)) == expected
    assert g_tx.tolist() == sorted(g_tx.tolist())
