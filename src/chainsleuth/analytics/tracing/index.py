"""The tracing index of a UTXO chain: its spend graph with integer keys (migration 007).

Each transaction gets an id in (height, position) order; `trace_coins` holds both sides of
every transaction in id order, each input linked to the coin it spends and each output to
the input that spends it. A trace hop then looks up a few hundred integer ids (in the
pages packed from these tables, `pages.py`) instead of joining 64-character hashes over
the blocks the hop spans.

The index is derived, never edited by hand, and kept current lazily: `refresh` appends the
blocks stored since the last refresh (in steps of at most `STEP_TXS` transactions, so a
first build has bounded memory) and, when an indexed block's hash no longer matches
`blocks` (a reorg rolled the store back), first cuts the index back to below that block.
The custodial endpoints by address id are kept the same way (`endpoints.refresh_endpoints`),
and the pages a hop reads (`pages.refresh`, a packed snapshot of this index).
"""

from __future__ import annotations

import duckdb

from chainsleuth.analytics.tracing import pages
from chainsleuth.errors import StoreError
from chainsleuth.store.db import transaction

STEP_TXS = 500_000
INDEX_MEMORY_LIMIT = "2GB"
"""DuckDB's memory cap while `chainsleuth trace` may build or extend the index (its
`--memory-limit` default): uncapped, a first build of a 10M-transaction chain held 8.9 GB."""


def _one(
    con: duckdb.DuckDBPyConnection, sql: str, params: list[object] | dict[str, object]
) -> object:
    return con.execute(sql, params).fetchall()[0][0]


