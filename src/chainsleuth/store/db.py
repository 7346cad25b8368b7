"""Opening the embedded DuckDB store and bringing its schema up to date.

The schema is versioned: `store/migrations/NNN_name.sql` files applied in order, each once,
recorded in `schema_version`. A file is applied inside one transaction, so a failed
migration leaves the previous version intact.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

import duckdb

from chainsleuth.errors import InputError, StoreError

DEFAULT_DB = "chainsleuth.duckdb"
_SIZE = re.compile(r"\d+(\.\d+)?\s*[KMGT]i?B", re.IGNORECASE)


def limit_memory(con: duckdb.DuckDBPyConnection, limit: str) -> None:
    """Cap the store engine's memory at `limit` (`--memory-limit`, a size such as 2GB).

    Beyond it DuckDB spills to a temporary directory beside the store, so work larger than
    memory (a big export, a long chain's clustering) finishes rather than being killed.
    """
    if not _SIZE.fullmatch(limit.strip()):
        raise InputError(f"--memory-limit {limit!r}: expected a size such as 2GB or 512MiB")
    con.execute(f"SET memory_limit = '{limit.strip()}'")


def default_path() -> Path:
    """The store path: `$CHAINSLEUTH_DB`, else `./chainsleuth.duckdb`."""
    return Path(os.environ.get("CHAINSLEUTH_DB", DEFAULT_DB))


def migrations() -> list[tuple[int, str, str]]:
    """The packaged migrations as (version, name, sql), in order."""
    found = []
    for entry in resources.files("chainsleuth.store.migrations").iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:3].isdigit():
            found.append((int(name[:3]), name[4:-4], entry.read_text(encoding="utf-8")))
    found.sort()
    versions = [v for v, _, _ in found]
    if len(set(versions)) != len(versions):
        raise StoreError(f"duplicate migration numbers in package: {versions}")
    return found


def migrate(con: duckdb.DuckDBPyConnection) -> int:
    """Apply every packaged migration the store lacks, in order; return the newest version."""
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_version ("
        " version INTEGER PRIMARY KEY, name VARCHAR NOT NULL,"
        " applied_at TIMESTAMP NOT NULL DEFAULT current_timestamp)"
    )
    applied = {int(r[0]) for r in con.execute("SELECT version FROM schema_version").fetchall()}
    known = migrations()
    newest = known[-1][0] if known else 0
    current = max(applied, default=0)
    if current > newest:
        raise StoreError(
            f"store schema version {current} is newer than this chainsleuth ({newest}); upgrade"
        )
    for version, name, sql in known:
        if version in applied:
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(sql)
            con.execute("INSERT INTO schema_version (version, name) VALUES (?, ?)", [version, name])
            con.execute("COMMIT")
        except duckdb.Error as exc:
            con.execute("ROLLBACK")
            raise StoreError(f"migration {version:03d}_{name} failed: {exc}") from exc
        current = max(current, version)
    return current


def connect(
    path: str | Path | None = None, *, read_only: bool = False
) -> duckdb.DuckDBPyConnection:
    """Open (creating if needed) the store at `path` and migrate it."""
    target = str(path if path is not None else default_path())
    try:
        con = duckdb.connect(target, read_only=read_only)
    except duckdb.Error as exc:
        raise StoreError(f"cannot open store {target}: {exc}") from exc
    # DuckDB's own progress bar writes to stdout, inside the JSON or CSV a command prints;
    # chainsleuth shows its own bars on stderr instead.
    con.execute("SET enable_progress_bar = false")
    if not read_only:
        # Checkpoint (rewrite compressed row groups) every 1 GB of log rather than DuckDB's
        # 16 MB: ingestion commits many batches, and checkpointing after each cost more
        # than the writes themselves. Commits stay durable through the write-ahead log;
        # closing the store checkpoints it.
        con.execute("SET checkpoint_threshold = '1GB'")
        migrate(con)
    else:
        _check_current(con, target)
    return con


def _check_current(con: duckdb.DuckDBPyConnection, target: str) -> None:
    """A store opened read-only cannot be migrated: refuse one this version cannot read."""
    newest = migrations()[-1][0]
    try:
        found = con.execute("SELECT max(version) FROM schema_version").fetchall()
    except duckdb.Error as exc:
        raise StoreError(f"{target} is not a chainsleuth store (no schema_version)") from exc
    current = int(found[0][0] or 0)
    if current < newest:
        con.close()
        raise StoreError(
            f"store {target} has schema version {current}, this chainsleuth needs {newest}:"
            " open it writable once (any command without read-only access) to upgrade it"
        )


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """One all-or-nothing transaction: committed on success, rolled back on any error."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")
