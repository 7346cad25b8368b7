"""Daily USD prices: import from CSV, and the value of an amount on a given day.

Accepted CSV shapes (recognised from the header):

- `daily`: `date, asset, close` — one row per asset and UTC day, the day's closing price.
- `coingecko`: `snapped_at, price, …` (CoinGecko's export) — one asset per file, named by
  `--asset` or by the file name (`btc-usd-max.csv` → BTC). A snapshot taken at 00:00 UTC
  on day D is the price at the end of day D−1, so it is stored as the close of D−1.
- `ohlc`: `timestamp` or `date`, …, `close` (daily candles) — one asset per file, as above.

Prices are parsed as exact decimals and stored with 12 decimal places (rounded half-even);
nothing passes through a float. USD stablecoins (`STABLECOINS`) are worth 1.00 on days
without an imported price.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from pathlib import Path

import duckdb
import pyarrow as pa

from chainsleuth.errors import InputError, NotFoundError, ParseError

STABLECOINS = frozenset({"USDC", "USDT", "DAI", "BUSD"})
PEGGED = {"WETH": "ETH", "STETH": "ETH"}
"""Tokens that track another asset (wrapped ETH 1:1, staked ETH within about 1%): without a
price of their own they take that asset's close."""
PLACES = Decimal("0.000000000001")


@dataclass(frozen=True)
class PriceRow:
    """One daily close."""

    asset: str
    date: dt.date
    close: Decimal


def _shape(path: Path, header: list[str]) -> str:
    names = set(header)
    if {"date", "asset", "close"} <= names:
        return "daily"
    if {"snapped_at", "price"} <= names:
        return "coingecko"
    if "close" in names and names & {"date", "timestamp"}:
        return "ohlc"
    raise InputError(
        f"{path}: unrecognised price CSV header {header}: expected (date, asset, close), "
        "CoinGecko's (snapped_at, price, …) or daily candles (timestamp|date, …, close)"
    )


def asset_from_name(path: Path) -> str | None:
    """`btc-usd-max.csv` → BTC, `BTCUSD_1d_candles.csv` → BTC; None when unclear."""
    match = re.match(r"^([A-Za-z]{2,10}?)[-_]?usd", path.name, re.IGNORECASE)
    return match.group(1).upper() if match else None


def _decimal(text: str, where: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ParseError(f"{where}: {text!r} is not a number") from None
    if not value.is_finite() or value < 0:
        raise ParseError(f"{where}: {text!r} is not a non-negative price")
    return value.quantize(PLACES, rounding=ROUND_HALF_EVEN)


def _day(text: str, where: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text.strip()[:10])
    except ValueError:
        raise ParseError(f"{where}: {text!r} is not a date (YYYY-MM-DD…)") from None


def read_prices(path: Path, asset: str | None = None) -> tuple[str, list[PriceRow]]:
    """The shape and daily closes of a price CSV (see module doc); errors name file, row and
    column."""
    try:
        handle = path.open(encoding="utf-8", newline="")
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc}") from None
    with handle:
        reader = csv.DictReader(handle)
        shape = _shape(path, list(reader.fieldnames or []))
        single = (asset or asset_from_name(path) or "").upper()
        if shape != "daily" and not single:
            raise InputError(f"{path}: one-asset {shape} file; name the asset with --asset")
        rows = []
        for number, record in enumerate(reader, start=2):
            where = f"{path}: row {number}"
            if shape == "daily":
                name = (record["asset"] or "").strip().upper()
                if not name:
                    raise ParseError(f"{where}: column asset: empty")
                day = _day(record["date"] or "", f"{where}: column date")
                close = _decimal(record["close"] or "", f"{where}: column close")
            elif shape == "coingecko":
                name = single
                snapped = _day(record["snapped_at"] or "", f"{where}: column snapped_at")
                day = snapped - dt.timedelta(days=1)
                close = _decimal(record["price"] or "", f"{where}: column price")
            else:
                name = single
                column = "timestamp" if "timestamp" in record else "date"
                day = _day(record[column] or "", f"{where}: column {column}")
                close = _decimal(record["close"] or "", f"{where}: column close")
            rows.append(PriceRow(name, day, close))
    if not rows:
        raise InputError(f"{path}: no price rows")
    return shape, rows


def import_prices(con: duckdb.DuckDBPyConnection, path: Path, asset: str | None = None) -> int:
    """Store the closes of `path` (replacing the same asset and day); return the row count."""
    shape, rows = read_prices(path, asset)
    staged_prices = pa.table(  # noqa: F841 (read by name in the SQL below)
        {
            "asset": pa.array([r.asset for r in rows], pa.string()),
            "date": pa.array([r.date for r in rows], pa.date32()),
            "close_usd": pa.array([r.close for r in rows], pa.decimal128(38, 12)),
        }
    )
    # DuckDB reads the local Arrow table `staged_prices` by name (replacement scan).
    con.execute(
        "INSERT OR REPLACE INTO prices_daily (asset, date, close_usd, source)"
        " SELECT asset, date, close_usd, ? FROM staged_prices",
        [f"{path.name} ({shape})"],
    )
    return len(rows)


def close_on(con: duckdb.DuckDBPyConnection, asset: str, day: dt.date) -> Decimal | None:
    """The USD close of `asset` on `day`; without one, 1.00 for a stablecoin and the close
    of the asset a `PEGGED` token tracks; else None."""
    found = con.execute(
        "SELECT close_usd FROM prices_daily WHERE asset = ? AND date = ?", [asset.upper(), day]
    ).fetchall()
    if found:
        return Decimal(found[0][0])
    if asset.upper() in PEGGED:
        return close_on(con, PEGGED[asset.upper()], day)
    return Decimal(1) if asset.upper() in STABLECOINS else None


def value_usd(
    con: duckdb.DuckDBPyConnection, asset: str, base_units: int, decimals: int, day: dt.date
) -> Decimal | None:
    """USD value of `base_units` of `asset` at the close of `day`, or None without a price."""
    close = close_on(con, asset, day)
    if close is None:
        return None
    return Decimal(base_units).scaleb(-decimals) * close


def require_value(
    con: duckdb.DuckDBPyConnection, asset: str, amount: Decimal, day: dt.date
) -> Decimal:
    """USD value of `amount` whole units of `asset` at the close of `day`, to the cent."""
    close = close_on(con, asset, day)
    if close is None:
        raise NotFoundError(f"no {asset.upper()} price for {day.isoformat()}; import prices first")
    return (amount * close).quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)
