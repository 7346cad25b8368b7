"""Victor's deposit-address heuristic on a hand-built Ethereum store."""

from __future__ import annotations

import datetime as dt

import duckdb

from chainsleuth.analytics.clustering.engine import run
from chainsleuth.analytics.clustering.heuristics import defaults

T0 = dt.datetime(2024, 1, 1)
NAMES = ["S1", "S2", "S3", "D1", "D2", "D3", "H", "X", "C", "DC", "W"]
IDS = {name: 1000 + k for k, name in enumerate(NAMES)}

# (height, sender, receiver)
TRANSFERS = [
    (1, "S1", "D1"),
    (2, "D1", "H"),  # D1 forwards to the hot wallet H
    (3, "S2", "D1"),  # S2 reuses S1's deposit address: same customer
    (3, "D1", "H"),
    (4, "S3", "D2"),
    (5, "D2", "H"),  # D2: another deposit address of H
    (4, "C", "D1"),  # a contract paying into D1 joins no customer
    (6, "S3", "D3"),
    (6, "D3", "H"),
    (7, "D3", "X"),  # D3 also pays X: not a deposit address
    (8, "W", "DC"),
    (8, "DC", "H"),  # DC is a contract: never a deposit address
    (9, "H", "D2"),  # the hot wallet itself paying a deposit address joins no customer
]


def eth_store(con: duckdb.DuckDBPyConnection) -> None:
    for name, aid in IDS.items():
        con.execute("INSERT INTO addresses VALUES ('ethereum', ?, ?)", ["0x" + name.lower(), aid])
    for h in range(10):
        con.execute(
            "INSERT INTO blocks VALUES ('ethereum', ?, ?, ?, ?, 1)",
            [h, f"e{h}", f"e{h - 1}", T0 + dt.timedelta(seconds=12 * h)],
        )
    for k, (h, a, b) in enumerate(TRANSFERS):
        con.execute(
            "INSERT INTO transfers (chain, block_height, time, tx_hash, position, kind, asset,"
            " from_id, to_id, amount, success) VALUES ('ethereum', ?, ?, ?, 'tx', 'native',"
            " 'ETH', ?, ?, 1000, true)",
            [h, T0, f"0x{k:064x}", IDS[a], IDS[b]],
        )
    for c in ("C", "DC"):
        con.execute("INSERT INTO contracts VALUES ('ethereum', ?, 0, NULL, NULL)", [IDS[c]])


def test_deposit_addresses_join_the_exchange_and_their_senders_one_customer(con) -> None:
    eth_store(con)
    summary = run(con, "ethereum", defaults("ethereum"))
    assert summary.mode == "full"
    found = dict(
        con.execute(
            "SELECT address_id, cluster_id FROM clusters WHERE chain = 'ethereum'"
        ).fetchall()
    )
    cluster = {name: found[aid] for name, aid in IDS.items()}
    assert cluster["D1"] == cluster["D2"] == cluster["H"]
    assert cluster["S1"] == cluster["S2"] != cluster["H"]
    for alone in ("S3", "D3", "X", "C", "DC", "W"):
        members = [n for n in NAMES if cluster[n] == cluster[alone]]
        assert members == [alone]
    heuristics = {
        (h, a, b)
        for h, a, b in con.execute(
            "SELECT heuristic, address_id_a, address_id_b FROM cluster_links"
        ).fetchall()
    }
    assert heuristics == {
        ("deposit-address", IDS["H"], IDS["D1"]),
        ("deposit-address", IDS["H"], IDS["D2"]),
        ("deposit-reuse", IDS["S1"], IDS["S2"]),
    }
    again = run(con, "ethereum", defaults("ethereum"))
    assert again.mode == "full"
    assert (
        dict(
            con.execute(
                "SELECT address_id, cluster_id FROM clusters WHERE chain = 'ethereum'"
            ).fetchall()
        )
        == found
    )
