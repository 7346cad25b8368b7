"""`chainsleuth prices …`: daily USD prices, imported from CSV, used to value amounts."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from pathlib import Path

import typer

from chainsleuth.errors import InputError
from chainsleuth.interfaces.cli.context import FORMAT_OPTION, output, settings, store
from chainsleuth.interfaces.output import Format, stderr
from chainsleuth.store.prices import import_prices, require_value

prices_app = typer.Typer(help="Daily USD prices: import, value.", no_args_is_help=True)


@prices_app.command("import")
def import_command(
    ctx: typer.Context,
    file: Path = typer.Argument(..., metavar="FILE"),
    asset: str = typer.Option(
        None, "--asset", help="Asset of a one-asset file (default: from the file name)."
    ),
) -> None:
    """Import daily closes: (date, asset, close) CSV, CoinGecko export or daily candles."""
    count = import_prices(store(ctx), file, asset)
    if not settings(ctx).quiet:
        stderr.print(f"imported {count} daily prices from {file}")


@prices_app.command("value")
def value_command(
    ctx: typer.Context,
    asset: str = typer.Argument(..., metavar="ASSET"),
    amount: str = typer.Argument(..., metavar="AMOUNT", help="Whole units, e.g. 4502.9."),
    day: str = typer.Argument(..., metavar="DATE", help="UTC day, YYYY-MM-DD."),
    fmt: Format = FORMAT_OPTION,
) -> None:
    """The USD value of AMOUNT of ASSET at the close of DATE."""
    try:
        quantity = Decimal(amount)
    except InvalidOperation:
        raise InputError(f"AMOUNT: {amount!r} is not a decimal number") from None
    try:
        when = dt.date.fromisoformat(day)
    except ValueError:
        raise InputError(f"DATE: {day!r} is not YYYY-MM-DD") from None
    usd = require_value(store(ctx), asset, quantity, when)
    output(
        ctx,
        {"asset": asset.upper(), "amount": amount, "date": when, "usd": str(usd)},
        fmt,
        title="value",
    )


def register(app: typer.Typer) -> None:
    """Add the `prices` group to the root command."""
    app.add_typer(prices_app, name="prices")
