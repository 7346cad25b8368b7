"""Matching the two sides of a bridge crossing: a deposit on one chain, its release on the other.

A bridge is an address tagged `defi_bridge` on each chain (`bridge_addresses`). A deposit
pays value to one of them from outside the bridge; a release pays value out of the bridge
to someone else (`bridge_legs` reads both kinds of leg from the store, Bitcoin outputs and
Ethereum ETH transfers alike). One rule pairs them, in either direction and from either
chain (`match`): the release comes after the deposit, within `window`, for the deposit's
value converted at the day's price ratio, within `tolerance`. Forward, a trace knows
deposits and looks for their releases; backward, it knows releases and looks for their
deposits. Each leg found is paired once at most; the best candidate is the closest in
amount, then in time. The confidence says how good the pair is: 1 for an exact amount at
once, falling linearly to 0 at the edges of the tolerance and of the window.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa

from chainsleuth.analytics.tracing.endpoints import custodial_stops
from chainsleuth.analytics.tracing.result import Endpoint, Leg
from chainsleuth.store.prices import close_on

#: Base units per whole coin of each chain's native asset.
DECIMALS = {"bitcoin": 8, "ethereum": 18}
NATIVE = {"bitcoin": "BTC", "ethereum": "ETH"}
WINDOW = dt.timedelta(hours=6)
TOLERANCE = 0.05
RULE = "bridge tag + amount at the day's price ratio + time window"

# Legs of a bridge on each chain: $from_bridge selects releases (paid out of the bridge to
# someone else), else deposits (paid into the bridge from outside). `_bridge` holds the
# bridge's address ids; $lo and $hi bound the time. Amounts stay exact integers (an ETH
# amount past 2^127 cannot be a bridge transfer).
_LEGS = {
    "bitcoin": """
        WITH paying AS (
            SELECT DISTINCT i.tx_hash FROM inputs i JOIN _bridge USING (address_id)
            WHERE i.chain = $chain
        )
        SELECT o.tx_hash, o.n, o.address_id, o.value, t.time
        FROM outputs o JOIN txs t ON t.chain = o.chain AND t.tx_hash = o.tx_hash
        WHERE o.chain = $chain AND t.time BETWEEN $lo AND $hi
          AND (o.tx_hash IN (SELECT tx_hash FROM paying)) = $from_bridge
          AND (o.address_id IN (SELECT address_id FROM _bridge)) = NOT $from_bridge
        ORDER BY t.time, o.tx_hash, o.n""",
    "ethereum": """
        SELECT f.tx_hash, -1, f.to_id, f.amount, f.time
        FROM transfers f
        WHERE f.chain = $chain AND f.success AND f.asset = 'ETH' AND f.amount IS NOT NULL
          AND f.to_id IS NOT NULL
          AND f.time BETWEEN $lo AND $hi
          AND coalesce(f.from_id IN (SELECT address_id FROM _bridge), false) = $from_bridge
          AND (f.to_id IN (SELECT address_id FROM _bridge)) = NOT $from_bridge
        ORDER BY f.time, f.tx_hash, f.position""",
}


@dataclass(frozen=True)
class Match:
    """A leg a trace reached (`known`) paired with the other side of the crossing."""

    known: Leg
    found: Leg
    expected: float  # `found`'s amount the rule expects, base units of its chain
    seconds: float  # time between the deposit and the release
    confidence: float


def bridge_addresses(con: duckdb.DuckDBPyConnection, chain: str) -> dict[int, Endpoint]:
    """address_id -> the bridge's endpoint for every address of a `defi_bridge` entity of
    `chain` (nothing to look up when no such tag exists, the usual case of one chain)."""
    tagged = con.execute(
        "SELECT count(*) FROM tags WHERE chain = ? AND category = 'defi_bridge'", [chain]
    ).fetchall()
    return custodial_stops(con, chain, ("defi_bridge",)) if tagged[0][0] else {}


def rate(con: duckdb.DuckDBPyConnection, src: str, dst: str, day: dt.date) -> float | None:
    """Base units of `dst`'s native asset per base unit of `src`'s, at `day`'s closes."""
    a, b = close_on(con, NATIVE[src], day), close_on(con, NATIVE[dst], day)
    if a is None or b is None or b == 0:
        return None
    return float(a / b) * float(10.0 ** (DECIMALS[dst] - DECIMALS[src]))


def bridge_legs(
    con: duckdb.DuckDBPyConnection,
    chain: str,
    bridge: Mapping[int, Endpoint],
    releases: bool,
    lo: dt.datetime,
    hi: dt.datetime,
) -> list[Leg]:
    """The releases (else the deposits) of the bridge `bridge` on `chain` between `lo` and
    `hi`, in time order."""
    if not bridge:
        return []
    con.register("_bridge", pa.table({"address_id": np.array(sorted(bridge), np.int64)}))
    try:
        rows = con.execute(
            _LEGS[chain], {"chain": chain, "from_bridge": releases, "lo": lo, "hi": hi}
        ).fetchall()
    finally:
        con.unregister("_bridge")
    return [Leg(chain, str(tx), int(n), int(a), int(v), t) for tx, n, a, v, t in rows]


def match(
    con: duckdb.DuckDBPyConnection,
    known: list[Leg],
    to_chain: str,
    bridge: Mapping[int, Endpoint],
    *,
    backward: bool = False,
    window: dt.timedelta = WINDOW,
    tolerance: float = TOLERANCE,
) -> list[Match]:
    """The other side on `to_chain` (whose bridge addresses are `bridge`) of each leg of
    `known`: forward, `known` are deposits and their releases are sought after them;
    backward, `known` are releases and their deposits are sought before them."""
    if not known:
        return []
    lo = min(k.time for k in known) - (window if backward else dt.timedelta(0))
    hi = max(k.time for k in known) + (dt.timedelta(0) if backward else window)
    candidates = bridge_legs(con, to_chain, bridge, not backward, lo, hi)
    used: set[Leg] = set()
    matches = []
    for k in sorted(known, key=lambda k: (k.time, k.tx_hash, k.n)):
        r = rate(con, k.chain, to_chain, k.time.date())
        if r is None:
            continue
        expected = k.amount * r
        best: tuple[float, float, Leg] | None = None
        for c in candidates:
            gap = (k.time - c.time if backward else c.time - k.time).total_seconds()
            if c in used or gap < 0 or gap > window.total_seconds():
                continue
            diff = abs(c.amount - expected) / expected if expected else 1.0
            if diff <= tolerance and (best is None or (diff, gap) < best[:2]):
                best = (diff, gap, c)
        if best is None:
            continue
        diff, gap, found = best
        used.add(found)
        confidence = (1 - diff / tolerance) * (1 - gap / window.total_seconds())
        matches.append(Match(k, found, expected, gap, round(max(0.0, confidence), 3)))
    return matches
