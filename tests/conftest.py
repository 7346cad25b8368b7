"""Shared fixtures: the real data folder, a fresh store, and the CLI runner."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from bench.common import SHARED_DATA

from chainsleuth.store.db import connect


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """`../shared/data`, or skip the test cleanly when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is absent")
    return SHARED_DATA


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """Path of a store file that does not exist yet."""
    return tmp_path / "store.duckdb"


@pytest.fixture
def con(db_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A freshly migrated store."""
    c = connect(db_path)
    yield c
    c.close()
