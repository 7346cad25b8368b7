"""The store: migrations are ordered, idempotent and recorded."""

from __future__ import annotations

from pathlib import Path

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
