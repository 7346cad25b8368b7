"""Reading ethereum-etl exports (CSV or newline-delimited JSON) into the raw relations.

Files are found under the export directory by name, at any depth, as ethereum-etl writes
them: `blocks.csv`, `transactions.csv`, `receipts.csv`, `logs.csv`, `token_transfers.csv`,
`traces.csv`, `contracts.csv`, `tokens.csv`, their `.json` variants, and partitioned names
such as `blocks_00000000_00099999.csv`. Everything is read by DuckDB (CRLF or LF line ends,
quoted comma-joined list fields in CSV, JSON lists in JSON); columns are read as text and
converted with checks, so a missing column or a malformed value is a ParseError naming the
file, the row (data row, from 1) and the column, with the block and transaction.

Stream exports (`ethereumetl stream`) merge receipt fields into transactions as
`receipt_*`; plain exports give them in receipts.csv. Both are accepted.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from chainsleuth.chains.ethereum.raw import RAW_SCHEMAS, view_raw
from chainsleuth.errors import InputError, ParseError

ADDRESS = "regexp_full_match({c}, '0x[0-9a-f]{{40}}')"
HASH = "regexp_full_match({c}, '0x[0-9a-f]{{64}}')"
UINT = "regexp_full_match({c}, '[0-9]{{1,78}}')"
INT = "TRY_CAST({c} AS BIGINT) IS NOT NULL"
HEX = "regexp_full_match({c}, '0x[0-9a-f]*')"
TEXT = "true"

# kind -> (required columns, optional columns), each column with its check.
COLUMNS: dict[str, tuple[dict[str, str], dict[str, str]]] = {
    "blocks": (
        {
            "number": INT,
            "hash": HASH,
            "parent_hash": HASH,
            "timestamp": INT,
            "transaction_count": INT,
            "miner": ADDRESS,
            "gas_used": INT,
            "gas_limit": INT,
        },
        {"base_fee_per_gas": UINT},
    ),
    "transactions": (
        {
            "hash": HASH,
            "block_number": INT,
            "transaction_index": INT,
            "from_address": ADDRESS,
            "to_address": ADDRESS,
            "value": UINT,
            "nonce": INT,
            "gas": INT,
            "gas_price": UINT,
            "input": HEX,
        },
        {
            "max_fee_per_gas": UINT,
            "max_priority_fee_per_gas": UINT,
            "transaction_type": INT,
            "receipt_gas_used": INT,
            "receipt_status": INT,
            "receipt_contract_address": ADDRESS,
            "receipt_effective_gas_price": UINT,
        },
    ),
    "receipts": (
        {
            "transaction_hash": HASH,
            "block_number": INT,
            "gas_used": INT,
            "contract_address": ADDRESS,
            "status": INT,
        },
        {"effective_gas_price": UINT},
    ),
    "logs": (
        {
            "log_index": INT,
            "transaction_hash": HASH,
            "block_number": INT,
            "address": ADDRESS,
            "data": TEXT,  # checked with the topics by events.check_logs
            "topics": TEXT,
        },
        {},
    ),
    "token_transfers": (
        {
            "token_address": ADDRESS,
            "from_address": ADDRESS,
            "to_address": ADDRESS,
            "value": UINT,
            "transaction_hash": HASH,
            "log_index": INT,
            "block_number": INT,
        },
        {},
    ),
    "traces": (
        {
            "block_number": INT,
            "transaction_hash": HASH,
            "transaction_index": INT,
            "from_address": ADDRESS,
            "to_address": ADDRESS,
            "value": UINT,
            "trace_type": TEXT,
            "call_type": TEXT,
            "trace_address": TEXT,
            "error": TEXT,
        },
        {},
    ),
    "contracts": ({"address": ADDRESS}, {"block_number": INT}),
    "tokens": ({"address": ADDRESS}, {"symbol": TEXT, "name": TEXT, "decimals": INT}),
}
LIST_COLUMNS = ("topics", "trace_address")
# Columns that must be present in every row (the rest may be empty).
NOT_NULL = {
    "blocks": ("number", "hash", "timestamp"),
    "transactions": ("hash", "block_number", "transaction_index", "from_address", "value"),
    "receipts": ("transaction_hash",),
    "logs": ("log_index", "transaction_hash", "block_number", "address"),
    "token_transfers": ("token_address", "transaction_hash", "log_index", "block_number"),
    "traces": ("block_number", "trace_type"),
    "contracts": ("address",),
    "tokens": ("address",),
}


@dataclass
class EtlFiles:
    """The export files found per kind."""

    root: Path
    files: dict[str, list[Path]] = field(default_factory=dict)

    def has(self, kind: str) -> bool:
        """Whether the export has at least one non-empty file of `kind`."""
        return bool(self.files.get(kind))

    def partitions(self) -> list[EtlFiles]:
        """The block-bound files split by ethereum-etl's block-range partitions, in order.

        `export_all` writes `<kind>/start_block=A/end_block=B/<kind>_A_B.csv`; when every
        block-bound file carries such a range and every range has its blocks file, each
        range is a partition (ingested as its own batch, so memory follows the partition
        size). Otherwise the whole export is one partition. Token files are not block-bound
        and are left out (see `tokens_only`).
        """
        groups: dict[tuple[int, int], EtlFiles] = {}
        for kind, paths in self.files.items():
            if kind == "tokens":
                continue
            for path in paths:
                key = _range_key(self.root, path)
                if key is None:
                    return [self.without("tokens")]
                groups.setdefault(key, EtlFiles(self.root)).files.setdefault(kind, []).append(path)
        if not groups or not all(g.has("blocks") for g in groups.values()):
            return [self.without("tokens")]
        return [groups[k] for k in sorted(groups)]

    def without(self, kind: str) -> EtlFiles:
        """These files less those of `kind`."""
        return EtlFiles(self.root, {k: v for k, v in self.files.items() if k != kind})


_PARTITION_DIR = re.compile(r"start_block=(\d+)/end_block=(\d+)/")
_PARTITION_NAME = re.compile(r"_(\d+)_(\d+)\.(?:csv|json)$")


def _range_key(root: Path, path: Path) -> tuple[int, int] | None:
    """The block range of a partitioned ethereum-etl file, from its directory or name."""
    found = _PARTITION_DIR.search(path.relative_to(root).as_posix()) or _PARTITION_NAME.search(
        path.name
    )
    return (int(found[1]), int(found[2])) if found else None


def find_files(root: str | Path) -> EtlFiles:
    """The ethereum-etl files under `root` (see the module docstring for names)."""
    base = Path(root)
    if not base.is_dir():
        raise InputError(f"ethereum-etl export directory {base} does not exist")
    found = EtlFiles(base)
    for kind in COLUMNS:
        paths: set[Path] = set()
        for ext in ("csv", "json"):
            paths.update(base.rglob(f"{kind}.{ext}"))
            paths.update(base.rglob(f"{kind}_[0-9]*.{ext}"))
        found.files[kind] = sorted(p for p in paths if p.is_file() and p.stat().st_size > 0)
    if not found.has("blocks"):
        raise InputError(f"no blocks.csv or blocks.json under {base}")
    return found


def _csv_header(path: Path) -> list[str]:
    """The column names in a CSV file's first line (DuckDB reads the rest by these)."""
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            return next(csv.reader(fh), [])
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ParseError(f"{path}: not a readable CSV file: {exc}") from exc