def read_only(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the store was opened read-only (the index cannot be brought up to date)."""
    return _one(con, "SELECT current_setting('access_mode')", []) == "read_only"


_FORK_SQL = """SELECT min(height) FROM (
            SELECT t.height FROM trace_blocks t LEFT JOIN blocks b
                ON b.chain = t.chain AND b.height = t.height
            WHERE t.chain = $chain AND b.hash IS DISTINCT FROM t.hash
            UNION ALL
            SELECT b.height FROM blocks b LEFT JOIN trace_blocks t
                ON t.chain = b.chain AND t.height = b.height
            WHERE b.chain = $chain AND t.height IS NULL
                AND b.height < (SELECT max(height) FROM trace_blocks WHERE chain = $chain))"""


def _fork(con: duckdb.DuckDBPyConnection, chain: str) -> int | None:
    """The lowest height up to the indexed tip where the index and `blocks` differ.

    A block there was replaced or removed (a reorg) or stored late (a gap filled below the
    indexed tip); None when they agree.
    """
    found = _one(con, _FORK_SQL, {"chain": chain})
    return None if found is None else int(str(found))


def _tip(con: duckdb.DuckDBPyConnection, chain: str, table: str, column: str) -> int:
    return int(
        str(_one(con, f"SELECT coalesce(max({column}), -1) FROM {table} WHERE chain = ?", [chain]))
    )


def behind(con: duckdb.DuckDBPyConnection, chain: str) -> bool:
    """Whether the index of `chain` lacks stored blocks or holds blocks no longer stored."""
    return bool(
        _one(
            con,
            f"""SELECT ({_FORK_SQL}) IS NOT NULL
                OR (SELECT coalesce(max(height), -1) FROM blocks WHERE chain = $chain)
                 > (SELECT coalesce(max(height), -1) FROM trace_blocks WHERE chain = $chain)""",
            {"chain": chain},
        )
    )


def ensure(con: duckdb.DuckDBPyConnection, chain: str) -> None:
    """Bring the spend graph of `chain` up to date with the store.

    On a read-only connection nothing is written, and a graph that is behind is an error:
    the trace would miss blocks.
    """
    if read_only(con):
        if behind(con, chain):
            raise StoreError(
                f"the tracing index of {chain} is behind the store: trace once on the store"
                " opened writable (it is brought up to date then)"
            )
        return
    _cut_back(con, chain)
    while _append_step(con, chain):
        # write the step out: DuckDB keeps updated rows' versions in memory until then
        con.execute("CHECKPOINT")
    pages.refresh(con, chain)


def _cut_back(con: duckdb.DuckDBPyConnection, chain: str) -> None:
    """Remove indexed blocks from the first height where the index and the store differ."""
    fork = _fork(con, chain)
    if fork is None:
        return
    first = _one(
        con, "SELECT min(first_tx) FROM trace_blocks WHERE chain = ? AND height >= ?", [chain, fork]
    )
    with transaction(con):
        args = [chain, first]
        con.execute("DELETE FROM trace_coins WHERE chain = ? AND tx_id >= ?", args)
        con.execute("DELETE FROM trace_txs WHERE chain = ? AND tx_id >= ?", args)
        con.execute("DELETE FROM trace_blocks WHERE chain = ? AND height >= ?", [chain, fork])
        pages.cut(con, chain, int(str(first)))
        con.execute(
            "UPDATE trace_coins SET link_tx = NULL, link_n = NULL"
            " WHERE chain = ? AND side = 1 AND link_tx >= ?",
            args,
        )


def _append_step(con: duckdb.DuckDBPyConnection, chain: str) -> bool:
    """Index the next stored blocks (up to STEP_TXS transactions); False when none are left."""
    lo = _tip(con, chain, "trace_blocks", "height")
    steps = con.execute(
        """SELECT b.height, sum(coalesce(c.k, 0)) OVER (ORDER BY b.height) AS upto
        FROM blocks b LEFT JOIN (
            SELECT block_height, count(*) AS k FROM txs
            WHERE chain = $chain AND block_height > $lo GROUP BY block_height
        ) c ON c.block_height = b.height
        WHERE b.chain = $chain AND b.height > $lo ORDER BY b.height""",
        {"chain": chain, "lo": lo},
    ).fetchall()
    if not steps:
        return False
    within = [h for h, upto in steps if upto <= STEP_TXS]
    hi = int(within[-1] if within else steps[0][0])
    start = _tip(con, chain, "trace_txs", "tx_id") + 1
    p = {"chain": chain, "lo": lo, "hi": hi, "start": start}
    with transaction(con):
        con.execute(
            """INSERT INTO trace_txs
            SELECT chain, $start + row_number() OVER (ORDER BY block_height, position) - 1,
                md5_number_upper(tx_hash), tx_hash, block_height, time,
                coalesce(fee, 0)::BIGINT, is_coinbase
            FROM txs WHERE chain = $chain AND block_height > $lo AND block_height <= $hi
            ORDER BY block_height, position""",
            p,
        )
        con.execute(
            """INSERT INTO trace_blocks
            SELECT b.chain, b.height, b.hash,
                $start + sum(coalesce(c.k, 0)) OVER (ORDER BY b.height) - coalesce(c.k, 0)
            FROM blocks b LEFT JOIN (
                SELECT block_height, count(*) AS k FROM trace_txs
                WHERE chain = $chain AND tx_id >= $start GROUP BY block_height
            ) c ON c.block_height = b.height
            WHERE b.chain = $chain AND b.height > $lo AND b.height <= $hi
            ORDER BY b.height""",
            p,
        )
        con.execute(
            """INSERT INTO trace_coins
            WITH t AS (SELECT tx_id, tx_hash, block_height FROM trace_txs
                       WHERE chain = $chain AND tx_id >= $start)
            SELECT * FROM (
                SELECT $chain, t.tx_id, 0::TINYINT AS side, i.n::BIGINT AS n,
                    coalesce(i.value, 0), coalesce(i.address_id, -1),
                    CASE WHEN i.prev_tx_hash IS NOT NULL THEN coalesce(p.tx_id, -1) END,
                    i.prev_n
                FROM inputs i JOIN t ON t.block_height = i.block_height AND t.tx_hash = i.tx_hash
                LEFT JOIN trace_txs p ON p.chain = $chain
                    AND p.hash_key = md5_number_upper(i.prev_tx_hash)
                    AND p.tx_hash = i.prev_tx_hash
                WHERE i.chain = $chain AND i.block_height > $lo AND i.block_height <= $hi
                UNION ALL
                SELECT $chain, t.tx_id, 1, o.n, o.value, coalesce(o.address_id, -1), NULL, NULL
                FROM outputs o JOIN t ON t.block_height = o.block_height AND t.tx_hash = o.tx_hash
                WHERE o.chain = $chain AND o.block_height > $lo AND o.block_height <= $hi
            ) ORDER BY 2, 3, 4""",
            p,
        )
        # link every output these blocks spend to its spending input
        con.execute(
            """UPDATE trace_coins AS c SET link_tx = s.tx_id, link_n = s.n
            FROM (SELECT tx_id, n, link_tx, link_n FROM trace_coins
                  WHERE chain = $chain AND side = 0 AND tx_id >= $start AND link_tx >= 0) s
            WHERE c.chain = $chain AND c.side = 1 AND c.tx_id = s.link_tx AND c.n = s.link_n""",
            {"chain": chain, "start": start},
        )
    return True
