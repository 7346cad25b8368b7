"""The raw relations every Ethereum source fills before value flows are decoded.

Sources differ (JSON-RPC answers as Arrow tables via `stage_raw`, ethereum-etl text tables
as views via `view_raw`); they all produce these relations, with addresses as lowercase
`0x` strings and uint256 quantities as decimal text (exact at any size).
`chains.ethereum.flows` turns them into the store's staging relations with one set of
SQL, whatever the source.

    raw_eth_blocks  one row per block
    raw_eth_txs     one row per transaction, receipt fields merged (NULL when unknown)
    raw_eth_logs    one row per log; `topics` is a list (NULL = the source gave none: error)
    raw_eth_traces  one row per trace frame, Parity/ethereum-etl shape: trace_address
                    '' for the root, '0,1' for the second call of the first call; trace_type
                    call | create | suicide | reward | genesis | daofork
    raw_eth_token_transfers  ethereum-etl token_transfers (used only without logs)
    raw_eth_contracts        ethereum-etl contracts (address, block)
"""

from __future__ import annotations

import duckdb
import pyarrow as pa

RAW_SCHEMAS: dict[str, pa.Schema] = {
    "raw_eth_blocks": pa.schema(
        [
            ("height", pa.int64()),
            ("hash", pa.string()),
            ("parent_hash", pa.string()),
            ("timestamp", pa.int64()),
            ("tx_count", pa.int32()),
            ("miner", pa.string()),
            ("base_fee_per_gas", pa.string()),
            ("gas_used", pa.int64()),
            ("gas_limit", pa.int64()),
        ]
    ),
    "raw_eth_txs": pa.schema(
        [
            ("block_height", pa.int64()),
            ("tx_hash", pa.string()),
            ("position", pa.int32()),
            ("from_address", pa.string()),
            ("to_address", pa.string()),
            ("value", pa.string()),
            ("nonce", pa.int64()),
            ("gas", pa.int64()),
            ("gas_price", pa.string()),
            ("max_fee_per_gas", pa.string()),
            ("max_priority_fee_per_gas", pa.string()),
            ("tx_type", pa.int32()),
            ("method_id", pa.string()),
            ("gas_used", pa.int64()),
            ("effective_gas_price", pa.string()),
            ("status", pa.int32()),
            ("contract_address", pa.string()),
        ]
    ),
    "raw_eth_logs": pa.schema(
        [
            ("block_height", pa.int64()),
            ("tx_hash", pa.string()),
            ("log_index", pa.int32()),
            ("address", pa.string()),
            ("data", pa.string()),
            ("topics", pa.list_(pa.string())),
        ]
    ),
    "raw_eth_traces": pa.schema(
        [
            ("block_height", pa.int64()),
            ("tx_hash", pa.string()),
            ("tx_position", pa.int32()),
            ("trace_address", pa.string()),
            ("trace_type", pa.string()),
            ("call_type", pa.string()),
            ("from_address", pa.string()),
            ("to_address", pa.string()),
            ("value", pa.string()),
            ("error", pa.string()),
        ]
    ),
    "raw_eth_token_transfers": pa.schema(
        [
            ("block_height", pa.int64()),
            ("tx_hash", pa.string()),
            ("log_index", pa.int32()),
            ("token_address", pa.string()),
            ("from_address", pa.string()),
            ("to_address", pa.string()),
            ("value", pa.string()),
        ]
    ),
    "raw_eth_contracts": pa.schema([("block_height", pa.int64()), ("address", pa.string())]),
}


def stage_raw(con: duckdb.DuckDBPyConnection, tables: dict[str, pa.Table]) -> None:
    """Make Arrow tables (schemas as RAW_SCHEMAS) the raw relations; absent ones empty.

    Columns a table lacks are NULL.
    """
    for name, schema in RAW_SCHEMAS.items():
        table = tables.get(name)
        if table is None:
            table = schema.empty_table()
        columns = [
            table.column(f.name).cast(f.type)
            if f.name in table.column_names
            else pa.nulls(table.num_rows, f.type)
            for f in schema
        ]
        con.register(f"_{name}_arrow", pa.Table.from_arrays(columns, schema=schema))
        con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM _{name}_arrow")
        con.unregister(f"_{name}_arrow")


def view_raw(con: duckdb.DuckDBPyConnection, name: str, sql: str) -> None:
    """Define raw relation `name` as a view over `sql` (a source already in temp tables)."""
    if name not in RAW_SCHEMAS:
        raise ValueError(f"{name} is not a raw relation")
    tables = con.execute(
        "SELECT 1 FROM duckdb_tables() WHERE temporary AND table_name = ?", [name]
    ).fetchall()
    if tables:
        con.execute(f"DROP TABLE {name}")
    con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS {sql}")
