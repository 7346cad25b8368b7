"""Writing account-chain blocks (Ethereum) into the store, and rolling them back on a reorg.

Every source (JSON-RPC, ethereum-etl exports, the simulator) ends here through one path:
the source fills the staging relations below with address *strings* (decoded value flows,
see `chains.ethereum.flows`), then `apply_staged` dictionary-encodes the addresses (a map
of the batch's own addresses to ids, `store.addresses.map_addresses`) and inserts
everything in one transaction. A batch is whole blocks or nothing; heights already
stored are skipped, so re-running is harmless.

Staging relations (temp tables), columns by name:
    stg_eth_blocks    (height, hash, parent_hash, time TIMESTAMP, tx_count, miner,
                       base_fee_per_gas, gas_used, gas_limit, internal_source)
    stg_eth_txs       (block_height, tx_hash, position, from_address, to_address, value,
                       nonce, gas, gas_price, max_fee_per_gas, max_priority_fee_per_gas,
                       tx_type, method_id, gas_used, effective_gas_price, status, success,
                       contract_address)
    stg_transfers     (block_height, tx_hash, position, kind, asset, from_address,
                       to_address, amount, amount_raw, token_id, success)
    stg_contracts     (block_height, tx_hash, address, creator)
    stg_token_standards (contract, standard)   token standards seen in the batch's events
`internal_source` NULL means the source had no traces: the block is stored with
`internal_available = false`.
"""

from __future__ import annotations

from typing import Any

import duckdb
import pyarrow as pa

from chainsleuth.store.addresses import map_addresses
from chainsleuth.store.db import transaction
from chainsleuth.store.utxo import BatchResult, close_batch, stored_tip

STAGING_TABLES = ("stg_eth_blocks", "stg_eth_txs", "stg_transfers", "stg_contracts")
BLOCK_TABLES = ("transfers", "eth_txs", "txs", "contracts")

# Every address of a batch; `seen` orders them row by row as the staging tables hold them.
_ADDRESSES_SQL = """
    SELECT miner AS address, rowid * 8 + 0 AS seen FROM stg_eth_blocks
    UNION ALL SELECT from_address, rowid * 8 + 1 FROM stg_eth_txs
    UNION ALL SELECT to_address, rowid * 8 + 2 FROM stg_eth_txs
    UNION ALL SELECT contract_address, rowid * 8 + 3 FROM stg_eth_txs
    UNION ALL SELECT from_address, rowid * 8 + 4 FROM stg_transfers
    UNION ALL SELECT to_address, rowid * 8 + 5 FROM stg_transfers
    UNION ALL SELECT address, rowid * 8 + 6 FROM stg_contracts
    UNION ALL SELECT creator, rowid * 8 + 7 FROM stg_contracts
"""


_MAP = "_eth_batch_addresses"


def _id(alias: str, column: str) -> str:
    """SQL joining the batch's address map as `alias` to the address string `column`
    (id: alias.address_id). The map holds the batch's addresses only, so the joins do not
    grow with the dictionary."""
    return f"LEFT JOIN {_MAP} {alias} ON {alias}.address = {column}"


def apply_staged(con: duckdb.DuckDBPyConnection, chain: str, source: str) -> BatchResult:
    """Insert the staged blocks into the store in one transaction (see module docstring)."""
    p = {"chain": chain}
    with transaction(con):
        stored = con.execute(
            "SELECT count(*) FROM stg_eth_blocks WHERE height IN"
            " (SELECT height FROM blocks WHERE chain = $chain)",
            p,
        ).fetchall()[0][0]
        if stored:  # a re-run or an overlap: drop what is already stored (rare, so checked)
            con.execute(
                "DELETE FROM stg_eth_blocks WHERE height IN"
                " (SELECT height FROM blocks WHERE chain = $chain)",
                p,
            )
            for name in STAGING_TABLES[1:]:
                con.execute(
                    f"DELETE FROM {name}"
                    " WHERE block_height NOT IN (SELECT height FROM stg_eth_blocks)"
                )
        added = map_addresses(con, chain, _ADDRESSES_SQL, _MAP)
        con.execute(
            "INSERT INTO blocks SELECT $chain, height, hash, parent_hash, time, tx_count"
            " FROM stg_eth_blocks",
            p,
        )
        con.execute(
            f"""
            INSERT INTO eth_blocks
            SELECT $chain, b.height, m.address_id, b.base_fee_per_gas, b.gas_used, b.gas_limit,
                   b.internal_source, b.internal_source IS NOT NULL
            FROM stg_eth_blocks b {_id("m", "b.miner")}
            """,
            p,
        )
        con.execute(
            """
            INSERT INTO txs (chain, block_height, tx_hash, position, time, is_coinbase,
                             output_value, fee)
            SELECT $chain, t.block_height, t.tx_hash, t.position, b.time, false, t.value, t.fee
            FROM (SELECT *, gas_used * effective_gas_price AS fee FROM stg_eth_txs) t
            JOIN stg_eth_blocks b ON b.height = t.block_height
            """,
            p,
        )
        con.execute(
            f"""
            INSERT INTO eth_txs
            SELECT $chain, t.block_height, t.tx_hash, f.address_id, o.address_id, t.value,
                   t.nonce, t.gas, t.gas_price, t.max_fee_per_gas, t.max_priority_fee_per_gas,
                   t.tx_type, t.method_id, t.gas_used, t.effective_gas_price,
                   t.gas_used * t.effective_gas_price, t.status, t.success, c.address_id
            FROM stg_eth_txs t {_id("f", "t.from_address")} {_id("o", "t.to_address")}
            {_id("c", "t.contract_address")}
            """,
            p,
        )
        con.execute(
            f"""
            INSERT INTO transfers
            SELECT $chain, t.block_height, b.time, t.tx_hash, t.position, t.kind, t.asset,
                   f.address_id, o.address_id, t.amount, t.amount_raw, t.token_id, t.success
            FROM stg_transfers t JOIN stg_eth_blocks b ON b.height = t.block_height
            {_id("f", "t.from_address")} {_id("o", "t.to_address")}
            """,
            p,
        )
        con.execute(
            f"""
            INSERT INTO contracts
            SELECT $chain, a.address_id, s.block_height, s.tx_hash, c.address_id
            FROM stg_contracts s {_id("a", "s.address")} {_id("c", "s.creator")}
            WHERE NOT EXISTS (SELECT 1 FROM contracts k
                              WHERE k.chain = $chain AND k.address_id = a.address_id)
            """,
            p,
        )
        con.execute(
            """
            INSERT INTO tokens (chain, contract, standard, source)
            SELECT $chain, contract, min(standard), 'events' FROM stg_token_standards
            GROUP BY contract
            ON CONFLICT (chain, contract) DO UPDATE
            SET standard = coalesce(tokens.standard, excluded.standard)
            """,
            p,
        )
        result = close_batch(con, chain, source, added, "stg_eth_blocks", "stg_eth_txs")
        con.execute(f"DROP TABLE {_MAP}")
    return result


