"""Valuing a seed of several assets, so an endpoint's share of it means something.

A theft on an account chain often moves several assets in one transaction (Bybit: ETH,
stETH and USDT). Their base units cannot be added (wei of ETH, 10^-6 of a USDT), so when a
seed holds more than one asset each asset is priced at the USD close of the seed's day
(`prices_daily`, through the token's symbol and decimals in `tokens`) and an endpoint's
share is its value over the seed's value, also for what crossed a bridge to Bitcoin.
Without a price for every asset of the seed no share is given rather than a wrong one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import duckdb

from chainsleuth.analytics.tracing.bridge import DECIMALS, NATIVE
from chainsleuth.analytics.tracing.result import TraceResult
from chainsleuth.store.prices import close_on

NATIVE_DECIMALS = {NATIVE[chain]: DECIMALS[chain] for chain in NATIVE}
"""Native assets by symbol (Bitcoin's appears past a bridge); tokens are contracts."""


def price_seed(
    con: duckdb.DuckDBPyConnection, result: TraceResult, day: dt.date, assets: Iterable[str]
) -> None:
    """Fill `result.usd_per_unit` for the seed's assets and `assets` (those the trace
    reached) when the seed holds several assets and every one of them has a price."""
    if len(result.seed_assets) < 2:
        return
    usd: dict[str, float] = {}
    for asset in set(result.seed_assets) | set(assets):
        unit = _usd_per_unit(con, result.chain, asset, day)
        if unit is not None:
            usd[asset] = unit
    if all(a in usd for a in result.seed_assets):
        result.usd_per_unit = usd


def _usd_per_unit(
    con: duckdb.DuckDBPyConnection, chain: str, asset: str, day: dt.date
) -> float | None:
    """USD per base unit of `asset` (a native symbol or a token contract) on `day`."""
    if asset in NATIVE_DECIMALS:
        symbol, decimals = asset, NATIVE_DECIMALS[asset]
    else:
        found = con.execute(
            "SELECT symbol, decimals FROM tokens WHERE chain = ? AND contract = ?", [chain, asset]
        ).fetchall()
        if not found or found[0][0] is None or found[0][1] is None:
            return None
        symbol, decimals = str(found[0][0]), int(found[0][1])
    close = close_on(con, symbol, day)
    return None if close is None else float(close) / 10**decimals
