"""What a landscape report holds: its numbers, tables, charts and sources."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Chart:
    """A chart the report promises: id, title, and the figure's PNG bytes."""

    id: str
    title: str
    png: bytes


@dataclass(frozen=True)
class TableSpec:
    """A table the report promises: id, title, rows (uniform mappings)."""

    id: str
    title: str
    rows: list[dict[str, Any]]


@dataclass
class Landscape:
    """Everything the report shows."""

    generated: dt.datetime
    incidents: int
    stolen_usd: int
    japan_usd: int
    first_year: int
    last_year: int
    tables: list[TableSpec] = field(default_factory=list)
    sources: list[tuple[str, str]] = field(default_factory=list)
    """(what, source) pairs: every incident's and every published figure's sources."""
