"""Reading blockchain-etl Bitcoin exports (`blocks.json`, `transactions.json`) with DuckDB.

Accepted shapes, all newline-delimited JSON (optionally gzip-compressed):
- bitcoin-etl `export_blocks_and_transactions` / `stream` output, *plain* (inputs carry
  only `spent_transaction_hash`/`spent_output_index`; their address and value are resolved
  from stored outputs by the writer) or *enriched* (`enrich_transactions`: inputs also
  carry `addresses`, `type` and `value`);
- the public `crypto_bitcoin` dataset exported from BigQuery: integers may be quoted
  strings, `timestamp` is text such as `2009-01-03 18:15:05 UTC`, transactions have no
  `index` (positions then follow the coinbase first, then txid order).

Everything happens in SQL: `read_json` with an explicit schema (absent keys become NULL)
into `etl_raw_txs`, one validation query per rule, and the flat tables `etl_blocks` and
`etl_txs`. A batch is a range of heights: `stage_range` fills the writer's staging tables
(`store.utxo.STAGING_SCHEMAS`) from them, unnesting that range's inputs and outputs straight
from `etl_raw_txs` (flattening the whole export first would copy every row twice and hold
both copies in memory).

bitcoin-etl type names map to ours (`pubkeyhash` -> `p2pkh` …); an output with several
addresses (bare multisig) gets `nonstandard` + the first 40 hex digits of SHA-256 of its
script, as CONTRIBUTING.md prescribes. Exports do not carry the previous block hash: it is
taken from the block below in the same export or in the store, else left empty.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb

from chainsleuth.errors import InputError, ParseError

BLOCK_COLUMNS = {
    "hash": "VARCHAR",
    "number": "BIGINT",
    "timestamp": "VARCHAR",
    "transaction_count": "BIGINT",
}
_INPUT = (
    'STRUCT("index" BIGINT, spent_transaction_hash VARCHAR, spent_output_index BIGINT,'
    ' "sequence" BIGINT, addresses VARCHAR[], "value" BIGINT)[]'
)
_OUTPUT = (
    'STRUCT("index" BIGINT, script_hex VARCHAR, "type" VARCHAR, addresses VARCHAR[],'
    ' "value" BIGINT)[]'
)
TX_COLUMNS = {
    "hash": "VARCHAR",
    "size": "BIGINT",
    "virtual_size": "BIGINT",
    "version": "BIGINT",
    "lock_time": "BIGINT",
    "block_number": "BIGINT",
    "is_coinbase": "BOOLEAN",
    "index": "BIGINT",
    "inputs": _INPUT,
    "outputs": _OUTPUT,
}

SCRIPT_TYPES = {
    "pubkey": "p2pk",
    "pubkeyhash": "p2pkh",
    "scripthash": "p2sh",
    "witness_v0_keyhash": "p2wpkh",
    "witness_v0_scripthash": "p2wsh",
    "witness_v1_taproot": "p2tr",
    "multisig": "multisig",
    "nulldata": "nulldata",
    "witness_unknown": "witness_unknown",
    "nonstandard": "nonstandard",
}

# (field named in the error, SQL condition on a raw row that is true when it is missing,
#  the same test in Python for locating the line)
Check = tuple[str, str, Callable[[dict[str, Any]], bool]]


def _missing(key: str) -> Callable[[dict[str, Any]], bool]:
    return lambda row: row.get(key) is None


def _any_item_missing(lst: str, key: str) -> Callable[[dict[str, Any]], bool]:
    return lambda row: any(item.get(key) is None for item in row.get(lst) or [])


def _spend_missing(key: str) -> Callable[[dict[str, Any]], bool]:
    return lambda row: not row.get("is_coinbase") and _any_item_missing("inputs", key)(row)


BLOCK_CHECKS: list[Check] = [
    (k, f"{k} IS NULL", _missing(k)) for k in ("hash", "number", "timestamp")
]
TX_CHECKS: list[Check] = [
    *(
        (k, f'"{k}" IS NULL', _missing(k))
        for k in ("hash", "block_number", "is_coinbase", "outputs")
    ),
    *(
        (
            f"outputs[].{k}",
            f'list_bool_or(list_transform(outputs, lambda o: o."{k}" IS NULL))',
            _any_item_missing("outputs", k),
        )
        for k in ("index", "value")
    ),
    *(
        (
            f"inputs[].{k}",
            f'NOT is_coinbase AND list_bool_or(list_transform(inputs, lambda i: i."{k}" IS NULL))',
            _spend_missing(k),
        )
        for k in ("spent_transaction_hash", "spent_output_index")
    ),
]


def find_exports(directory: Path) -> tuple[list[Path], list[Path]]:
    """The `blocks*.json[.gz]` and `transactions*.json[.gz]` files under `directory`."""
    if not directory.is_dir():
        raise InputError(f"--from etl {directory}: not a directory")

    def files(stem: str) -> list[Path]:
        return sorted(p for p in directory.rglob(f"{stem}*.json*") if p.suffix in (".json", ".gz"))

    blocks, txs = files("blocks"), files("transactions")
    if not blocks or not txs:
        raise InputError(
            f"--from etl {directory}: needs blocks*.json and transactions*.json"
            f" (found {len(blocks)} and {len(txs)})"
        )
    return blocks, txs


def _sql_list(paths: list[Path]) -> str:
    return "[" + ", ".join("'" + str(p).replace("'", "''") + "'" for p in paths) + "]"


def _read(
    con: duckdb.DuckDBPyConnection,
    table: str,
    paths: list[Path],
    columns: dict[str, str],
    where: str = "true",
) -> None:
    spec = "{" + ", ".join(f"'{k}': '{v}'" for k, v in columns.items()) + "}"
    try:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT * FROM read_json({_sql_list(paths)},"
            f" columns = {spec}, format = 'newline_delimited', filename = true,"
            f" maximum_object_size = 67108864) WHERE {where}"
        )
    except duckdb.Error as exc:
        raise ParseError(
            f"cannot read {', '.join(map(str, paths))}: {str(exc).splitlines()[0]}"
        ) from exc


def _open_text(path: Path) -> Any:
    return (
        gzip.open(path, "rt", encoding="utf-8")
        if path.suffix == ".gz"
        else path.open(encoding="utf-8")
    )


def _locate(path: Path, test: Callable[[dict[str, Any]], bool]) -> int:
    """Line number (1-based) of the first row of `path` failing `test` (error path only)."""
    with _open_text(path) as f:
        for number, line in enumerate(f, start=1):
            if line.strip() and test(json.loads(line)):
                return number
    return 0


def _validate(con: duckdb.DuckDBPyConnection, table: str, checks: list[Check]) -> None:
    """Raise InputError naming file and line of the first row missing a required field.

    One scan answers every check; only a failed check is looked up row by row.
    """
    flags = con.execute(
        "SELECT "
        + ", ".join(f"coalesce(bool_or({c}), false)" for _, c, _ in checks)
        + f" FROM {table}"
    ).fetchone()
    assert flags is not None
    for (name, condition, test), failed in zip(checks, flags, strict=True):
        if not failed:
            continue
        row = con.execute(f"SELECT filename FROM {table} WHERE {condition} LIMIT 1").fetchone()
        assert row is not None
        path = Path(row[0])
        raise InputError(f"{path} line {_locate(path, test)}: required field {name!r} is missing")


def load(
    con: duckdb.DuckDBPyConnection,
    directory: Path,
    chain: str,
    start: int | None = None,
    end: int | None = None,
) -> tuple[int, int]:
    """Read the exports under `directory` into the `etl_*` temp tables; validate them.

    With `start`/`end`, only those heights (and the block below `start`, whose hash is the
    parent of `start`) are kept from the files: the rest is parsed but neither checked
    nor flattened, so a range of a large export costs the read, not the whole ingest.
    Rows without a height are kept, so the checks still name them. Returns (blocks,
    transactions) read.
    """
    block_files, tx_files = find_exports(directory)

    def heights(column: str) -> str:
        bounds = [f"{column} >= {int(start) - 1}"] if start is not None else []
        bounds += [f"{column} <= {int(end)}"] if end is not None else []
        return f"({column} IS NULL OR ({' AND '.join(bounds)}))" if bounds else "true"

    _read(con, "etl_raw_blocks", block_files, BLOCK_COLUMNS, heights("number"))
    _validate(con, "etl_raw_blocks", BLOCK_CHECKS)
    _read(con, "etl_raw_txs", tx_files, TX_COLUMNS, heights("block_number"))
    _validate(con, "etl_raw_txs", TX_CHECKS)
    _build_blocks(con, chain)
    _build_txs(con)
    _check_consistency(con)
    con.execute("DROP TABLE etl_raw_blocks")
    row = con.execute(
        "SELECT (SELECT count(*) FROM etl_blocks), (SELECT count(*) FROM etl_txs)"
    ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def _build_blocks(con: duckdb.DuckDBPyConnection, chain: str) -> None:
    dup = con.execute(
        "SELECT number, min(filename) FROM etl_raw_blocks GROUP BY number"
        " HAVING count(DISTINCT hash) > 1 ORDER BY number LIMIT 1"
    ).fetchone()
    if dup is not None:
        raise InputError(f"{dup[1]}: two different blocks at height {dup[0]}")
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE etl_blocks AS
        WITH b AS (
            SELECT DISTINCT ON (number) number, lower(hash) AS hash, timestamp, transaction_count,
                   filename
            FROM etl_raw_blocks
        ), t AS (
            SELECT *, CASE
                WHEN regexp_full_match(timestamp, '[0-9]+')
                    THEN make_timestamp(timestamp::BIGINT * 1000000)
                ELSE coalesce(try_strptime(timestamp, '%Y-%m-%d %H:%M:%S UTC'),
                              try_cast(timestamp AS TIMESTAMP))
            END AS time FROM b
        )
        SELECT number::BIGINT AS height, hash,
               coalesce(
                   CASE WHEN lag(number) OVER w = number - 1 THEN lag(hash) OVER w END,
                   (SELECT s.hash FROM blocks s WHERE s.chain = $chain AND s.height = t.number - 1),
                   CASE WHEN number = 0 THEN repeat('0', 64) END,
                   ''
               ) AS parent_hash,
               time, transaction_count::INTEGER AS tx_count, timestamp AS raw_time, filename
        FROM t WINDOW w AS (ORDER BY number)
        """,
        {"chain": chain},
    )
    bad = con.execute(
        "SELECT filename, height, raw_time FROM etl_blocks WHERE time IS NULL LIMIT 1"
    ).fetchone()
    if bad is not None:
        raise InputError(f"{bad[0]}: block {bad[1]} has an unreadable timestamp {bad[2]!r}")


