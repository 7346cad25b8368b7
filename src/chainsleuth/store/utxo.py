"""Writing UTXO blocks (Bitcoin) into the store, and rolling them back on a reorg.

Every source (raw blocks, block files, JSON-RPC, ETL exports) ends here through one path:
the source fills four staging relations with address *strings*, then `apply_staged`
gives every input whose spent output is staged or stored that output's address id and
value (the chain's own record; what the source says is used only for the others),
dictionary-encodes the remaining addresses, and inserts everything in one transaction. A
batch is whole blocks or nothing; heights already stored are skipped, so re-running is
harmless.

Staging relations (temp tables or registered Arrow tables), columns by name:
    stg_blocks  (height, hash, parent_hash, time TIMESTAMP, tx_count)
    stg_txs     (block_height, tx_hash, position, version, locktime, size, weight, is_coinbase)
    stg_outputs (block_height, tx_hash, position, n, address, value, script_type)
    stg_inputs  (block_height, tx_hash, position, n, prev_tx_hash, prev_n, address, value,
                 sequence)
`position` is the transaction's in its block (as in stg_txs): the writer groups and joins
a transaction's rows by integers rather than by its 64-character hash. `address`/`value`
of stg_inputs may be NULL (plain ETL exports, block files, RPC verbosity 2).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import duckdb
import pyarrow as pa

from chainsleuth.errors import InputError
from chainsleuth.store.addresses import map_addresses
from chainsleuth.store.db import transaction

STAGING_SCHEMAS: dict[str, pa.Schema] = {
    "stg_blocks": pa.schema(
        [
            ("height", pa.int64()),
            ("hash", pa.string()),
            ("parent_hash", pa.string()),
            ("time", pa.timestamp("s")),
            ("tx_count", pa.int32()),
        ]
    ),
    "stg_txs": pa.schema(
        [
            ("block_height", pa.int64()),
            ("tx_hash", pa.string()),
            ("position", pa.int32()),
            ("version", pa.int64()),
            ("locktime", pa.int64()),
            ("size", pa.int32()),
            ("weight", pa.int32()),
            ("is_coinbase", pa.bool_()),
        ]
    ),
    "stg_outputs": pa.schema(
        [
            ("block_height", pa.int64()),
            ("tx_hash", pa.string()),
            ("position", pa.int32()),
            ("n", pa.int32()),
            ("address", pa.string()),
            ("value", pa.int64()),
            ("script_type", pa.string()),
        ]
    ),
    "stg_inputs": pa.schema(
        [
            ("block_height", pa.int64()),
            ("tx_hash", pa.string()),
            ("position", pa.int32()),
            ("n", pa.int32()),
            ("prev_tx_hash", pa.string()),
            ("prev_n", pa.int64()),
            ("address", pa.string()),
            ("value", pa.int64()),
            ("sequence", pa.int64()),
        ]
    ),
}


# A staged input's value: its spent output's when that is staged or stored (`r`, a row of
# `_spent_outputs`), else what the source gave.
_INPUT_VALUE = "CASE WHEN r.in_row IS NULL THEN i.value ELSE r.value END"


@dataclass(frozen=True)
class BatchResult:
    """What one applied batch added."""

    blocks: int
    txs: int
    new_addresses: int
    first_height: int | None
    last_height: int | None
    unresolved_inputs: int = 0  # inputs stored without address and value (see apply_staged)


def stage_arrow(con: duckdb.DuckDBPyConnection, tables: dict[str, pa.Table]) -> None:
    """Make Arrow tables (one per staging name, schemas as STAGING_SCHEMAS) the staging set."""
    for name, schema in STAGING_SCHEMAS.items():
        table = tables.get(name)
        if table is None:
            table = schema.empty_table()
        con.register(f"_{name}_arrow", table.select(schema.names).cast(schema))
        con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM _{name}_arrow")
        con.unregister(f"_{name}_arrow")


def stored_tip(con: duckdb.DuckDBPyConnection, chain: str) -> tuple[int, str] | None:
    """(height, hash) of the highest stored block of `chain`, or None."""
    found = con.execute(
        "SELECT height, hash FROM blocks WHERE chain = ? ORDER BY height DESC LIMIT 1", [chain]
    ).fetchall()
    return (int(found[0][0]), str(found[0][1])) if found else None


def apply_staged(con: duckdb.DuckDBPyConnection, chain: str, source: str) -> BatchResult:
    """Insert the staged blocks into the store in one transaction (see module docstring)."""
    p = {"chain": chain}
    with transaction(con):
        # Idempotence: drop staged blocks at heights already stored.
        con.execute(
            "DELETE FROM stg_blocks WHERE height IN"
            " (SELECT height FROM blocks WHERE chain = $chain)",
            p,
        )
        for name in ("stg_txs", "stg_outputs", "stg_inputs"):
            con.execute(
                f"DELETE FROM {name} WHERE block_height NOT IN (SELECT height FROM stg_blocks)"
            )
        # Every staged spend, matched (one join) to the staged output it spends, if any:
        # `out_row` is that output's row in stg_outputs, NULL for a spend of a stored output.
        _create_matches(
            con,
            "_spends",
            """
            SELECT i.rowid AS in_row, o.rowid AS out_row, i.tx_hash, i.block_height,
                   i.prev_tx_hash, i.prev_n
            FROM stg_inputs i
            LEFT JOIN stg_outputs o ON o.tx_hash = i.prev_tx_hash AND o.n = i.prev_n
            WHERE i.prev_tx_hash IS NOT NULL
            """,
            "PARTITION BY i.rowid ORDER BY o.block_height DESC, o.rowid DESC",
        )
        # Spends of stored outputs, matched once (one scan of the stored outputs): they
        # give the inputs their address and value, and are refused if already spent.
        _create_matches(
            con,
            "_stored_hits",
            """
            SELECT o.rowid AS row, o.spent_height, o.address_id, o.value,
                   s.in_row, s.tx_hash, s.block_height, s.prev_tx_hash, s.prev_n
            FROM outputs o JOIN _spends s ON o.tx_hash = s.prev_tx_hash AND o.n = s.prev_n
            WHERE s.out_row IS NULL AND o.chain = $chain
            """,
            "PARTITION BY s.in_row ORDER BY o.block_height DESC, o.rowid DESC",
            p,
        )
        # Only addresses of outputs, and of inputs whose spent output is neither staged nor
        # stored, need their strings mapped: an input takes its spent output's id and value.
        added = map_addresses(
            con,
            chain,
            "SELECT address, rowid * 2 AS seen FROM stg_outputs"
            " UNION ALL SELECT address, rowid * 2 + 1 FROM stg_inputs"
            " WHERE rowid NOT IN (SELECT in_row FROM _spends WHERE out_row IS NOT NULL"
            " UNION ALL SELECT in_row FROM _stored_hits)",
            "_batch_addresses",
        )
        con.execute(
            """
            CREATE OR REPLACE TEMP TABLE _out_ids AS
            SELECT o.rowid AS out_row, a.address_id, o.value
            FROM stg_outputs o LEFT JOIN _batch_addresses a ON a.address = o.address
            """
        )
        con.execute(
            """
            CREATE OR REPLACE TEMP TABLE _spent_outputs AS
            SELECT s.in_row, o.address_id, o.value
            FROM _spends s JOIN _out_ids o ON o.out_row = s.out_row
            UNION ALL SELECT in_row, address_id, value FROM _stored_hits
            """
        )
        con.execute(
            "INSERT INTO blocks SELECT $chain, height, hash, parent_hash, time, tx_count"
            " FROM stg_blocks ORDER BY height",
            p,
        )
        inserted = con.execute(
            """
            INSERT INTO outputs
            SELECT $chain, o.block_height, o.tx_hash, o.n, a.address_id, o.value, o.script_type,
                   s.tx_hash, s.block_height
            FROM stg_outputs o
            JOIN _out_ids a ON a.out_row = o.rowid
            LEFT JOIN _spends s ON s.out_row = o.rowid
            """,
            p,
        ).fetchall()[0][0]
        staged = con.execute("SELECT count(*) FROM stg_outputs").fetchall()[0][0]
        _refuse_double_spends(con, in_batch=inserted != staged)
        con.execute(
            f"""
            INSERT INTO inputs
            SELECT $chain, i.block_height, i.tx_hash, i.n, i.prev_tx_hash, i.prev_n,
                   coalesce(r.address_id, a.address_id), {_INPUT_VALUE}, i.sequence
            FROM stg_inputs i
            LEFT JOIN _spent_outputs r ON r.in_row = i.rowid
            LEFT JOIN _batch_addresses a
                   ON a.address = CASE WHEN r.in_row IS NULL THEN i.address END
            """,
            p,
        )
        con.execute(
            f"""
            INSERT INTO txs
            WITH ins AS (
                SELECT i.block_height, i.position, count(*) AS n_in,
                       CASE WHEN bool_and({_INPUT_VALUE} IS NOT NULL)
                            THEN sum({_INPUT_VALUE}) END AS v_in
                FROM stg_inputs i LEFT JOIN _spent_outputs r ON r.in_row = i.rowid
                WHERE i.prev_tx_hash IS NOT NULL GROUP BY ALL
            ), outs AS (
                SELECT block_height, position, count(*) AS n_out, sum(value) AS v_out
                FROM stg_outputs GROUP BY ALL
            )
            SELECT $chain, t.block_height, t.tx_hash, t.position, b.time, t.version, t.locktime,
                   t.size, t.weight, t.is_coinbase,
                   CASE WHEN t.is_coinbase THEN 0 ELSE coalesce(ins.n_in, 0) END,
                   coalesce(outs.n_out, 0),
                   CASE WHEN t.is_coinbase THEN 0 ELSE ins.v_in END,
                   coalesce(outs.v_out, 0),
                   CASE WHEN t.is_coinbase THEN 0 ELSE ins.v_in - coalesce(outs.v_out, 0) END
            FROM stg_txs t
            JOIN stg_blocks b ON b.height = t.block_height
            LEFT JOIN ins USING (block_height, position)
            LEFT JOIN outs USING (block_height, position)
            """,
            p,
        )
        _mark_spent(con, "_stored_hits")
        if con.execute(
            "SELECT count(*) FROM blocks WHERE chain = $chain"
            " AND height > (SELECT min(height) FROM stg_blocks)"
            " AND height NOT IN (SELECT height FROM stg_blocks)",
            p,
        ).fetchall()[0][0]:
            _link_stored_spenders(con, chain)
        # Inputs whose spent output is neither staged nor stored, and whose source did not
        # give their value (plain exports, blocks, RPC verbosity 2, starting mid-chain).
        unresolved = con.execute(
            "SELECT count(*) FROM stg_inputs i ANTI JOIN _spent_outputs r ON r.in_row = i.rowid"
            " WHERE i.value IS NULL AND i.prev_tx_hash IS NOT NULL"
        ).fetchall()[0][0]
        result = replace(
            close_batch(con, chain, source, added, "stg_blocks", "stg_txs"),
            unresolved_inputs=int(unresolved),
        )
        for name in ("_spends", "_stored_hits", "_batch_addresses", "_out_ids", "_spent_outputs"):
            con.execute(f"DROP TABLE {name}")
    return result


def _create_matches(
    con: duckdb.DuckDBPyConnection,
    table: str,
    select: str,
    latest: str,
    params: dict[str, str] | None = None,
) -> None:
    """Create `table` (with an `in_row` column) from `select`, a join of spends to the
    outputs they spend; if an input matched several outputs, keep the first by `latest`
    (a window order) and only it.

    Two outputs share an outpoint only when a txid repeats: mainnet's coinbases of blocks
    91722/91880 and 91812/91842, before BIP-30 forbade it. The node's UTXO set kept the
    newer one, so a spend of that outpoint spends the newer output. The check is one
    counting query; the window runs only when it finds a repeat.
    """
    con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS {select}", params)
    counts = con.execute(f"SELECT count(*), count(DISTINCT in_row) FROM {table}").fetchall()
    if counts[0][0] != counts[0][1]:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {table} AS {select}"
            f" QUALIFY row_number() OVER ({latest}) = 1",
            params,
        )


def _mark_spent(con: duckdb.DuckDBPyConnection, hits: str) -> None:
    """Set `spent_by`/`spent_height` of the stored outputs in `hits` (row, spent_height,
    tx_hash, block_height, prev_tx_hash, prev_n: an output's row and current spender's
    height, and its new spender), refusing an output that another transaction spends.

    An output is spent when its `spent_height` is set (always with `spent_by`): the
    lookups read that integer column, not the spender's 64-character hash of every stored
    output."""
    twice = con.execute(
        f"SELECT prev_tx_hash, prev_n, spent_height, block_height FROM {hits}"
        " WHERE spent_height IS NOT NULL LIMIT 1"
    ).fetchall()
    if twice:
        h, n, first, second = twice[0]
        raise InputError(
            f"output {h}:{n} is spent twice (block {min(first, second)} and block"
            f" {max(first, second)})"
        )
    con.execute(
        "UPDATE outputs SET spent_by = h.tx_hash, spent_height = h.block_height"
        f" FROM {hits} h WHERE outputs.rowid = h.row"
    )


def _link_stored_spenders(con: duckdb.DuckDBPyConnection, chain: str) -> None:
    """The batch lies below stored blocks (an earlier range ingested later, a filled gap):
    stored inputs spending its outputs get their address and value, those outputs their
    spender, and the spending transactions their input value and fee."""
    p = {"chain": chain}
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE _later_hits AS
        SELECT o.rowid AS row, o.spent_height, i.tx_hash, i.block_height,
               i.prev_tx_hash, i.prev_n, i.n, o.address_id, o.value
        FROM inputs i
        JOIN outputs o ON o.tx_hash = i.prev_tx_hash AND o.n = i.prev_n
        WHERE i.chain = $chain AND o.chain = $chain
          AND o.block_height IN (SELECT height FROM stg_blocks)
          AND i.block_height NOT IN (SELECT height FROM stg_blocks)
        """,
        p,
    )
    _mark_spent(con, "_later_hits")
    con.execute(
        """
        UPDATE inputs SET address_id = h.address_id, value = h.value FROM _later_hits h
        WHERE inputs.chain = $chain AND inputs.value IS NULL
          AND inputs.block_height = h.block_height AND inputs.tx_hash = h.tx_hash
          AND inputs.n = h.n
        """,
        p,
    )
    con.execute(
        """
        UPDATE txs SET input_value = v.v_in, fee = v.v_in - txs.output_value
        FROM (SELECT block_height, tx_hash,
                     CASE WHEN bool_and(value IS NOT NULL) THEN sum(value) END AS v_in
              FROM inputs
              WHERE chain = $chain AND prev_tx_hash IS NOT NULL
                AND (block_height, tx_hash) IN (SELECT block_height, tx_hash FROM _later_hits)
              GROUP BY ALL) v
        WHERE txs.chain = $chain AND NOT txs.is_coinbase
          AND txs.block_height = v.block_height AND txs.tx_hash = v.tx_hash
        """,
        p,
    )
    con.execute("DROP TABLE _later_hits")


