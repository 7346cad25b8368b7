"""Running a trace from user-given seeds: addresses, transactions or single outputs."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import duckdb

from chainsleuth.analytics.tracing.account import Taint, seed_taints, trace_account
from chainsleuth.analytics.tracing.account_backward import trace_account_backward
from chainsleuth.analytics.tracing.bridge import bridge_addresses
from chainsleuth.analytics.tracing.coins import Coins, CoinSeed, seed_coins
from chainsleuth.analytics.tracing.crossing import cross
from chainsleuth.analytics.tracing.endpoints import CustodialStops, coinjoin_txs
from chainsleuth.analytics.tracing.hop_fetch import HopFetch
from chainsleuth.analytics.tracing.result import TraceResult
from chainsleuth.analytics.tracing.utxo import TraceParams, trace_utxo
from chainsleuth.analytics.tracing.valuation import price_seed
from chainsleuth.errors import InputError, NotFoundError

_TXID = re.compile(r"^[0-9a-f]{64}$")


def _bitcoin_seed(
    con: duckdb.DuckDBPyConnection, chain: str, seed: str, network: str
) -> tuple[CoinSeed, dict[str, Any]]:
    """A seed as the coins it names and its description."""
    text = seed.strip()
    head, _, tail = text.partition(":")
    if _TXID.match(head.lower()) and tail:
        if not tail.isdigit():
            raise InputError(f"--seed {seed!r}: output index after ':' must be a number")
        item = {"kind": "output", "tx_hash": head.lower(), "n": int(tail)}
        return CoinSeed(head.lower(), int(tail)), item
    if _TXID.match(text.lower()):
        return CoinSeed(text.lower()), {"kind": "tx", "tx_hash": text.lower()}
    from chainsleuth.chains.bitcoin.address import validate
    from chainsleuth.store.addresses import address_id

    address = validate(text, network, where="--seed")
    aid = address_id(con, chain, address)
    if aid is None:
        raise NotFoundError(f"--seed {address}: address is not in the store")
    return CoinSeed(address_id=aid), {"kind": "address", "address": address}


def trace(
    con: duckdb.DuckDBPyConnection,
    chain: str,
    seeds: list[str],
    params: TraceParams,
    *,
    network: str = "mainnet",
    use_tags: bool = True,
    on_hop: Callable[[int, int], None] | None = None,
) -> TraceResult:
    """Trace from `seeds` on `chain`; custodial tagged entities are the endpoints, and
    the trace continues through bridges onto the other chain where the other side of the
    crossing is found (`crossing.py`)."""
    if not seeds:
        raise InputError("give at least one --seed")
    if chain not in ("bitcoin", "ethereum"):
        raise InputError(f"tracing on {chain!r} is not available; chains: bitcoin, ethereum")
    if use_tags and not params.stops:
        params.stops = CustodialStops(con, chain)
    if use_tags and not params.bridges:
        params.bridges = bridge_addresses(con, chain)
    if chain == "ethereum":
        result = _trace_ethereum(con, seeds, params, on_hop)
    else:
        result = _trace_bitcoin(con, chain, seeds, params, network, on_hop)
    cross(con, result, params)
    if result.seed_day is not None:  # a seed of several assets: shares by value that day
        price_seed(con, result, result.seed_day, {a.asset for a in result.arrivals})
    return result


def _trace_bitcoin(
    con: duckdb.DuckDBPyConnection,
    chain: str,
    seeds: list[str],
    params: TraceParams,
    network: str,
    on_hop: Callable[[int, int], None] | None,
) -> TraceResult:
    """Bitcoin seeds: outputs, transactions (their outputs) or addresses (their outputs)."""
    if not params.coinjoins:
        params.coinjoins = coinjoin_txs(con, chain)
    named = [_bitcoin_seed(con, chain, s, network) for s in seeds]
    fetch = HopFetch.current(con, chain)
    coins: Coins = seed_coins(fetch, [coin for coin, _ in named])
    items = [item for _, item in named]
    if len(coins) == 0:
        raise NotFoundError(f"no stored outputs match the seeds {', '.join(seeds)}")
    return trace_utxo(fetch, coins, items, params, on_hop=on_hop)


def _trace_ethereum(
    con: duckdb.DuckDBPyConnection,
    seeds: list[str],
    params: TraceParams,
    on_hop: Callable[[int, int], None] | None,
) -> TraceResult:
    """Ethereum seeds: a transaction hash (its flows) or an address (everything it received);
    backward, the senders of those flows are asked where the value came from."""
    from chainsleuth.chains.ethereum.address import normalize
    from chainsleuth.store.addresses import address_id

    backward = params.direction == "backward"
    taints: list[Taint] = []
    items: list[dict[str, Any]] = []
    for seed in seeds:
        text = seed.strip().lower()
        if _TXID.match(text.removeprefix("0x")) and len(text.removeprefix("0x")) == 64:
            tx = "0x" + text.removeprefix("0x")
            found = seed_taints(con, "ethereum", "f.tx_hash = ?", [tx], backward=backward)
            items.append({"kind": "tx", "tx_hash": tx})
        else:
            address = normalize(seed, where="--seed")
            aid = address_id(con, "ethereum", address)
            if aid is None:
                raise NotFoundError(f"--seed {address}: address is not in the store")
            found = seed_taints(con, "ethereum", "f.to_id = ?", [aid], backward=backward)
            items.append({"kind": "address", "address": address})
        if not found:
            raise NotFoundError(f"--seed {seed}: no successful value flows stored")
        taints.extend(found)
    if backward:
        result = trace_account_backward(con, "ethereum", taints, items, params, on_hop=on_hop)
    else:
        result = trace_account(con, "ethereum", taints, items, params, on_hop=on_hop)
    times = [t.time for t in taints if t.time is not None]
    result.seed_day = min(times).date() if times else None
    return result
