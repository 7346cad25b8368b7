"""Continuing a trace through a bridge onto the other chain.

The chain tracers only note where tainted value reached a bridge (`TraceResult.at_bridges`):
forward, a deposit into it; backward, a release out of it. `cross` pairs those legs with
their other side (`bridge.match`), lists each pair with its confidence, and traces on from
the other side on the other chain (forward from the releases, backward from the deposits),
each with the tainted share of its pair, adding that trace to the result; the taint of a
leg without a match stays at the bridge, reported as an endpoint. The continuation may
reach a bridge in turn and crosses it the same way while hops remain.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from typing import Any

import duckdb
import numpy as np

from chainsleuth.analytics.tracing.account import Taint, seed_taints, trace_account
from chainsleuth.analytics.tracing.account_backward import trace_account_backward
from chainsleuth.analytics.tracing.bridge import NATIVE, RULE, Match, bridge_addresses, match
from chainsleuth.analytics.tracing.coins import CoinSeed, seed_coins
from chainsleuth.analytics.tracing.edges import address_names
from chainsleuth.analytics.tracing.endpoints import CustodialStops, coinjoin_txs
from chainsleuth.analytics.tracing.hop_fetch import HopFetch
from chainsleuth.analytics.tracing.result import Arrival, Edge, Endpoint, Leg, TraceResult
from chainsleuth.analytics.tracing.taint import Intervals
from chainsleuth.analytics.tracing.utxo import TraceParams, trace_utxo

OTHER = {"bitcoin": "ethereum", "ethereum": "bitcoin"}


def cross(con: duckdb.DuckDBPyConnection, result: TraceResult, params: TraceParams) -> None:
    """Match the bridge legs `result` reached and continue the trace past them."""
    if not result.at_bridges:
        return
    if "bridge" not in result.flags:
        result.flags.append("bridge")
    backward = result.direction == "backward"
    # A leg can be reached by several taints (ETH, and what a swap turned tokens into):
    # one leg to match, its taints summed, at the earliest hop that reached it.
    tainted: dict[Leg, float] = defaultdict(float)
    reached: dict[Leg, tuple[int, Endpoint, str]] = {}
    for a in result.at_bridges:
        tainted[a.leg] += a.tainted
        hop = min(a.hop, reached[a.leg][0]) if a.leg in reached else a.hop
        reached[a.leg] = (hop, a.bridge, a.asset)
    result.at_bridges = []
    for chain in sorted({leg.chain for leg in tainted}):
        to_chain = OTHER[chain]
        known = [leg for leg in tainted if leg.chain == chain]
        bridge = bridge_addresses(con, to_chain)
        pairs = {m.known: m for m in match(con, known, to_chain, bridge, backward=backward)}
        here = address_names(con, chain, {leg.address_id for leg in known})
        there = address_names(con, to_chain, {m.found.address_id for m in pairs.values()})
        for leg in known:
            hop, endpoint, asset = reached[leg]
            if leg not in pairs:
                result.arrivals.append(
                    Arrival(
                        endpoint,
                        here[leg.address_id],
                        asset,
                        tainted[leg],
                        leg.time,
                        leg.tx_hash,
                        chain,
                    )
                )
                continue
            m = pairs[leg]
            share = tainted[leg] / leg.amount
            names = (here[leg.address_id], there[m.found.address_id])
            result.bridges.append(_listing(m, endpoint, share, names, backward))
            result.edges.append(
                Edge(
                    hop,
                    leg.tx_hash,
                    "(bridge release)" if backward else "(bridge deposit)",
                    there[m.found.address_id],
                    NATIVE[to_chain],
                    m.found.amount * share,
                    leg.time,
                    f"bridge: {endpoint.label}, {'deposit' if backward else 'release'}"
                    f" {_ref(m.found)} (confidence {m.confidence})",
                    ("bridge",),
                    to_chain,
                )
            )
        if not pairs:
            continue
        first_hop = min(reached[leg][0] for leg in pairs)
        sub_params = replace(
            params,
            max_hops=max(1, params.max_hops - first_hop),
            min_amount=0,  # the seed's units do not apply on the other chain
            stops=CustodialStops(con, to_chain),
            bridges=bridge,
            coinjoins=coinjoin_txs(con, to_chain) if to_chain == "bitcoin" else frozenset(),
        )
        shares = {m.found: tainted[m.known] / m.known.amount for m in pairs.values()}
        sub = _continue(con, to_chain, shares, sub_params)
        cross(con, sub, sub_params)
        result.absorb(sub, first_hop)


def _ref(leg: Leg) -> str:
    return f"{leg.tx_hash}:{leg.n}" if leg.n >= 0 else leg.tx_hash


def _listing(
    m: Match,
    bridge: Endpoint,
    share: float,
    names: tuple[str, str],
    backward: bool,
) -> dict[str, Any]:
    """One matched pair as the trace lists it: deposit, release, the rule and confidence;
    `share` is the tainted part of the known leg, `names` the known and found addresses."""
    deposit, release = (m.found, m.known) if backward else (m.known, m.found)
    deposit_name, release_name = names[::-1] if backward else names
    return {
        "bridge": bridge.label,
        "direction": "backward" if backward else "forward",
        "deposit_chain": deposit.chain,
        "deposit_tx": deposit.tx_hash,
        "deposit_n": deposit.n,
        "deposit_address": deposit_name,
        "deposit_amount": round(deposit.amount),
        "tainted": round(deposit.amount * share),
        "release_chain": release.chain,
        "release_tx": release.tx_hash,
        "release_n": release.n,
        "release_address": release_name,
        "release_amount": round(release.amount),
        "expected": round(m.expected),
        "seconds": m.seconds,
        "confidence": m.confidence,
        "rule": RULE,
    }


def _continue(
    con: duckdb.DuckDBPyConnection, chain: str, shares: dict[Leg, float], params: TraceParams
) -> TraceResult:
    """Trace on `chain` from the legs found there, each with its tainted share: forward
    from releases (the value their recipients got), backward from deposits (the value
    their depositors paid)."""
    backward = params.direction == "backward"
    if chain == "bitcoin":
        # One trace from all the legs: their coins often meet, and traced apart each trace
        # would count the others' value there again (poison).
        fetch = HopFetch.current(con, chain)
        coins = seed_coins(fetch, [CoinSeed(leg.tx_hash, leg.n) for leg in shares])
        by_coin = {(leg.tx_hash, leg.n): s for leg, s in shares.items()}
        keys = zip(coins.tx_hash, coins.n.tolist(), strict=True)
        scale = np.array([by_coin[(str(h), n)] for h, n in keys])
        coins.taint = coins.taint * scale
        coins.intervals = Intervals(
            coins.intervals.tile,
            coins.intervals.start,
            np.round(coins.intervals.end * scale[coins.intervals.tile]).astype(np.int64),
        )
        return trace_utxo(fetch, coins, [], params)
    taints: list[Taint] = []
    for leg, share in shares.items():
        found = seed_taints(
            con,
            chain,
            "f.tx_hash = ? AND f.to_id = ? AND f.asset = 'ETH'",
            [leg.tx_hash, leg.address_id],
            backward=backward,
        )
        for t in found:
            t.amount *= share
        taints.extend(found)
    if backward:
        return trace_account_backward(con, chain, taints, [], params)
    return trace_account(con, chain, taints, [], params)
