"""Running a trace from user-given seeds: addresses, transactions or single outputs."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import duckdb

from chainsleuth.analytics.tracing.endpoints import custodial_stops
from chainsleuth.analytics.tracing.result import TraceResult
from chainsleuth.analytics.tracing.utxo import Coins, TraceParams, seed_coins, trace_utxo
from chainsleuth.errors import InputError, NotFoundError

_TXID = re.compile(r"^[0-9a-f]{64}$")


def _bitcoin_seed(
    con: duckdb.DuckDBPyConnection, chain: str, seed: str, network: str
) -> tuple[str, list[Any], dict[str, Any]]:
    """A seed as (SQL condition over outputs `o`, parameters, description)."""
    text = seed.strip()
    head, _, tail = text.partition(":")
    if _TXID.match(head.lower()) and tail:
        if not tail.isdigit():
            raise InputError(f"--seed {seed!r}: output index after ':' must be a number")
        return (
            "o.tx_hash = ? AND o.n = ?",
            [head.lower(), int(tail)],
            {"kind": "output", "tx_hash": head.lower(), "n": int(tail)},
        )
    if _TXID.match(text.lower()):
        return "o.tx_hash = ?", [text.lower()], {"kind": "tx", "tx_hash": text.lower()}
    from chainsleuth.chains.bitcoin.address import validate
    from chainsleuth.store.addresses import address_id

    address = validate(text, network, where="--seed")
    aid = address_id(con, chain, address)
    if aid is None:
        raise NotFoundError(f"--seed {address}: address is not in the store")
    return "o.address_id = ?", [aid], {"kind": "address", "address": address}


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
    """Trace from `seeds` on `chain`; custodial tagged entities are the endpoints."""
    if not seeds:
        raise InputError("give at least one --seed")
    if chain != "bitcoin":
        raise InputError(f"tracing on {chain!r} is not available; chains: bitcoin")
    if use_tags and not params.stops:
        params.stops = custodial_stops(con, chain)
    conditions, values, items = [], [], []
    for s in seeds:
        cond, vals, item = _bitcoin_seed(con, chain, s, network)
        conditions.append(f"({cond})")
        values.extend(vals)
        items.append(item)
    coins: Coins = seed_coins(con, chain, " OR ".join(conditions), values)
    if len(coins) == 0:
        raise NotFoundError(f"no stored outputs match the seeds {', '.join(seeds)}")
    return trace_utxo(con, chain, coins, items, params, on_hop=on_hop)
