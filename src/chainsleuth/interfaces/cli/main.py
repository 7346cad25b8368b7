"""The `chainsleuth` command: global options, command registration, error handling."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path

import typer

from chainsleuth.errors import ChainsleuthError
from chainsleuth.interfaces import cli as cli_package
from chainsleuth.interfaces.cli.context import Settings
from chainsleuth.interfaces.output import Format, stderr
from chainsleuth.store.db import default_path

app = typer.Typer(
    name="chainsleuth",
    help="Open crypto-theft intelligence: ingest, cluster, attribute, trace, screen, guard.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def root(
    ctx: typer.Context,
    db: Path = typer.Option(
        None, "--db", envvar="CHAINSLEUTH_DB", help="Store file (default ./chainsleuth.duckdb)."
    ),
    fmt: Format = typer.Option(Format.table, "--format", "-f", help="Output format."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
) -> None:
    """Global options come before the command."""
    ctx.obj = Settings(db=db or default_path(), fmt=fmt, quiet=quiet)


# Every module of this package that defines `register(app)` adds its commands to `app`.
for info in sorted(pkgutil.iter_modules(cli_package.__path__), key=lambda m: m.name):
    module = importlib.import_module(f"{cli_package.__name__}.{info.name}")
    if hasattr(module, "register"):
        module.register(app)


def run() -> None:
    """Entry point: domain errors become one line on stderr and a non-zero exit code."""
    try:
        code = app(standalone_mode=False)
        if isinstance(code, int) and code:  # a command's typer.Exit(code)
            sys.exit(code)
    except ChainsleuthError as exc:
        stderr.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
    except typer.Abort:
        stderr.print("aborted")
        sys.exit(130)
    except SystemExit:
        raise
    except typer.TyperException as exc:  # usage errors, with standalone_mode=False
        show = getattr(exc, "show", None)
        if show is not None:
            show()  # the usage line and the error, as click prints them
        else:
            stderr.print(f"[red]error:[/red] {exc.format_message()}", highlight=False)
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    run()
