"""Tracing accuracy against the simulator's ground truth.

For each theft scenario of `truth.json` and each taint model, the trace runs from the
scenario's seed and its endpoints are mapped to true owners through the truth's address
map. With `reported[e]` the amount reported at entity e and `true[e]` what e really
received of the stolen value:

- recall    = Σ min(reported[e], true[e]) / Σ true[e] — the share of the stolen value that
  reached a cash-out entity (what the thief still holds reached none) whose true entity is
  reported with at least that amount; on Ethereum that value includes what swaps turned
  stolen tokens into;
- precision = Σ min(reported[e], true[e]) / Σ reported[e] — the share of reported endpoint
  value that truly is stolen value at that entity.

`reported`, `true_cashout` and `stolen` are in the scenario chain's base unit.

A scenario crossing chains (the cross-chain simulator's bybit-like theft: Ethereum, then
Bitcoin after a bridge) has endpoints on both; entity ids are unique across the chains of
such a truth, and amounts on another chain than the scenario's are converted into the
scenario chain's base unit at the truth's `prices` (USD per coin, the closes the simulated
bridge converted at), so both sums add like values.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb

from chainsleuth.analytics.tracing.bridge import DECIMALS, NATIVE
from chainsleuth.analytics.tracing.run import trace
from chainsleuth.analytics.tracing.taint import Model
from chainsleuth.analytics.tracing.utxo import TraceParams
from chainsleuth.errors import InputError


def load_truth(path: Path) -> dict[str, Any]:
    """A simulator truth file, checked for what tracing evaluation needs."""
    try:
        truth: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"--truth {path}: cannot read ({exc})") from exc
    if not truth.get("thefts") or "addresses" not in truth:
        raise InputError(f"--truth {path}: no 'thefts' or 'addresses' (is it a truth.json?)")
    return truth


def _seeds(theft: dict[str, Any]) -> list[str]:
    seed = theft["seed"]
    if seed.get("outputs"):
        return [f"{o['txid']}:{o['n']}" for o in seed["outputs"]]
    return [seed["txid"]]


def unit_values(truth: dict[str, Any], theft: dict[str, Any]) -> dict[str, float]:
    """Per chain, the worth of one base unit in base units of the scenario's chain: every
    chain the truth's `prices` value, else the scenario's chain alone."""
    chain = str(theft["chain"])
    prices = truth.get("prices") or {}
    crossing = {str(e["chain"]) for e in theft["endpoints"] if "chain" in e} - {chain}
    if not crossing and not prices:
        return {chain: 1.0}
    missing = [NATIVE[c] for c in sorted(crossing | {chain}) if NATIVE[c] not in prices]
    if missing:
        raise InputError(f"truth theft {theft['id']!r} crosses chains but 'prices' lacks {missing}")

    def usd(c: str) -> float:
        return float(prices[NATIVE[c]]) / float(10 ** DECIMALS[c])

    return {c: usd(c) / usd(chain) for c in NATIVE if NATIVE[c] in prices}


def score_scenario(
    con: duckdb.DuckDBPyConnection,
    theft: dict[str, Any],
    owners: dict[str, int],
    model: Model,
    max_hops: int,
    units: dict[str, float] | None = None,
) -> dict[str, Any]:
    """Recall and precision of one model on one scenario (`units`: see `unit_values`)."""
    chain = str(theft["chain"])
    worth = units or {chain: 1.0}
    result = trace(con, chain, _seeds(theft), TraceParams(model=model, max_hops=max_hops))
    reported: dict[int, float] = {}
    unknown = 0.0
    for arrival in result.arrivals:
        owner = owners.get(arrival.address)
        where = arrival.chain or chain
        if where not in worth:
            raise InputError(f"the trace crossed to {where}; the truth has no prices to value it")
        amount = arrival.amount * worth[where]
        if owner is None:
            unknown += amount
        else:
            reported[owner] = reported.get(owner, 0.0) + amount
    true: dict[int, float] = {}
    for e in theft["endpoints"]:
        entity = int(e["entity"])
        true[entity] = true.get(entity, 0.0) + float(e["amount"]) * worth[e.get("chain", chain)]
    hit = sum(min(v, true.get(e, 0.0)) for e, v in reported.items())
    total_reported = sum(reported.values()) + unknown
    stolen = float(theft["stolen"])
    cashed = sum(true.values())
    return {
        "scenario": theft["id"],
        "chains": "+".join(
            [chain, *sorted({e.get("chain", chain) for e in theft["endpoints"]} - {chain})]
        ),
        "model": model.value,
        "hops": result.hops,
        "recall": hit / cashed if cashed else 0.0,
        "precision": hit / total_reported if total_reported else 0.0,
        "reported": round(total_reported),
        "true_cashout": round(sum(true.values())),
        "stolen": round(stolen),
        "endpoints_reported": len(reported),
        "endpoints_true": len(true),
    }


def evaluate(
    con: duckdb.DuckDBPyConnection,
    truth: dict[str, Any],
    models: list[Model],
    max_hops: int = 50,
) -> list[dict[str, Any]]:
    """Every (scenario, model) pair's recall and precision."""
    owners = {a: int(e) for a, e in truth["addresses"].items()}
    return [
        score_scenario(con, theft, owners, model, max_hops, unit_values(truth, theft))
        for theft in truth["thefts"]
        for model in models
    ]
