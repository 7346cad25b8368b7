"""Global CLI options (`--db`, `--format`, `--quiet`) and the helpers every command uses."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import typer

from chainsleuth.interfaces.output import Format, emit
from chainsleuth.store.db import connect


@dataclass
class Settings:
    """What the global options said."""

    db: Path
    fmt: Format
    quiet: bool


def settings(ctx: typer.Context) -> Settings:
    """The global settings stored by the root callback."""
    obj = ctx.find_root().obj
    assert isinstance(obj, Settings)
    return obj


def store(ctx: typer.Context, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open the store named by `--db`."""
    return connect(settings(ctx).db, read_only=read_only)


def output(
    ctx: typer.Context,
    data: Any,
    fmt: Format | None = None,
    *,
    title: str | None = None,
    total: int | None = None,
) -> None:
    """Print `data` in the command's `--format`, else the global one (`total`: how many
    rows there are when `data` holds only the first ones, for a table)."""
    emit(data, fmt or settings(ctx).fmt, title=title, total=total)


FORMAT_OPTION: Any = typer.Option(
    None, "--format", "-f", help="Output format (overrides the global --format)."
)


def memory_option(default: str) -> Any:
    """`--memory-limit` (env `CHAINSLEUTH_MEMORY_LIMIT`): the store engine's memory cap."""
    return typer.Option(
        default,
        "--memory-limit",
        envvar="CHAINSLEUTH_MEMORY_LIMIT",
        help="Memory the store's engine may use (a DuckDB size such as 2GB); beyond it, work"
        " spills to a temporary directory beside the store.",
    )
