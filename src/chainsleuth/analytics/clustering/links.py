"""Making links in the embedded engine: each chosen heuristic's links into a link table.

Bitcoin heuristics (and CoinJoin detection) run over integer arrays (`arrays`); the
Ethereum ones run as their portable SQL. Either way the links land in `target` with their
heuristic and evidence transaction, and their endpoints come back for the union-find.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
import numpy.typing as npt

from chainsleuth.analytics.clustering import arrays
from chainsleuth.analytics.clustering.heuristics import HEURISTICS, families
from chainsleuth.analytics.clustering.window import Window

I64 = npt.NDArray[np.int64]


@dataclass
class Made:
    """Links made in a window: their endpoints (address ids) and counts."""

    a: I64
    b: I64
    coinjoins: int

    @property
    def links(self) -> int:
        """Number of links."""
        return int(self.a.size)


def make_links(
    con: duckdb.DuckDBPyConnection,
    w: Window,
    names: list[str],
    *,
    target: str = "cluster_links",
    detect_coinjoins: bool = True,
) -> Made:
    """Insert the links the heuristics `names` make in the window into `target` (Bitcoin:
    CoinJoins into `w.coinjoins`, tx0s into `w.premixes`, unless `detect_coinjoins` is
    false, which measures what a missed CoinJoin costs)."""
    if uses_utxo(names):
        made = arrays.make(con, w, names, detect_coinjoins=detect_coinjoins)
        coinjoins = arrays.store(made, target, w.coinjoins, w.premixes)
        return Made(made.links.a, made.links.b, coinjoins)
    for build, chosen in families(names):
        con.execute(
            f"INSERT INTO {target} (chain, address_id_a, address_id_b, heuristic, tx_hash,"
            f" block_height) SELECT '{w.chain}', address_id_a, address_id_b, heuristic,"
            f" tx_hash, block_height FROM ({build(w, chosen)})"
        )
    listed = ", ".join(f"'{n}'" for n in names)
    found = con.sql(
        f"SELECT address_id_a, address_id_b FROM {target}"
        f" WHERE {w.rows()} AND heuristic IN ({listed})"
    ).to_arrow_table()
    return Made(
        found.column(0).to_numpy().astype(np.int64),
        found.column(1).to_numpy().astype(np.int64),
        0,
    )


def uses_utxo(names: list[str]) -> bool:
    """Whether any of the heuristics reads Bitcoin-style inputs (so CoinJoins matter)."""
    return any(HEURISTICS[n].chain == "bitcoin" for n in names)