def _one_line(exc: Exception, limit: int = 300) -> str:
    """DuckDB's (multi-line) error message on one line."""
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _text(expr: str, rule: str) -> str:
    """`expr` as read: hashes and addresses lowercased; calldata cut to its 4-byte selector
    (all that is kept, and real calldata is most of an export's bytes)."""
    if rule == HEX:
        return f"lower(substr({expr}, 1, 10))"
    return f"lower({expr})" if rule in (ADDRESS, HASH) else expr


def _load_file(con: duckdb.DuckDBPyConnection, kind: str, path: Path, table: str) -> None:
    """Append one file's rows (all text, with `_bad`) to temp table `table`, in file order.

    An empty list cell in CSV is read as '' (an empty list), so NULL in a list column
    means what it means in JSON: the field is absent (a log without topics, an error).
    """
    required, optional = COLUMNS[kind]
    src = _sql_str(str(path))
    if path.suffix == ".csv":
        header = _csv_header(path)
        present = set(header)
        names = ", ".join(f"{_sql_str(c)}: 'VARCHAR'" for c in header)
        scan = (
            f"read_csv({src}, header = true, auto_detect = false, columns = {{{names}}},"
            " delim = ',', quote = '\"', escape = '\"')"
        )
        missing = [c for c in required if c not in present]
        if missing:
            raise ParseError(f"{path}: missing column {missing[0]!r} (ethereum-etl {kind})")
        cols = [
            (
                f"coalesce({c}, '') AS {c}"
                if c in LIST_COLUMNS and c in present
                else _text(c, rule) + f" AS {c}"
                if c in present
                else f"NULL::VARCHAR AS {c}"
            )
            for c, rule in {**required, **optional}.items()
        ]
        select = f"SELECT {', '.join(cols)} FROM {scan}"
    else:
        scan = f"(SELECT row_number() OVER () AS _row, json AS j FROM read_ndjson_objects({src}))"
        first_missing = " ".join(f"WHEN NOT json_exists(j, '$.{c}') THEN '{c}'" for c in required)
        absent = con.execute(
            f"SELECT _row, missing FROM (SELECT _row, CASE {first_missing} END AS missing"
            f" FROM {scan}) WHERE missing IS NOT NULL ORDER BY _row LIMIT 1"
        ).fetchall()
        if absent:
            row, c = absent[0]
            raise ParseError(f"{path} row {row}: no field {c!r} (ethereum-etl {kind})")
        cols = [
            (
                f"CASE WHEN json_type(j->'{c}') = 'ARRAY' THEN"
                f" array_to_string(from_json(j->'{c}', '[\"VARCHAR\"]'), ',')"
                f" ELSE j->>'{c}' END AS {c}"
                if c in LIST_COLUMNS
                else _text(f"j->>'{c}'", rule) + f" AS {c}"
            )
            for c, rule in {**required, **optional}.items()
        ]
        select = f"SELECT {', '.join(cols)} FROM {scan} ORDER BY _row"
    try:
        con.execute(f"INSERT INTO {table} SELECT *, {_bad_case(kind)} FROM ({select})")
    except duckdb.Error as exc:
        raise ParseError(f"{path}: cannot read as ethereum-etl {kind}: {_one_line(exc)}") from exc


