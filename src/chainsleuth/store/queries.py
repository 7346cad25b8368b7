"""Read queries over the store shared by the CLI, the API and the reports."""

from __future__ import annotations

from typing import Any

import duckdb


def rows(con: duckdb.DuckDBPyConnection, sql: str, params: Any = None) -> list[dict[str, Any]]:
    """Run `sql` and return its rows as dicts keyed by column name."""
    cur = con.execute(sql, params or [])
    names = [d[0] for d in cur.description or []]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def store_status(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Per chain: first and last height, counts of blocks, transactions and addresses."""
    return rows(
        con,
        """
        WITH b AS (SELECT chain, min(height) AS first_height, max(height) AS last_height,
                          count(*) AS blocks, max(time) AS last_block_time
                   FROM blocks GROUP BY chain),
             t AS (SELECT chain, count(*) AS transactions FROM txs GROUP BY chain),
             a AS (SELECT chain, count(*) AS addresses FROM addresses GROUP BY chain)
        SELECT b.chain, b.first_height, b.last_height, b.blocks,
               coalesce(t.transactions, 0) AS transactions,
               coalesce(a.addresses, 0) AS addresses, b.last_block_time,
               s.source AS last_source
        FROM b LEFT JOIN t USING (chain) LEFT JOIN a USING (chain)
        LEFT JOIN ingest_state s USING (chain)
        ORDER BY b.chain
        """,
    )


def _address_id(con: duckdb.DuckDBPyConnection, chain: str, address: str) -> int:
    from chainsleuth.errors import NotFoundError
    from chainsleuth.store.addresses import address_id

    found = address_id(con, chain, address)
    if found is None:
        raise NotFoundError(f"{chain} address {address} is not in the store")
    return found


def utxo_address_view(
    con: duckdb.DuckDBPyConnection, chain: str, address: str, *, limit: int = 50
) -> dict[str, Any]:
    """Balance, totals, activity span and recent transactions of one UTXO-chain address.

    `received` sums every output paid to the address, `sent` those of them spent since,
    `balance` the rest; each transaction lists the address's net change in it.
    """
    aid = _address_id(con, chain, address)
    p = {"chain": chain, "aid": aid}
    # A transaction's time is its block's: the span is read from `blocks`, and the latest
    # transactions from the blocks that hold them, never by joining every stored hash.
    summary = rows(
        con,
        """
        WITH o AS MATERIALIZED (SELECT tx_hash, block_height, value, spent_by FROM outputs
                                WHERE chain = $chain AND address_id = $aid),
             i AS MATERIALIZED (SELECT tx_hash, block_height FROM inputs
                                WHERE chain = $chain AND address_id = $aid),
             touched AS MATERIALIZED (SELECT tx_hash, block_height FROM o
                                      UNION SELECT tx_hash, block_height FROM i),
             span AS (SELECT min(time) AS first_seen, max(time) AS last_seen FROM blocks
                      WHERE chain = $chain AND height IN (SELECT block_height FROM touched))
        SELECT
            (SELECT coalesce(sum(value), 0) FROM o) AS received,
            (SELECT coalesce(sum(value), 0) FROM o WHERE spent_by IS NOT NULL) AS sent,
            (SELECT count(*) FROM o WHERE spent_by IS NULL) AS unspent_outputs,
            (SELECT count(*) FROM touched) AS tx_count,
            (SELECT first_seen FROM span) AS first_seen,
            (SELECT last_seen FROM span) AS last_seen,
            (SELECT min(block_height) FROM (SELECT block_height FROM touched
                                            ORDER BY block_height DESC LIMIT $limit))
                AS lowest
        """,
        {**p, "limit": limit},
    )[0]
    flows = """
        SELECT tx_hash, block_height, sum(delta)::HUGEINT AS delta FROM (
            SELECT tx_hash, block_height, value AS delta FROM outputs
            WHERE chain = $chain AND address_id = $aid
            UNION ALL
            SELECT tx_hash, block_height, -value FROM inputs
            WHERE chain = $chain AND address_id = $aid
        ) GROUP BY ALL"""
    recent = rows(
        con,
        f"""
        SELECT t.tx_hash, t.block_height, t.time, f.delta
        FROM ({flows}) f JOIN txs t
            ON t.block_height = f.block_height AND t.tx_hash = f.tx_hash
        WHERE t.chain = $chain AND t.block_height >= $lowest AND f.block_height >= $lowest
        ORDER BY t.block_height DESC, t.position DESC LIMIT $limit
        """,
        {**p, "limit": limit, "lowest": summary["lowest"] if summary["tx_count"] else -1},
    )
    received, sent = int(summary["received"]), int(summary["sent"])
    return {
        "chain": chain,
        "address": address,
        "address_id": aid,
        "balance": received - sent,
        "received": received,
        "sent": sent,
        "tx_count": int(summary["tx_count"]),
        "unspent_outputs": int(summary["unspent_outputs"]),
        "first_seen": summary["first_seen"],
        "last_seen": summary["last_seen"],
        "transactions": [{**r, "delta": int(r["delta"])} for r in recent],
    }


def utxo_tx_view(con: duckdb.DuckDBPyConnection, chain: str, tx_hash: str) -> dict[str, Any]:
    """One UTXO-chain transaction with its inputs and outputs, addresses and values."""
    from chainsleuth.errors import NotFoundError

    found = rows(
        con,
        "SELECT tx_hash, block_height, position, time, is_coinbase, version, locktime, size,"
        " weight, input_value, output_value, fee FROM txs WHERE chain = $chain AND tx_hash = $h",
        {"chain": chain, "h": tx_hash},
    )
    if not found:
        raise NotFoundError(f"{chain} transaction {tx_hash} is not in the store")
    tx = found[0]
    # by height first: the tables are in block order, so DuckDB reads only that block's rows
    params = {"chain": chain, "h": tx_hash, "height": tx["block_height"]}
    inputs = rows(
        con,
        "SELECT i.n, i.prev_tx_hash, i.prev_n, a.address, i.value FROM inputs i"
        " LEFT JOIN addresses a ON a.address_id = i.address_id"
        " WHERE i.chain = $chain AND i.block_height = $height AND i.tx_hash = $h ORDER BY i.n",
        params,
    )
    outputs = rows(
        con,
        "SELECT o.n, a.address, o.value, o.script_type, o.spent_by FROM outputs o"
        " LEFT JOIN addresses a ON a.address_id = o.address_id"
        " WHERE o.chain = $chain AND o.block_height = $height AND o.tx_hash = $h ORDER BY o.n",
        params,
    )
    for key in ("input_value", "output_value", "fee"):
        tx[key] = None if tx[key] is None else int(tx[key])
    return {"chain": chain, **tx, "inputs": inputs, "outputs": outputs}