def _refuse_double_spends(con: duckdb.DuckDBPyConnection, in_batch: bool) -> None:
    """Raise InputError if two staged inputs spend one output.

    `in_batch`: look among spends of outputs staged in the batch (the caller saw an output
    joined to two spends), else among spends of stored outputs.
    """
    twice = con.execute(
        "SELECT prev_tx_hash, prev_n, min(block_height) FROM _spends"
        f" WHERE out_row IS {'NOT ' if in_batch else ''}NULL"
        " GROUP BY prev_tx_hash, prev_n HAVING count(*) > 1 LIMIT 1"
    ).fetchall()
    if twice:
        h, n, height = twice[0]
        raise InputError(f"output {h}:{n} is spent twice (block {height} and later)")


def close_batch(
    con: duckdb.DuckDBPyConnection, chain: str, source: str, added: int, blocks: str, txs: str
) -> BatchResult:
    """Count what the staged batch added and record the new tip in `ingest_state`.

    Runs inside the batch's transaction; `blocks`/`txs` name the staging relations.
    """
    row = con.execute(
        f"SELECT count(*), min(height), max(height), (SELECT count(*) FROM {txs}) FROM {blocks}"
    ).fetchall()[0]
    n_blocks, first, last, n_txs = int(row[0]), row[1], row[2], int(row[3])
    if n_blocks:
        tip = stored_tip(con, chain)
        assert tip is not None
        con.execute(
            "INSERT OR REPLACE INTO ingest_state (chain, source, last_height, last_hash,"
            " updated_at) VALUES ($chain, $source, $h, $hash, current_timestamp)",
            {"chain": chain, "source": source, "h": tip[0], "hash": tip[1]},
        )
    return BatchResult(
        n_blocks,
        n_txs,
        added,
        int(first) if first is not None else None,
        int(last) if last is not None else None,
    )


