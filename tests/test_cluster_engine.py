"""The embedded clustering job on hand-built chains written through the real UTXO writer."""

from __future__ import annotations

import random
from typing import Any

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainsleuth.analytics.clustering import heuristics
from chainsleuth.analytics.clustering.engine import run
from chainsleuth.analytics.clustering.explain import entity_of_id
from chainsleuth.analytics.clustering.partition import resolve_cluster_id
from chainsleuth.errors import NotFoundError
from chainsleuth.store.db import connect
from chainsleuth.store.utxo import rollback
from tests.chainbuilder import chain, ingest

EVERY = heuristics.available("bitcoin")
ALL = [n for n in EVERY if heuristics.HEURISTICS[n].incremental]
"""The heuristics whose links depend only on the past (incremental runs)."""


def clusters(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """address -> cluster_id as stored."""
    found = con.execute(
        "SELECT a.address, c.cluster_id FROM clusters c JOIN addresses a USING (address_id)"
        " WHERE c.chain = 'bitcoin'"
    ).fetchall()
    return {str(a): int(c) for a, c in found}


def groups(con: duckdb.DuckDBPyConnection) -> set[frozenset[str]]:
    """The partition as sets of address strings (ids aside)."""
    by_id: dict[int, set[str]] = {}
    for address, cid in clusters(con).items():
        by_id.setdefault(cid, set()).add(address)
    return {frozenset(g) for g in by_id.values()}


def aid(con: duckdb.DuckDBPyConnection, address: str) -> int:
    found = con.execute("SELECT address_id FROM addresses WHERE address = ?", [address]).fetchall()
    return int(found[0][0])


COINBASE = {"id": "cb", "ins": [], "outs": [(f"U{k}", 10_000_000) for k in range(20)]}


def test_multi_input_links_co_spent_addresses_and_skips_coinjoins(con) -> None:
    blocks = chain(
        [COINBASE],
        [
            {"id": "pay", "ins": [("cb", 0), ("cb", 1)], "outs": [("P", 15_000_000)]},
            # JoinMarket-like: 3 participants, 3 equal outputs, 2 change outputs.
            {
                "id": "jm",
                "ins": [("cb", 2), ("cb", 3), ("cb", 4)],
                "outs": [("J1", 5_000_000), ("J2", 5_000_000), ("J3", 5_000_000), ("X", 4_321)],
            },
            # Whirlpool mix: 5 in, 5 out of the 0.05 BTC pool.
            {
                "id": "wp",
                "ins": [("cb", k) for k in range(5, 10)],
                "outs": [(f"W{k}", 5_000_000) for k in range(5)],
            },
            # Wasabi 1.x: 10 participants, 10 outputs of ~0.1 BTC, coordinator fee.
            {
                "id": "ww",
                "ins": [("cb", k) for k in range(10, 20)],
                "outs": [*((f"Z{k}", 9_500_000) for k in range(10)), ("COORD", 30_000)],
            },
        ],
    )
    ingest(con, blocks)
    summary = run(con, "bitcoin", ["multi-input"])
    assert summary.mode == "full"
    assert summary.coinjoins == 3
    kinds = dict(con.execute("SELECT tx_hash, kind FROM coinjoin_txs").fetchall())
    assert kinds == {"jm": "joinmarket", "wp": "whirlpool-mix", "ww": "wasabi1"}
    got = clusters(con)
    assert got["U0"] == got["U1"] == aid(con, "U0")
    assert len({got[f"U{k}"] for k in range(2, 20)}) == 18
    assert summary.clusters == summary.addresses - 1


def test_coinjoin_where_one_participant_takes_several_equal_outputs(con) -> None:
    # 6 participants, one mixing 8 coins: 13 equal outputs from 6 input addresses.
    cb = {"id": "cb", "ins": [], "outs": [(f"U{k}", 900_000_000) for k in range(6)]}
    outs = [(f"Q{k}", 100_000_000) for k in range(13)] + [("CHANGE", 77_000)]
    ingest(con, chain([cb], [{"id": "big", "ins": [("cb", k) for k in range(6)], "outs": outs}]))
    summary = run(con, "bitcoin", ["multi-input"])
    assert summary.coinjoins == 1
    assert con.execute("SELECT count(*) FROM cluster_links").fetchall() == [(0,)]


def change_chain(outs: list[tuple[str, int]], first_outs: list[tuple[str, int]] | None = None):
    """A coinbase paying IN1/IN2 (and `first_outs`), then one 2-input tx with `outs`."""
    cb_outs = [("IN1", 30_000_000), ("IN2", 20_000_000), *(first_outs or [])]
    return chain(
        [{"id": "cb", "ins": [], "outs": cb_outs}],
        [{"id": "t", "ins": [("cb", 0), ("cb", 1)], "outs": outs}],
    )


@pytest.mark.parametrize(
    ("rule", "outs", "seen_before", "change"),
    [
        # The round output is the payment; the other is change.
        ("change-round", [("PAY", 10_000_000), ("CH", 39_987_654)], None, "CH"),
        # Only CH is new on chain; PAY was paid in the coinbase block.
        ("change-fresh", [("PAY", 123), ("CH", 456)], [("PAY", 1)], "CH"),
        # Change smaller than every input (unnecessary-input rule).
        ("change-optimal", [("PAY", 45_000_000), ("CH", 4_999_000)], None, "CH"),
        # Both rules see two candidates or none: no link.
        ("change-round", [("PAY", 10_000_000), ("CH", 40_000_000)], None, None),
        ("change-optimal", [("PAY", 25_000_000), ("CH", 24_990_000)], None, None),
        ("change-fresh", [("PAY", 123), ("CH", 456)], None, None),
    ],
)
def test_change_rules_link_payer_to_change(con, rule, outs, seen_before, change) -> None:
    ingest(con, change_chain(outs, seen_before))
    run(con, "bitcoin", [rule])
    links = con.execute(
        "SELECT address_id_a, address_id_b, heuristic FROM cluster_links"
    ).fetchall()
    if change is None:
        assert links == []
    else:
        assert links == [(aid(con, "IN1"), aid(con, change), rule)]


def test_change_type_needs_one_output_of_the_inputs_script_type(con) -> None:
    ingest(con, change_chain([("PAY", 1_000), ("CH", 2_000)]))
    con.execute("UPDATE outputs SET script_type = 'p2pkh' WHERE tx_hash = 't' AND n = 0")
    run(con, "bitcoin", ["change-type"])
    links = con.execute("SELECT address_id_b FROM cluster_links").fetchall()
    assert links == [(aid(con, "CH"),)]


def test_change_fingerprint_follows_the_spenders_and_always_recomputes(con) -> None:
    later = chain(
        [],
        [],
        [
            {"id": "s1", "ins": [("t", 1)], "outs": [("N1", 38_000_000)]},
            {"id": "s2", "ins": [("t", 0)], "outs": [("N2", 9_000_000)]},
        ],
    )[2]
    ingest(con, [*change_chain([("PAY", 10_000_000), ("CH", 39_000_000)]), later])
    con.execute("UPDATE txs SET version = 1 WHERE tx_hash = 's2'")  # another wallet
    summary = run(con, "bitcoin", ["change-fingerprint"])
    sql = "SELECT address_id_a, address_id_b, heuristic FROM cluster_links"
    assert con.execute(sql).fetchall() == [(aid(con, "IN1"), aid(con, "CH"), "change-fingerprint")]
    assert summary.mode == "full"
    assert run(con, "bitcoin", ["change-fingerprint"]).mode == "full"
    con.execute("UPDATE txs SET version = 2 WHERE tx_hash = 's2'")  # same wallet: no signal
    run(con, "bitcoin", ["change-fingerprint"])
    assert con.execute(sql).fetchall() == []


def test_wasabi2_rounds_and_whirlpool_tx0s_are_recognised(con) -> None:
    coins = {"id": "cb2", "ins": [], "outs": [(f"V{k}", 1_000_000) for k in range(52)]}
    # Wasabi 2.0: 50+ inputs, several groups of equal standard denominations.
    wasabi2 = {
        "id": "w2",
        "ins": [("cb2", k) for k in range(50)],
        "outs": [
            *((f"O{g}.{j}", 100_000 * (g + 1)) for g in range(5) for j in range(2)),
            *((f"R{k}", 3_000_000 + k) for k in range(3)),
        ],
    }
    # Whirlpool tx0: one owner's premixes of the 0.001 BTC pool plus its fee, an OP_RETURN.
    tx0 = {
        "id": "tx0",
        "ins": [("cb2", 50), ("cb2", 51)],
        "outs": [(None, 0), *((f"P{k}", 100_500) for k in range(3)), ("TXCH", 1_690_000)],
    }
    ingest(con, chain([coins], [wasabi2, tx0]))
    run(con, "bitcoin", ["multi-input", "change-fresh"])
    assert con.execute("SELECT tx_hash, kind FROM coinjoin_txs").fetchall() == [("w2", "wasabi2")]
    assert con.execute("SELECT tx_hash FROM premix_txs").fetchall() == [("tx0",)]
    evidence = {
        r[0]
        for r in con.execute(
            "SELECT t.tx_hash FROM cluster_links l JOIN txs t ON t.chain = l.chain"
            " AND t.block_height = l.block_height AND t.position = l.tx_position"
        ).fetchall()
    }
    assert evidence == {"tx0"}  # the tx0's two inputs are one owner; the round is skipped
    links = con.execute("SELECT heuristic FROM cluster_links").fetchall()
    assert links == [("multi-input",)]  # a tx0's outputs are never read as change


def test_ids_are_stable_merges_log_aliases_and_reruns_change_nothing(con) -> None:
    outs = [("A", 10), ("B", 10), ("C", 10), ("D", 10), ("C", 10)]
    blocks = chain(
        [{"id": "cb", "ins": [], "outs": outs}],
        [{"id": "t1", "ins": [("cb", 2), ("cb", 3)], "outs": [("E", 15)]}],
        [{"id": "t2", "ins": [("cb", 0), ("cb", 4)], "outs": [("F", 20)]}],
    )
    ingest(con, blocks[:2])
    run(con, "bitcoin", ["multi-input"])
    first = clusters(con)
    assert first["C"] == first["D"] == aid(con, "C")
    ingest(con, blocks[2:])
    summary = run(con, "bitcoin", ["multi-input"])
    assert summary.mode == "incremental"
    assert summary.merges_logged == 1
    now = clusters(con)
    assert now["A"] == now["C"] == now["D"] == aid(con, "A")
    assert now["E"] == aid(con, "E")
    aliases = con.execute("SELECT alias_id, cluster_id FROM cluster_aliases").fetchall()
    assert aliases == [(aid(con, "C"), aid(con, "A"))]
    assert resolve_cluster_id(con, "bitcoin", aid(con, "C")) == aid(con, "A")
    cited = entity_of_id(con, "bitcoin", aid(con, "C"))  # the id a case cited before the merge
    assert (cited["cluster_id"], cited["resolved_from"], cited["size"]) == (
        aid(con, "A"),
        aid(con, "C"),
        3,
    )
    with pytest.raises(NotFoundError, match="cluster id 999999 was never issued"):
        entity_of_id(con, "bitcoin", 999_999)
    again = run(con, "bitcoin", ["multi-input"])
    assert again.mode == "unchanged"
    assert clusters(con) == now
    run(con, "bitcoin", ["multi-input"], full=True)
    assert clusters(con) == now


def test_a_block_stored_below_the_clustered_tip_is_clustered(con) -> None:
    blocks = chain(
        [{"id": "cb", "ins": [], "outs": [("A", 10), ("B", 10), ("C", 10)]}],
        [{"id": "t1", "ins": [("cb", 2)], "outs": [("D", 9)]}],
        [{"id": "t2", "ins": [("cb", 0), ("cb", 1)], "outs": [("E", 19)]}],  # A and B: one owner
        [{"id": "t3", "ins": [("t1", 0)], "outs": [("F", 8)]}],
    )
    ingest(con, [blocks[0], blocks[1], blocks[3]])  # block 2 comes later (a gap filled)
    run(con, "bitcoin", ["multi-input"])
    assert clusters(con)["A"] != clusters(con)["B"]
    ingest(con, [blocks[2]])
    summary = run(con, "bitcoin", ["multi-input"])
    assert (summary.mode, summary.links) == ("full", 1)
    assert clusters(con)["A"] == clusters(con)["B"] == aid(con, "A")
    assert run(con, "bitcoin", ["multi-input"]).mode == "unchanged"


def test_reorg_below_clustered_tip_forces_a_full_rebuild(con) -> None:
    b0 = {"id": "cb", "ins": [], "outs": [("A", 10), ("B", 10)]}
    blocks = chain([b0], [{"id": "t1", "ins": [("cb", 0), ("cb", 1)], "outs": [("C", 15)]}])
    ingest(con, blocks)
    run(con, "bitcoin", ["multi-input"])
    assert clusters(con)["A"] == clusters(con)["B"]
    rollback(con, "bitcoin", 1)
    replacement = chain([b0], [{"id": "t1b", "ins": [("cb", 0)], "outs": [("C", 9)]}])[1]
    ingest(con, [replacement])
    con.execute("UPDATE blocks SET hash = 'h1-reorged' WHERE height = 1")
    summary = run(con, "bitcoin", ["multi-input"])
    assert summary.mode == "full"
    assert clusters(con)["A"] != clusters(con)["B"]
    assert con.execute("SELECT count(*) FROM cluster_links").fetchall() == [(0,)]


def random_chain(seed: int, n_blocks: int) -> list[list[dict[str, Any]]]:
    """Blocks of random spends over a small address pool (reuse, fresh addresses, mixes)."""
    rnd = random.Random(seed)
    unspent: list[tuple[str, int, int]] = []
    blocks: list[list[dict[str, Any]]] = []
    fresh = 0
    for h in range(n_blocks):
        txs: list[dict[str, Any]] = []
        cb_outs = [(f"a{rnd.randrange(12)}", rnd.choice([10**6, 10**7, 1234567])) for _ in range(3)]
        txs.append({"id": f"cb{h}", "ins": [], "outs": cb_outs})
        new = [(f"cb{h}", n, v) for n, (_, v) in enumerate(cb_outs)]
        for t in range(rnd.randrange(4)):
            if len(unspent) < 2:
                break
            k = min(len(unspent), rnd.choice([1, 2, 3, 3, 5]))
            spent = [unspent.pop(rnd.randrange(len(unspent))) for _ in range(k)]
            total = sum(v for _, _, v in spent)
            if k >= 3 and rnd.random() < 0.4:  # an equal-output mix
                part = total // (k + 1)
                outs = [(f"m{fresh}_{j}", part) for j in range(k)]
            else:
                pay = rnd.choice([10**5, 2 * 10**5, total // 3 + 7])
                change_to = f"f{fresh}" if rnd.random() < 0.7 else f"a{rnd.randrange(12)}"
                outs = [(f"a{rnd.randrange(12)}", min(pay, total - 1)), (change_to, 1)]
                outs[1] = (change_to, max(1, total - outs[0][1] - 100))
            fresh += 1
            tid = f"t{h}_{t}"
            txs.append({"id": tid, "ins": [(p, n) for p, n, _ in spent], "outs": outs})
            new += [(tid, n, v) for n, (_, v) in enumerate(outs)]
        unspent += new
        blocks.append(txs)
    return blocks


@pytest.mark.slow
@settings(max_examples=10, deadline=None)
@given(
    st.integers(0, 10**6),
    st.integers(3, 12),
    st.lists(st.integers(1, 4), min_size=1, max_size=12),
)
def test_incremental_runs_equal_a_full_recompute(seed: int, n_blocks: int, sizes) -> None:
    blocks = chain(*random_chain(seed, n_blocks))
    con = connect(":memory:")
    at = 0
    for size in sizes:
        if at >= len(blocks):
            break
        ingest(con, blocks[at : at + size])
        at += size
        run(con, "bitcoin", ALL)
    ingest(con, blocks[at:])
    run(con, "bitcoin", ALL)
    incremental = clusters(con)
    links = sorted(con.execute("SELECT * FROM cluster_links").fetchall())
    full = run(con, "bitcoin", ALL, full=True)
    assert full.mode == "full"
    assert clusters(con) == incremental
    assert sorted(con.execute("SELECT * FROM cluster_links").fetchall()) == links
    con.close()


def test_a_chain_read_in_chunks_clusters_as_in_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """The array heuristics read a long window a few blocks at a time (bounded memory);
    the links, CoinJoins and partition are those of one read."""
    from chainsleuth.analytics.clustering import links
    from chainsleuth.analytics.clustering.window import Window

    blocks = chain(*random_chain(seed=11, n_blocks=14))
    results = []
    for chunk in (10**9, 5):
        monkeypatch.setattr(links, "CHUNK_TXS", chunk)
        con = connect(":memory:")
        ingest(con, blocks)
        assert len(links.chunks(con, Window("bitcoin", 0, 13), ALL)) == (1 if chunk > 100 else 6)
        run(con, "bitcoin", ALL)
        results.append(
            (
                clusters(con),
                sorted(con.execute("SELECT * FROM cluster_links").fetchall()),
                sorted(con.execute("SELECT * FROM coinjoin_txs").fetchall()),
            )
        )
        con.close()
    assert results[0] == results[1]
    assert len(set(results[0][0].values())) < len(results[0][0])  # something was merged
