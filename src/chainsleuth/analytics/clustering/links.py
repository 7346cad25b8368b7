"""Making links: CoinJoin detection, then each chosen heuristic, into link tables (DuckDB)."""

from __future__ import annotations

import duckdb

from chainsleuth.analytics.clustering.coinjoin import TX0, detection_sql
from chainsleuth.analytics.clustering.heuristics import HEURISTICS, families
from chainsleuth.analytics.clustering.window import Window, first_row


def detect_coinjoins(con: duckdb.DuckDBPyConnection, w: Window) -> int:
    """Record the window's CoinJoins in `w.coinjoins` and tx0s in `w.premixes`; count CoinJoins."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE _cj_detect AS {detection_sql(w)}")
    con.execute(
        f"INSERT INTO {w.coinjoins} (chain, block_height, tx_hash, kind)"
        f" SELECT '{w.chain}', block_height, tx_hash, kind FROM _cj_detect WHERE kind <> '{TX0}'"
    )
    con.execute(
        f"INSERT INTO {w.premixes} (chain, block_height, tx_hash)"
        f" SELECT '{w.chain}', block_height, tx_hash FROM _cj_detect WHERE kind = '{TX0}'"
    )
    row = first_row(con.execute(f"SELECT count(*) FROM _cj_detect WHERE kind <> '{TX0}'"))
    con.execute("DROP TABLE _cj_detect")
    return int(row[0]) if row else 0


def insert_links(
    con: duckdb.DuckDBPyConnection, w: Window, names: list[str], target: str = "cluster_links"
) -> int:
    """Insert the links the heuristics `names` make in the window into `target`; count them."""
    total = 0
    for build, chosen in families(names):
        row = first_row(
            con.execute(
                f"INSERT INTO {target} (chain, address_id_a, address_id_b, heuristic, tx_hash,"
                f" block_height) SELECT '{w.chain}', address_id_a, address_id_b, heuristic,"
                f" tx_hash, block_height FROM ({build(w, chosen)})"
            )
        )
        total += int(row[0]) if row else 0
    return total


def uses_utxo(names: list[str]) -> bool:
    """Whether any of the heuristics reads Bitcoin-style inputs (so CoinJoins matter)."""
    return any(HEURISTICS[n].chain == "bitcoin" for n in names)