def _bad_case(kind: str) -> str:
    """SQL naming a row's first column that is empty where required or malformed (NULL: none).

    Evaluated as the rows are read (no second pass over the data); `_check` reports it.
    """
    required, optional = COLUMNS[kind]
    checks = [(c, f"{c} IS NULL") for c in NOT_NULL[kind]]
    checks += [
        (c, f"({c} IS NOT NULL AND NOT {rule.format(c=c)})")
        for c, rule in {**required, **optional}.items()
        if rule != TEXT
    ]
    return "CASE " + " ".join(f"WHEN {cond} THEN '{c}'" for c, cond in checks) + " END"


def _check(
    con: duckdb.DuckDBPyConnection, kind: str, table: str, starts: list[tuple[int, Path]]
) -> None:
    """ParseError for the first row with a missing required value or a malformed one.

    `starts` gives the first rowid of each file's rows (appended file by file in order).
    """
    block = {"blocks": "number", "tokens": "NULL"}.get(kind, "block_number")
    tx = {"transactions": "hash", "blocks": "NULL", "contracts": "NULL", "tokens": "NULL"}.get(
        kind, "transaction_hash"
    )
    bad = con.execute(
        f"""
        SELECT rowid, _bad, {block}, {tx} FROM {table}
        WHERE _bad IS NOT NULL ORDER BY rowid LIMIT 1
        """
    ).fetchall()
    if bad:
        rowid, column, height, txh = bad[0]
        first, path = [(s, p) for s, p in starts if s <= rowid][-1]
        row = rowid - first + 1
        found = con.execute(f"SELECT {column} FROM {table} WHERE rowid = ?", [rowid]).fetchall()
        value = found[0][0]
        where = f" (block {height}" + (f" tx {txh})" if txh else ")")
        raise ParseError(
            f"{path} row {row}{where}: column {column!r} "
            + ("is empty" if value is None else f"has malformed value {value!r}")
        )


def load_kind(con: duckdb.DuckDBPyConnection, found: EtlFiles, kind: str) -> str:
    """Load and check every file of `kind` into temp table `etl_<kind>`; return its name."""
    required, optional = COLUMNS[kind]
    table = f"etl_{kind}"
    cols = ", ".join(f"{c} VARCHAR" for c in (*required, *optional))
    con.execute(f"CREATE OR REPLACE TEMP TABLE {table} ({cols}, _bad VARCHAR)")
    starts = []
    for path in found.files.get(kind, []):
        starts.append((int(con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]), path))
        _load_file(con, kind, path, table)
    _check(con, kind, table, starts)
    return table


_RANGE = "BETWEEN {low} AND {high}"
_SQL_TYPES = {
    "int64": "BIGINT",
    "int32": "INTEGER",
    "string": "VARCHAR",
    "list<item: string>": "VARCHAR[]",
}

