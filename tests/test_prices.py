"""Daily USD prices: the three CSV shapes, exact values, bad input, incident re-valuation."""

from __future__ import annotations

import csv
import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from chainsleuth.errors import InputError, NotFoundError, ParseError
from chainsleuth.interfaces.cli.main import app
from chainsleuth.services.incidents.loader import load_packaged
from chainsleuth.services.incidents.repository import import_incidents, show_incident
from chainsleuth.store.prices import close_on, import_prices, require_value


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_daily_csv_and_exact_value(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    path = write(
        tmp_path / "closes.csv",
        "date,asset,close\n2024-05-31,btc,67472.41\n2024-05-31,ETH,3762.5\n2024-06-01,BTC,1\n",
    )
    assert import_prices(con, path) == 3
    assert close_on(con, "BTC", dt.date(2024, 5, 31)) == Decimal("67472.41")
    value = require_value(con, "btc", Decimal("4502.9"), dt.date(2024, 5, 31))
    assert value == Decimal("303821514.99")  # 4502.9 × 67472.41 = 303,821,514.989
    assert import_prices(con, path) == 3  # re-import replaces, no duplicates
    row = con.execute("SELECT count(*) FROM prices_daily").fetchone()
    assert row == (3,)


def test_coingecko_snapshot_is_the_previous_days_close(
    con: duckdb.DuckDBPyConnection, shared_data: Path
) -> None:
    path = shared_data / "prices" / "btc-usd-max.csv"
    with path.open(encoding="utf-8") as handle:
        snaps = {row["snapped_at"][:10]: row["price"] for row in csv.DictReader(handle)}
    assert import_prices(con, path) == len(snaps)
    expected = Decimal(snaps["2024-06-01"]).quantize(Decimal("1e-12"))
    assert close_on(con, "BTC", dt.date(2024, 5, 31)) == expected


def test_daily_candles_with_asset_from_file_name(
    con: duckdb.DuckDBPyConnection, shared_data: Path
) -> None:
    import_prices(con, shared_data / "prices" / "BTCUSD_1d_candles_full.csv")
    assert close_on(con, "BTC", dt.date(2024, 5, 31)) == Decimal("67472.41")


@pytest.mark.parametrize(
    ("text", "error", "message"),
    [
        ("day,asset,close\n2024-01-01,BTC,1\n", InputError, "unrecognised price CSV header"),
        ("date,asset,close\n2024-01-01,BTC,abc\n", ParseError, "row 2: column close"),
        ("date,asset,close\n2024-13-01,BTC,1\n", ParseError, "row 2: column date"),
        ("date,asset,close\n2024-01-01,,1\n", ParseError, "row 2: column asset"),
        ("date,asset,close\n2024-01-01,BTC,-5\n", ParseError, "non-negative"),
        ("snapped_at,price\n2024-01-01 00:00:00 UTC,1\n", InputError, "--asset"),
        ("date,asset,close\n", InputError, "no price rows"),
    ],
)
def test_bad_price_files(
    con: duckdb.DuckDBPyConnection,
    tmp_path: Path,
    text: str,
    error: type[Exception],
    message: str,
) -> None:
    path = write(tmp_path / "prices.csv", text)
    with pytest.raises(error, match=message) as caught:
        import_prices(con, path)
    assert str(path) in str(caught.value)


def test_missing_price_and_stablecoins(con: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(NotFoundError, match="no ETH price for 2022-03-23"):
        require_value(con, "ETH", Decimal(1), dt.date(2022, 3, 23))
    assert require_value(con, "USDC", Decimal("25500000"), dt.date(2022, 3, 23)) == Decimal(
        "25500000.00"
    )


def test_incident_revalued_at_the_daily_close(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    import_incidents(con, load_packaged(), "package")
    import_prices(con, write(tmp_path / "eth.csv", "date,asset,close\n2022-03-23,ETH,3028.84\n"))
    ronin = show_incident(con, "ronin-2022")
    # 173,600 ETH at $3,028.84 plus 25.5M USDC at $1
    assert ronin["usd_at_daily_close"] == 173_600 * 302_884 // 100 + 25_500_000
    assert show_incident(con, "bybit-2025")["usd_at_daily_close"] is None  # no stETH price


def test_prices_cli(db_path: Path, tmp_path: Path) -> None:
    path = write(tmp_path / "eth-usd.csv", "snapped_at,price\n2025-02-22 00:00:00 UTC,2741.5\n")
    runner = CliRunner()
    result = runner.invoke(app, ["--db", str(db_path), "-q", "prices", "import", str(path)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        app, ["--db", str(db_path), "prices", "value", "ETH", "401346", "2025-02-21", "-f", "json"]
    )
    assert json.loads(result.output)["usd"] == "1100290059.00"  # 401,346 × 2,741.5


def test_pegged_tokens_and_stablecoins_without_a_price(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    day = dt.date(2024, 5, 31)
    import_prices(con, write(tmp_path / "c.csv", "date,asset,close\n2024-05-31,ETH,3762.5\n"))
    assert close_on(con, "stETH", day) == close_on(con, "WETH", day) == Decimal("3762.5")
    assert close_on(con, "USDT", day) == Decimal(1)
    assert close_on(con, "stETH", dt.date(2024, 6, 1)) is None  # no ETH close that day
    import_prices(con, write(tmp_path / "d.csv", "date,asset,close\n2024-05-31,STETH,3700\n"))
    assert close_on(con, "stETH", day) == Decimal("3700")  # its own price first
