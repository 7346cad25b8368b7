"""The store: migrations are ordered, idempotent and recorded."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb

from chainsleuth.store.db import connect, migrations


def test_migrations_apply_once_and_are_recorded(db_path: Path) -> None:
    versions = [v for v, _, _ in migrations()]
    assert versions == sorted(versions) and versions[0] == 1
    con = connect(db_path)
    recorded = [
        r[0] for r in con.execute("SELECT version FROM schema_version ORDER BY 1").fetchall()
    ]
    assert recorded == versions
    con.close()
    con = connect(db_path)  # reopening applies nothing twice
    n = con.execute("SELECT count(*) FROM schema_version").fetchone()
    assert n is not None and n[0] == len(versions)
    tables = {
        r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()
    }
    assert {"blocks", "txs", "outputs", "inputs", "addresses", "ingest_state"} <= tables


def test_links_stored_before_011_name_their_evidence_by_position(db_path: Path) -> None:
    con = duckdb.connect(str(db_path))  # a store of schema version 10, with a link
    con.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, name VARCHAR)")
    for version, name, sql in migrations():
        if version <= 10:
            con.execute(sql)
            con.execute("INSERT INTO schema_version VALUES (?, ?)", [version, name])
    con.execute(
        "INSERT INTO txs (chain, block_height, tx_hash, position, time) VALUES"
        " ('bitcoin', 7, 'aa', 0, '2024-01-01'), ('bitcoin', 7, 'bb', 4, '2024-01-01')"
    )
    con.execute("INSERT INTO cluster_links VALUES ('bitcoin', 1, 2, 'multi-input', 'bb', 7)")
    con.close()
    con = connect(db_path)
    assert con.execute("SELECT * FROM cluster_links").fetchall() == [
        ("bitcoin", 1, 2, "multi-input", 7, 4)
    ]
    con.close()


def test_duckdbs_progress_bar_is_off(tmp_path: Path) -> None:
    """stdout carries a command's JSON/CSV: DuckDB prints its own progress bar there on any
    query over 2 s, so every store connection turns it off (ours go to stderr). Checked in
    a child whose stdout is a pipe, as when a command's output is piped (under pytest's
    capture DuckDB starts with it off)."""
    code = (
        "import sys\n"
        "from chainsleuth.store.db import connect\n"
        "con = connect(sys.argv[1], read_only=sys.argv[2] == 'ro')\n"
        "print(con.execute(\"SELECT current_setting('enable_progress_bar')\").fetchall())\n"
    )
    for mode in ("rw", "ro"):
        done = subprocess.run(
            [sys.executable, "-c", code, str(tmp_path / "s.duckdb"), mode],
            capture_output=True,
            check=True,
        )
        assert done.stdout == b"[(False,)]\n"


def test_a_store_behind_the_schema_is_not_read_read_only(db_path: Path) -> None:
    import pytest

    from chainsleuth.errors import StoreError

    connect(db_path).close()
    connect(db_path, read_only=True).close()  # current: fine
    newest = migrations()[-1][0]
    raw = duckdb.connect(str(db_path))
    raw.execute("DELETE FROM schema_version WHERE version = ?", [newest])
    raw.close()
    with pytest.raises(StoreError, match=f"needs {newest}: open it writable once"):
        connect(db_path, read_only=True)
    raw = duckdb.connect(str(db_path))
    raw.execute("INSERT INTO schema_version (version, name) VALUES (?, 'back')", [newest])
    raw.close()
    connect(db_path, read_only=True).close()