_RAW_SQL = {
    "raw_eth_blocks": f"""
        SELECT number::BIGINT AS height, hash, parent_hash, timestamp::BIGINT AS timestamp,
               transaction_count::INTEGER AS tx_count, miner, base_fee_per_gas,
               gas_used::BIGINT AS gas_used, gas_limit::BIGINT AS gas_limit
        FROM etl_blocks WHERE number::BIGINT {_RANGE}
    """,
    "raw_eth_logs": f"""
        SELECT block_number::BIGINT AS block_height, transaction_hash AS tx_hash,
               log_index::INTEGER AS log_index, address, coalesce(data, '0x') AS data,
               CASE WHEN topics IS NULL THEN NULL
                    WHEN topics = '' THEN []::VARCHAR[]
                    ELSE string_split(topics, ',') END AS topics
        FROM etl_logs WHERE block_number::BIGINT {_RANGE}
    """,
    "raw_eth_token_transfers": f"""
        SELECT block_number::BIGINT AS block_height, transaction_hash AS tx_hash,
               log_index::INTEGER AS log_index, token_address, from_address, to_address, value
        FROM etl_token_transfers WHERE block_number::BIGINT {_RANGE}
    """,
    "raw_eth_traces": f"""
        SELECT block_number::BIGINT AS block_height, transaction_hash AS tx_hash,
               transaction_index::INTEGER AS tx_position,
               coalesce(trace_address, '') AS trace_address, trace_type, call_type,
               from_address, to_address, value, error
        FROM etl_traces WHERE block_number::BIGINT {_RANGE}
    """,
    "raw_eth_contracts": f"""
        SELECT block_number::BIGINT AS block_height, address FROM etl_contracts
        WHERE block_number IS NULL OR block_number::BIGINT {_RANGE}
    """,
}


def _raw_txs_sql(has_receipts: bool) -> str:
    """raw_eth_txs from etl_transactions, receipt fields from receipt_* or etl_receipts."""
    receipt = (
        "LEFT JOIN etl_receipts r ON r.transaction_hash = t.hash"
        if has_receipts
        else "LEFT JOIN (SELECT NULL AS transaction_hash, NULL AS gas_used, NULL AS status,"
        " NULL AS contract_address, NULL AS effective_gas_price) r ON false"
    )
    return f"""
        SELECT t.block_number::BIGINT AS block_height, t.hash AS tx_hash,
               t.transaction_index::INTEGER AS position, t.from_address, t.to_address,
               t.value, t.nonce::BIGINT AS nonce, t.gas::BIGINT AS gas, t.gas_price,
               t.max_fee_per_gas, t.max_priority_fee_per_gas,
               t.transaction_type::INTEGER AS tx_type,
               CASE WHEN length(t.input) >= 10 THEN substr(t.input, 1, 10) END AS method_id,
               coalesce(t.receipt_gas_used, r.gas_used)::BIGINT AS gas_used,
               coalesce(t.receipt_effective_gas_price, r.effective_gas_price)
                   AS effective_gas_price,
               coalesce(t.receipt_status, r.status)::INTEGER AS status,
               coalesce(t.receipt_contract_address, r.contract_address) AS contract_address
        FROM etl_transactions t {receipt}
        WHERE t.block_number::BIGINT {_RANGE}
    """


@dataclass(frozen=True)
class EtlLoad:
    """What an export provided, for the notes of an ingestion run."""

    has_traces: bool
    has_receipts: bool
    has_logs: bool


def load_raw(
    con: duckdb.DuckDBPyConnection, found: EtlFiles, start: int | None, end: int | None
) -> EtlLoad:
    """Fill the raw relations from the files `found` (one partition), blocks start..end."""
    for kind in COLUMNS:
        if kind != "tokens":
            load_kind(con, found, kind)
    low = -1 if start is None else int(start)
    high = 2**63 - 1 if end is None else int(end)
    has_receipts = found.has("receipts")
    for name, sql in {**_RAW_SQL, "raw_eth_txs": _raw_txs_sql(has_receipts)}.items():
        # Views (no copy): each raw relation is read from the text tables as it is used.
        columns = ", ".join(
            f"{f.name}::{_SQL_TYPES[str(f.type)]} AS {f.name}" for f in RAW_SCHEMAS[name]
        )
        view_raw(con, name, f"SELECT {columns} FROM ({sql.format(low=low, high=high)})")
    receipts_in_txs = con.execute(
        "SELECT count(*) FILTER (WHERE receipt_status IS NOT NULL OR receipt_gas_used IS NOT NULL)"
        " FROM etl_transactions"
    ).fetchall()[0][0]
    return EtlLoad(
        has_traces=found.has("traces"),
        has_receipts=has_receipts or bool(receipts_in_txs),
        has_logs=found.has("logs") or found.has("token_transfers"),
    )


TOKENS_SQL = """
SELECT address AS contract, nullif(symbol, '') AS symbol, nullif(name, '') AS name,
       decimals::INTEGER AS decimals, NULL AS standard, 'etl' AS source
FROM etl_tokens
"""


def drop_loaded(con: duckdb.DuckDBPyConnection) -> None:
    """Drop the `etl_*` text tables once their rows are staged."""
    for kind in COLUMNS:
        con.execute(f"DROP TABLE IF EXISTS etl_{kind}")
