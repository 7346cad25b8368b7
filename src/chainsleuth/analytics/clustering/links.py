"""Making links in the embedded engine: each chosen heuristic's links into a link table.

Bitcoin heuristics (and CoinJoin detection) run over integer arrays (`arrays`), a chunk
of about `CHUNK_TXS` transactions at a time (whole blocks), so their memory is bounded
whatever the chain's length: a chunk is what an incremental run would read, and
incremental runs equal full ones. `WORKERS` chunks are read and computed at once, each on
its own cursor in a thread (DuckDB's scans and NumPy's sorts release the GIL), while the
finished ones are stored in chain order through the run's own connection; each address's
first paid height (`change-fresh`) is read beside them, once per run. The Ethereum
ones run as their portable SQL. Either way the links land in `target` with their heuristic
and evidence transaction (its height and position in the block), and their endpoints come
back, chunk by chunk, for the union-find.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace

import duckdb
import numpy as np
import numpy.typing as npt

from chainsleuth.analytics.clustering import arrays, chainlet
from chainsleuth.analytics.clustering.heuristics import HEURISTICS, families, incremental
from chainsleuth.analytics.clustering.window import Window

I64 = npt.NDArray[np.int64]
CHUNK_TXS = 500_000
"""Transactions the array heuristics read per chunk (about 0.5 GB of arrays)."""
WORKERS = 2
"""Chunks computed at once (with the one being stored, WORKERS + 1 chunks' arrays live)."""


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


def chunks(con: duckdb.DuckDBPyConnection, w: Window, names: list[str]) -> list[Window]:
    """The window cut into runs of whole blocks of about `CHUNK_TXS` transactions (one
    piece when a heuristic looks past its transaction's block: `change-fingerprint`)."""
    if not incremental(names):
        return [w]
    counts = con.sql(
        "SELECT height, tx_count FROM blocks WHERE chain = ? AND height BETWEEN ? AND ?"
        " ORDER BY height",
        params=[w.chain, w.lo, w.hi],
    ).to_arrow_table()
    heights = counts.column(0).to_numpy()
    filled = np.cumsum(counts.column(1).to_numpy()) // CHUNK_TXS
    starts = heights[np.flatnonzero(np.concatenate(([True], filled[1:] != filled[:-1])))]
    ends = np.append(starts[1:] - 1, w.hi)
    return [replace(w, lo=int(lo), hi=int(hi)) for lo, hi in zip(starts, ends, strict=True)]


def make_links(
    con: duckdb.DuckDBPyConnection,
    w: Window,
    names: list[str],
    *,
    target: str = "cluster_links",
    detect_coinjoins: bool = True,
) -> Iterator[Made]:
    """Insert the links the heuristics `names` make in the window into `target` (Bitcoin:
    CoinJoins into `w.coinjoins`, tx0s into `w.premixes`, unless `detect_coinjoins` is
    false, which measures what a missed CoinJoin costs); yield them chunk by chunk."""
    if uses_utxo(names):
        yield from _utxo_links(con, w, names, target, detect_coinjoins)
        return
    for build, chosen in families(names):
        insert_sql_links(con, target, w.chain, f"({build(w, chosen)})")
    listed = ", ".join(f"'{n}'" for n in names)
    found = con.sql(
        f"SELECT address_id_a, address_id_b FROM {target}"
        f" WHERE {w.rows()} AND heuristic IN ({listed})"
    ).to_arrow_table()
    yield Made(
        found.column(0).to_numpy().astype(np.int64),
        found.column(1).to_numpy().astype(np.int64),
        0,
    )


def insert_sql_links(con: duckdb.DuckDBPyConnection, target: str, chain: str, source: str) -> None:
    """Insert the links of `source` (a relation of the heuristics' portable rows: address
    pair, heuristic, evidence `tx_hash` and `block_height`) into `target`, naming each
    evidence transaction by its position in its block (NULL were it not stored)."""
    con.execute(
        f"INSERT INTO {target} (chain, address_id_a, address_id_b, heuristic, block_height,"
        " tx_position) SELECT $chain, l.address_id_a, l.address_id_b, l.heuristic,"
        f" l.block_height, t.position FROM {source} l LEFT JOIN txs t ON t.chain = $chain"
        " AND t.block_height = l.block_height AND t.tx_hash = l.tx_hash",
        {"chain": chain},
    )


def _utxo_links(
    con: duckdb.DuckDBPyConnection,
    w: Window,
    names: list[str],
    target: str,
    detect_coinjoins: bool,
) -> Iterator[Made]:
    """The array heuristics chunk by chunk, `WORKERS` chunks in flight (module docstring)."""
    pieces = deque(chunks(con, w, names))

    def read_paid(cursor: duckdb.DuckDBPyConnection) -> chainlet.Paid:
        with cursor:
            return chainlet.first_paid(cursor, w)

    def compute(piece: Window, cursor: duckdb.DuckDBPyConnection) -> arrays.Found:
        with cursor:
            return arrays.make(cursor, piece, names, detect_coinjoins=detect_coinjoins, paid=paid)

    with ThreadPoolExecutor(WORKERS + 1) as pool:
        # Read while the first chunks are: a chunk waits for it only in its change rules.
        paid = (
            pool.submit(read_paid, con.cursor())
            if "change-fresh" in names and any(p.lo > 0 for p in pieces)
            else None
        )
        running: deque[Future[arrays.Found]] = deque()

        def fill() -> None:
            while pieces and len(running) < WORKERS:
                running.append(pool.submit(compute, pieces.popleft(), con.cursor()))

        fill()
        while running:
            made = running.popleft().result()
            fill()  # the next chunk starts while this one is stored
            coinjoins = arrays.store(con, made, target, w.coinjoins, w.premixes)
            a, b = made.links.a, made.links.b
            del made  # the chunk's arrays go before another chunk is read
            yield Made(a, b, coinjoins)


def uses_utxo(names: list[str]) -> bool:
    """Whether any of the heuristics reads Bitcoin-style inputs (so CoinJoins matter)."""
    return any(HEURISTICS[n].chain == "bitcoin" for n in names)
