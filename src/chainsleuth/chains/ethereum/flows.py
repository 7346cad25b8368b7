"""From the raw relations (`chains.ethereum.raw`) to the store's staging relations.

One set of SQL for every source, so RPC, ethereum-etl and simulator data decode the same:
- `stg_eth_blocks`, `stg_eth_txs` (transaction success from the receipt status, or before
  Byzantium from the root trace frame; fee inputs; the contract a creation made);
- `stg_transfers`: native (`tx`), internal (`trace:…`) and token (`log:…`) value flows,
  each with exact amounts under the uint256 rule of docs/schema.md;
- `stg_contracts` (created addresses), `stg_token_standards` (standards seen in events).
See `store.account` for what the staging relations must hold.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa

from chainsleuth.chains.ethereum import events, traces
from chainsleuth.errors import ParseError

ZERO_HI = "0" * 32

# A 64-hex-digit word fits HUGEINT when it is below 2^127.
_WORD_MACROS = f"""
CREATE OR REPLACE TEMP MACRO eth_word_fits(w) AS
    substr(w, 1, 32) = '{ZERO_HI}' AND substr(w, 33, 1) < '8';
CREATE OR REPLACE TEMP MACRO eth_word_int(w) AS
    CASE WHEN eth_word_fits(w) THEN ('0x' || substr(w, 33, 32))::HUGEINT END;
"""


def check_consistency(con: duckdb.DuckDBPyConnection) -> None:
    """Every transaction belongs to a staged block, once, with a possible value, and each
    block has its tx_count of them.

    One pass over the transactions (per-block counts), compared with the blocks.
    """
    twice = con.execute(
        "SELECT height FROM raw_eth_blocks GROUP BY height HAVING count(*) > 1"
        " ORDER BY height LIMIT 1"
    ).fetchall()
    if twice:
        raise ParseError(f"block {twice[0][0]} is given twice (overlapping exports?)")
    bad = con.execute(
        """
        WITH per AS (
            SELECT block_height, count(*) AS n, count(DISTINCT tx_hash) AS distinct_n,
                   min(tx_hash) AS some_tx,
                   min(tx_hash) FILTER (WHERE TRY_CAST(value AS HUGEINT) IS NULL) AS too_big
            FROM raw_eth_txs GROUP BY block_height
        )
        SELECT coalesce(b.height, per.block_height) AS h, b.height IS NULL AS orphan,
               per.n <> per.distinct_n AS dup, b.tx_count, coalesce(per.n, 0), per.some_tx,
               per.too_big
        FROM raw_eth_blocks b FULL JOIN per ON per.block_height = b.height
        WHERE b.height IS NULL OR per.n <> per.distinct_n OR per.too_big IS NOT NULL
           OR (b.tx_count IS NOT NULL AND b.tx_count <> coalesce(per.n, 0))
        ORDER BY h LIMIT 1
        """
    ).fetchall()
    if not bad:
        return
    h, orphan, dup, expected, found, tx, too_big = bad[0]
    if too_big is not None:
        raise ParseError(f"block {h} tx {too_big}: value is not below 2^127 wei (the ETH supply)")
    if orphan:
        raise ParseError(f"block {h} tx {tx}: the transaction's block is missing from the blocks")
    if dup:
        raise ParseError(f"block {h}: a transaction is given twice")
    raise ParseError(f"block {h}: {expected} transactions in the block, {found} given")


def _stage_blocks_and_txs(con: duckdb.DuckDBPyConnection, internal_source: str | None) -> None:
    """`stg_eth_blocks` and `stg_eth_txs` from the raw relations and `_traces`."""
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE stg_eth_blocks AS
        SELECT height, hash, parent_hash, make_timestamp(timestamp * 1000000) AS time,
               tx_count, miner, TRY_CAST(base_fee_per_gas AS HUGEINT) AS base_fee_per_gas,
               gas_used, gas_limit,
               -- a block with transactions but no trace rows has unknown internal transfers
               CASE WHEN tx_count = 0 OR height IN (SELECT block_height FROM raw_eth_traces)
                    THEN $source::VARCHAR END AS internal_source
        FROM raw_eth_blocks
        """,
        {"source": internal_source},
    )
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE stg_eth_txs AS
        WITH root AS (
            SELECT tx_hash, bool_and(ok) AS ok,
                   any_value(to_address) FILTER (WHERE trace_type = 'create') AS created
            FROM _traces WHERE trace_address = '' GROUP BY tx_hash
        ), t AS (
            SELECT x.*, CASE WHEN x.status IS NOT NULL THEN x.status = 1
                             ELSE coalesce(root.ok, true) END AS ok, root.created
            FROM raw_eth_txs x LEFT JOIN root USING (tx_hash)
        )
        SELECT block_height, tx_hash, position, from_address, to_address,
               value::HUGEINT AS value, nonce, gas, gas_price::HUGEINT AS gas_price,
               max_fee_per_gas::HUGEINT AS max_fee_per_gas,
               max_priority_fee_per_gas::HUGEINT AS max_priority_fee_per_gas, tx_type,
               method_id, gas_used,
               coalesce(effective_gas_price, gas_price)::HUGEINT AS effective_gas_price,
               status, ok AS success,
               CASE WHEN ok AND to_address IS NULL THEN coalesce(contract_address, created) END
                   AS contract_address
        FROM t
        """
    )


def _wide_words(con: duckdb.DuckDBPyConnection) -> None:
    """`_wide_dec(w, dec)`: decimal text of the event words of 2^127 or more.

    DuckDB's integers stop at 128 bits; these words are rare (spam tokens, NFT ids that
    are hashes), so Python's integers convert them exactly.
    """
    words = con.execute(
        """
        SELECT DISTINCT w FROM (SELECT amount_word AS w FROM _token_events
                                UNION ALL SELECT id_word FROM _token_events)
        WHERE w IS NOT NULL AND NOT eth_word_fits(w)
        """
    ).fetchall()
    table = pa.table(
        {"w": [w for (w,) in words], "dec": [str(int(w, 16)) for (w,) in words]},
        schema=pa.schema([("w", pa.string()), ("dec", pa.string())]),
    )
    con.register("_wide_arrow", table)
    con.execute("CREATE OR REPLACE TEMP TABLE _wide_dec AS SELECT * FROM _wide_arrow")
    con.unregister("_wide_arrow")


_FLOWS_SQL = f"""
CREATE OR REPLACE TEMP TABLE stg_transfers AS
SELECT block_height, tx_hash, 'tx' AS position, 'native' AS kind, 'ETH' AS asset,
       from_address, coalesce(to_address, contract_address) AS to_address,
       value AS amount, NULL::VARCHAR AS amount_raw, NULL::VARCHAR AS token_id, success