def _script_type(expr: str) -> str:
    cases = " ".join(f"WHEN '{k}' THEN '{v}'" for k, v in SCRIPT_TYPES.items())
    return f"CASE {expr} {cases} ELSE 'nonstandard' END"


def _build_txs(con: duckdb.DuckDBPyConnection) -> None:
    dup = con.execute(
        "SELECT count(*) - count(DISTINCT (block_number, lower(hash))) FROM etl_raw_txs"
    ).fetchone()
    if dup and dup[0]:  # the same row exported twice (e.g. a restarted stream): keep one
        con.execute(
            "CREATE OR REPLACE TEMP TABLE etl_raw_txs AS SELECT DISTINCT ON"
            " (block_number, lower(hash)) * FROM etl_raw_txs"
        )
    unplaced = con.execute('SELECT bool_or("index" IS NULL) FROM etl_raw_txs').fetchone()
    if unplaced and unplaced[0]:  # the public dataset: coinbase first, then txid order
        con.execute(
            """
            CREATE OR REPLACE TEMP TABLE etl_raw_txs AS SELECT * REPLACE (
                coalesce("index", row_number() OVER (
                    PARTITION BY block_number ORDER BY is_coinbase DESC, lower(hash)) - 1
                ) AS "index")
            FROM etl_raw_txs
            """
        )
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE etl_txs AS
        SELECT block_number AS block_height, lower(hash) AS tx_hash,
               "index"::INTEGER AS position,
               version, lock_time AS locktime, size::INTEGER AS size,
               CASE WHEN size = virtual_size THEN 4 * size END::INTEGER AS weight,
               is_coinbase, filename
        FROM etl_raw_txs
        """
    )


def _check_consistency(con: duckdb.DuckDBPyConnection) -> None:
    """Every transaction has its block, and every block has all its transactions."""
    orphan = con.execute(
        "SELECT t.filename, t.tx_hash, t.block_height FROM etl_txs t"
        " ANTI JOIN etl_blocks b ON b.height = t.block_height LIMIT 1"
    ).fetchone()
    if orphan is not None:
        raise InputError(
            f"{orphan[0]}: transaction {orphan[1]} is in block {orphan[2]},"
            " which is not in the blocks export"
        )
    short = con.execute(
        """
        SELECT b.filename, b.height, b.tx_count, count(t.tx_hash) AS found
        FROM etl_blocks b LEFT JOIN etl_txs t ON t.block_height = b.height
        GROUP BY ALL HAVING b.tx_count IS NOT NULL AND b.tx_count <> count(t.tx_hash)
        ORDER BY b.height LIMIT 1
        """
    ).fetchone()
    if short is not None:
        raise InputError(
            f"{short[0]}: block {short[1]} has transaction_count {short[2]}"
            f" but the transactions export holds {short[3]} of its transactions"
        )


def stage_range(con: duckdb.DuckDBPyConnection, first: int, last: int) -> None:
    """Fill the writer's staging tables with blocks first..last of the loaded export."""
    p = {"lo": first, "hi": last}
    con.execute(
        "CREATE OR REPLACE TEMP TABLE stg_blocks AS SELECT height, hash, parent_hash, time,"
        " tx_count FROM etl_blocks WHERE height BETWEEN $lo AND $hi",
        p,
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE stg_txs AS SELECT block_height, tx_hash, position,"
        " version, locktime, size, weight, is_coinbase FROM etl_txs"
        " WHERE block_height BETWEEN $lo AND $hi",
        p,
    )
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE stg_outputs AS
        SELECT block_number AS block_height, lower(hash) AS tx_hash,
               "index"::INTEGER AS position, o."index"::INTEGER AS n,
               CASE WHEN len(o.addresses) = 1 THEN o.addresses[1]
                    WHEN len(o.addresses) > 1 AND o.script_hex IS NOT NULL
                        THEN 'nonstandard' || left(sha256(unhex(o.script_hex)), 40)
               END AS address,
               o."value" AS value, {_script_type('o."type"')} AS script_type
        FROM (SELECT block_number, hash, "index", unnest(outputs) AS o FROM etl_raw_txs
              WHERE block_number BETWEEN $lo AND $hi)
        """,
        p,
    )
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE stg_inputs AS
        SELECT block_number AS block_height, lower(hash) AS tx_hash,
               "index"::INTEGER AS position, coalesce(i."index", i_pos - 1)::INTEGER AS n,
               lower(i.spent_transaction_hash) AS prev_tx_hash,
               i.spent_output_index AS prev_n,
               CASE WHEN len(i.addresses) = 1 THEN i.addresses[1] END AS address,
               CASE WHEN len(i.addresses) = 1 THEN i."value" END AS value,
               i."sequence" AS sequence
        FROM (SELECT block_number, hash, "index", is_coinbase, unnest(inputs) AS i,
                     generate_subscripts(inputs, 1) AS i_pos
              FROM etl_raw_txs WHERE block_number BETWEEN $lo AND $hi)
        WHERE NOT (is_coinbase AND i.spent_transaction_hash IS NULL)
        """,
        p,
    )


def unload(con: duckdb.DuckDBPyConnection) -> None:
    """Drop the `etl_*` temp tables (also those a failed `load` left)."""
    for name in ("raw_blocks", "raw_txs", "blocks", "txs"):
        con.execute(f"DROP TABLE IF EXISTS etl_{name}")