def rollback(con: duckdb.DuckDBPyConnection, chain: str, from_height: int) -> int:
    """Remove the blocks at `from_height` and above with all their rows (a reorg).

    Returns the number of blocks removed. Address ids and token metadata stay (the
    dictionary never shrinks, so ids stay stable).
    """
    p = {"chain": chain, "h": from_height}
    with transaction(con):
        row = con.execute(
            "SELECT count(*) FROM blocks WHERE chain = $chain AND height >= $h", p
        ).fetchall()[0]
        for table in BLOCK_TABLES:
            con.execute(f"DELETE FROM {table} WHERE chain = $chain AND block_height >= $h", p)
        for table in ("eth_blocks", "blocks"):
            con.execute(f"DELETE FROM {table} WHERE chain = $chain AND height >= $h", p)
        tip = stored_tip(con, chain)
        con.execute(
            "UPDATE ingest_state SET last_height = $th, last_hash = $tx, updated_at ="
            " current_timestamp WHERE chain = $chain",
            {"chain": chain, "th": tip[0] if tip else None, "tx": tip[1] if tip else None},
        )
    return int(row[0])


def upsert_tokens(con: duckdb.DuckDBPyConnection, chain: str, source_sql: str) -> int:
    """Store token metadata from `source_sql` (contract, symbol, name, decimals, source).

    Known values are kept where the new row has none; the event-derived standard is kept.
    Returns the number of rows given.
    """
    with transaction(con):
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE _tok AS
            SELECT lower(contract) AS contract, any_value(symbol) AS symbol,
                   any_value(name) AS name, any_value(decimals) AS decimals,
                   any_value(standard) AS standard, any_value(source) AS source
            FROM ({source_sql}) GROUP BY lower(contract)
            """
        )
        con.execute(
            """
            INSERT INTO tokens SELECT $chain, contract, symbol, name, decimals, standard, source
            FROM _tok
            ON CONFLICT (chain, contract) DO UPDATE SET
                symbol = coalesce(excluded.symbol, tokens.symbol),
                name = coalesce(excluded.name, tokens.name),
                decimals = coalesce(excluded.decimals, tokens.decimals),
                standard = coalesce(tokens.standard, excluded.standard),
                source = excluded.source
            """,
            {"chain": chain},
        )
        n = int(con.execute("SELECT count(*) FROM _tok").fetchall()[0][0])
        con.execute("DROP TABLE _tok")
    return n


TOKEN_SCHEMA = pa.schema(
    [
        ("contract", pa.string()),
        ("symbol", pa.string()),
        ("name", pa.string()),
        ("decimals", pa.int32()),
        ("standard", pa.string()),
        ("source", pa.string()),
    ]
)


def upsert_token_rows(
    con: duckdb.DuckDBPyConnection, chain: str, rows: list[dict[str, Any]]
) -> int:
    """`upsert_tokens` for rows given as dicts (keys as TOKEN_SCHEMA)."""
    con.register("_token_rows", pa.Table.from_pylist(rows, schema=TOKEN_SCHEMA))
    try:
        return upsert_tokens(con, chain, "SELECT * FROM _token_rows")
    finally:
        con.unregister("_token_rows")


def tokens_never_described(con: duckdb.DuckDBPyConnection, chain: str) -> list[str]:
    """Token contracts known only from their events (no metadata source asked yet)."""
    found = con.execute(
        "SELECT contract FROM tokens WHERE chain = ? AND source = 'events' ORDER BY contract",
        [chain],
    ).fetchall()
    return [c for (c,) in found]