FROM stg_eth_txs WHERE value > 0
UNION ALL
SELECT block_height, tx_hash, position, kind, asset, from_address, to_address,
       TRY_CAST(amount_dec AS HUGEINT),
       CASE WHEN TRY_CAST(amount_dec AS HUGEINT) IS NULL THEN amount_dec END, token_id, success
FROM ({traces.INTERNAL_SQL})
UNION ALL
SELECT e.block_height, e.tx_hash, e.position, 'token', e.asset, e.from_address, e.to_address,
       CASE WHEN e.amount_word IS NULL THEN 1 ELSE eth_word_int(e.amount_word) END,
       wa.dec,
       CASE WHEN e.id_word IS NOT NULL
            THEN coalesce(eth_word_int(e.id_word)::VARCHAR, wi.dec) END,
       coalesce(tx.success, true)
FROM _token_events e
LEFT JOIN _wide_dec wa ON wa.w = e.amount_word
LEFT JOIN _wide_dec wi ON wi.w = e.id_word
LEFT JOIN stg_eth_txs tx ON tx.tx_hash = e.tx_hash
UNION ALL
SELECT block_height, tx_hash, 'log:' || log_index, 'token', token_address, from_address,
       to_address, TRY_CAST(value AS HUGEINT),
       CASE WHEN TRY_CAST(value AS HUGEINT) IS NULL THEN value END, NULL, true
FROM raw_eth_token_transfers WHERE (SELECT count(*) FROM raw_eth_logs) = 0
"""

_CONTRACTS_SQL = f"""
CREATE OR REPLACE TEMP TABLE stg_contracts AS
SELECT address, min(block_height) AS block_height,
       any_value(tx_hash) FILTER (WHERE tx_hash IS NOT NULL) AS tx_hash,
       any_value(creator) FILTER (WHERE creator IS NOT NULL) AS creator
FROM (
    SELECT block_height, tx_hash, contract_address AS address, from_address AS creator
    FROM stg_eth_txs WHERE contract_address IS NOT NULL
    UNION ALL {traces.CREATED_SQL}
    UNION ALL SELECT block_height, NULL, address, NULL FROM raw_eth_contracts
)
GROUP BY address
"""


def build_staging(
    con: duckdb.DuckDBPyConnection,
    internal_source: str | None,
    wrapped_native: frozenset[str] = events.WRAPPED_NATIVE,
) -> list[str]:
    """Fill the `stg_*` relations of `store.account` from the raw relations.

    `internal_source` names where traces came from (None: the source has none, and the
    blocks are stored with internal transfers unavailable). Returns notes for the user.
    """
    check_consistency(con)
    traces.resolve_traces(con)
    _stage_blocks_and_txs(con, internal_source)
    skipped = events.decode_logs(con, wrapped_native)
    con.execute(_WORD_MACROS)
    _wide_words(con)
    con.execute(_FLOWS_SQL)
    con.execute(_CONTRACTS_SQL)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE stg_token_standards AS SELECT DISTINCT asset AS contract,"
        " standard FROM _token_events WHERE standard IS NOT NULL"
    )
    for name in ("_token_events", "_wide_dec", "_traces"):
        con.execute(f"DROP TABLE {name}")
    notes = []
    if skipped:
        notes.append(
            f"{skipped} Transfer/TransferSingle/TransferBatch logs fit no token standard's"
            " shape and were not decoded"
        )
    return notes