def rollback(con: duckdb.DuckDBPyConnection, chain: str, from_height: int) -> int:
    """Remove the blocks at `from_height` and above with all their effects (a reorg).

    Outputs spent by removed transactions become unspent again. Returns blocks removed.
    Address ids stay assigned (the dictionary never shrinks, so ids stay stable).
    """
    p = {"chain": chain, "h": from_height}
    with transaction(con):
        removed = int(
            con.execute(
                "SELECT count(*) FROM blocks WHERE chain = $chain AND height >= $h", p
            ).fetchall()[0][0]
        )
        con.execute(
            "UPDATE outputs SET spent_by = NULL, spent_height = NULL"
            " WHERE chain = $chain AND spent_height >= $h",
            p,
        )
        for table in ("inputs", "outputs", "txs"):
            con.execute(f"DELETE FROM {table} WHERE chain = $chain AND block_height >= $h", p)
        con.execute("DELETE FROM blocks WHERE chain = $chain AND height >= $h", p)
        tip = stored_tip(con, chain)
        con.execute(
            "UPDATE ingest_state SET last_height = $th, last_hash = $tx, updated_at ="
            " current_timestamp WHERE chain = $chain",
            {"chain": chain, "th": tip[0] if tip else None, "tx": tip[1] if tip else None},
        )
    return removed
