"""Crossing a bridge: match a deposit on one chain with its release on the other.

A bridge deposit (tainted value reaching an address tagged `defi_bridge`) is matched with
a release paid on the other chain by an address of the bridge there (also tagged
`defi_bridge`): the release must come after the deposit, within `window`, for the
deposit's value converted at the day's price ratio within `tolerance`. Each release
matches one deposit at most; the best candidate is the closest in amount, then in time.
The confidence says how good the match is: 1 for an exact amount at once, falling
linearly to 0 at the edges of the tolerance and of the window. Matched pairs are listed in
the trace with their confidence, and the trace continues from the release.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import duckdb

from chainsleuth.store.prices import close_on

#: Base units per whole coin of each chain's native asset.
DECIMALS = {"bitcoin": 8, "ethereum": 18}
NATIVE = {"bitcoin": "BTC", "ethereum": "ETH"}


@dataclass(frozen=True)
class Deposit:
    """Tainted value that reached a bridge."""

    chain: str
    tx_hash: str
    amount: float  # the deposit's value, base units of the native asset
    tainted: float
    time: dt.datetime


@dataclass(frozen=True)
class BridgeMatch:
    """A deposit paired with its release on the other chain."""

    deposit: Deposit
    release_chain: str
    release_tx: str
    release_n: int
    release_address: str
    release_amount: int
    expected: float
    seconds: float
    confidence: float


def rate(con: duckdb.DuckDBPyConnection, src: str, dst: str, day: dt.date) -> float | None:
    """Base units of `dst`'s native asset per base unit of `src`'s, at `day`'s closes."""
    a, b = close_on(con, NATIVE[src], day), close_on(con, NATIVE[dst], day)
    if a is None or b is None or b == 0:
        return None
    return float(a / b) * float(10.0 ** (DECIMALS[dst] - DECIMALS[src]))


def match_releases(
    con: duckdb.DuckDBPyConnection,
    deposits: list[Deposit],
    to_chain: str,
    *,
    window: dt.timedelta = dt.timedelta(hours=6),
    tolerance: float = 0.05,
    rates: dict[tuple[str, str], float] | None = None,
) -> list[BridgeMatch]:
    """The best release for each deposit on `to_chain` (UTXO chains), if any."""
    if to_chain != "bitcoin" or not deposits:
        return []
    candidates = con.execute(
        """
        WITH bridge AS (
            SELECT a.address_id FROM tags t
            JOIN addresses a ON a.chain = t.chain AND a.address = t.address
            WHERE t.chain = $chain AND t.category = 'defi_bridge'
        ),
        paying AS (
            SELECT DISTINCT i.tx_hash FROM inputs i JOIN bridge USING (address_id)
            WHERE i.chain = $chain
        )
        SELECT o.tx_hash, o.n, a.address, o.value, t.time
        FROM outputs o JOIN paying USING (tx_hash)
        JOIN txs t ON t.chain = o.chain AND t.tx_hash = o.tx_hash
        JOIN addresses a ON a.address_id = o.address_id
        WHERE o.chain = $chain AND o.address_id NOT IN (SELECT address_id FROM bridge)
        ORDER BY t.time
        """,
        {"chain": to_chain},
    ).fetchall()
    used: set[tuple[str, int]] = set()
    matches = []
    for d in sorted(deposits, key=lambda d: d.time):
        r = (rates or {}).get((d.chain, to_chain)) or rate(con, d.chain, to_chain, d.time.date())
        if r is None:
            continue
        expected = d.amount * r
        best: tuple[float, float, tuple[str, int, str, int, dt.datetime]] | None = None
        for tx, n, address, value, time in candidates:
            gap = (time - d.time).total_seconds()
            if (tx, n) in used or gap < 0 or gap > window.total_seconds():
                continue
            diff = abs(value - expected) / expected if expected else 1.0
            if diff > tolerance:
                continue
            key = (diff, gap)
            if best is None or key < best[:2]:
                best = (diff, gap, (tx, n, address, value, time))
        if best is None:
            continue
        diff, gap, (tx, n, address, value, _) = best
        used.add((tx, n))
        confidence = (1 - diff / tolerance) * (1 - gap / window.total_seconds())
        matches.append(
            BridgeMatch(
                d,
                to_chain,
                tx,
                int(n),
                address,
                int(value),
                expected,
                gap,
                round(max(0.0, confidence), 3),
            )
        )
    return matches
