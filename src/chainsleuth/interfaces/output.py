"""One way to print results for every read command: a table, JSON or CSV.

JSON keeps amounts as exact integers in base units and keys in snake_case; timestamps are
ISO 8601 UTC strings. Progress bars and messages go to stderr so stdout stays machine-clean.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import io
import json
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from enum import Enum, StrEnum
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

stderr = Console(stderr=True)


class Format(StrEnum):
    """Output formats shared by every read command."""

    table = "table"
    json = "json"
    csv = "csv"


def to_jsonable(value: Any) -> Any:
    """Plain JSON types for stored values; big integers stay integers (never floats)."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else str(value)
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_jsonable(v) for v in value]
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Enum):
        return value.value
    return value


def dumps(data: Any) -> str:
    """JSON text of `data` with the conversions of `to_jsonable`."""
    return json.dumps(to_jsonable(data), indent=2, sort_keys=False)


def _cell(value: Any) -> str:
    value = to_jsonable(value)
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def _csv_text(rows: Sequence[Mapping[str, Any]]) -> str:
    buf = io.StringIO()
    if rows:
        writer = csv.DictWriter(buf, fieldnames=list(rows[0].keys()), lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _cell(v) for k, v in row.items()})
    return buf.getvalue()


PIPE_WIDTH = 200
"""Width of tables written to a pipe or file (no terminal to fit): wide enough that the
commands' tables keep their headers and 42-character addresses on one line."""
SUBTABLE_ROWS = 50
"""Rows of a record's sub-table printed in table form: an exchange's entity holds tens of
thousands of tagged addresses, and printing them all took minutes; JSON and CSV keep all."""
TABLE_ROWS = 1000
"""Rows of a list printed in table form (a table is for reading: `tags list` of a store
with 1.5M exchange tags ran for over ten minutes in 4 GB); JSON and CSV keep all."""


def wide_console(out: Any = None, min_width: int = 100) -> Console:
    """A console for tables on `out` (stdout by default): at least `min_width` columns on a
    terminal, `PIPE_WIDTH` when writing to a pipe or file."""
    console = Console(file=out if out is not None else sys.stdout, soft_wrap=False)
    console.width = max(min_width, console.width) if console.is_terminal else PIPE_WIDTH
    return console


def emit(
    data: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    fmt: Format | str,
    *,
    title: str | None = None,
    out: Any = None,
    total: int | None = None,
) -> None:
    """Print a record (mapping) or rows (sequence of mappings) in the requested format.

    In table and CSV form, a record's list-of-mapping values are printed as sub-tables
    (table; the first `SUBTABLE_ROWS`, saying how many there are) or flattened to JSON
    cells (CSV); JSON prints the structure as is. A table of rows shows the first
    `TABLE_ROWS` and says how many there are (`total`, when the rows given are only the
    first ones of a longer list).
    """
    fmt = Format(fmt)
    stream = out if out is not None else sys.stdout
    if fmt is Format.json:
        stream.write(dumps(data) + "\n")
        return
    if fmt is Format.csv:
        rows = [data] if isinstance(data, Mapping) else list(data)
        stream.write(_csv_text(rows))
        return
    console = wide_console(stream)
    if isinstance(data, Mapping):
        record = Table(title=title, show_header=False, box=None, pad_edge=False)
        record.add_column(style="bold")
        record.add_column()
        nested: list[tuple[str, Any]] = []
        for key, value in data.items():
            if isinstance(value, list) and value and isinstance(value[0], Mapping):
                nested.append((key, value))
            else:
                record.add_row(key, _cell(value))
        console.print(record)
        for key, rows in nested:
            _print_rows(console, rows, key, SUBTABLE_ROWS)
    else:
        _print_rows(console, data, title, TABLE_ROWS, total)


def _print_rows(
    console: Console,
    rows: Sequence[Mapping[str, Any]],
    title: str | None,
    limit: int,
    total: int | None = None,
) -> None:
    """The first `limit` rows as a table, then how many of `total` (default: all the
    rows given) were left out."""
    shown = rows[:limit]
    total = len(rows) if total is None else total
    console.print(rows_table(list(shown), title=title))
    if total > len(shown):
        name = f"{title}: " if title else ""
        console.print(f"{name}{len(shown)} of {total} rows shown; --format json or csv lists all")


def rows_table(rows: Sequence[Mapping[str, Any]], title: str | None = None) -> Table:
    """A rich table of uniform rows."""
    table = Table(title=title, title_justify="left")
    if not rows:
        table.add_column("(none)")
        return table
    for key in rows[0]:
        table.add_column(key, overflow="fold")
    for row in rows:
        table.add_row(*(_cell(v) for v in row.values()))
    return table


@contextmanager
def progress(quiet: bool) -> Iterator[Progress]:
    """A rich progress display on stderr, silent when `quiet`."""
    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=stderr,
        disable=quiet,
        transient=False,
    )
    with bar:
        yield bar


def percent(share: float | None) -> str:
    """A share (0..1) as tables print it, "" where none is known."""
    return "" if share is None else f"{100 * share:.2f}%"
