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
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb

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


def score_scenario(
    con: duckdb.DuckDBPyConnection,
    theft: dict[str, Any],
    owners: dict[str, int],
    model: Model,
    max_hops: int,
) -> dict[str, Any]:
    """Recall and precision of one model on one scenario."""
    result = trace(con, theft["chain"], _seeds(theft), TraceParams(model=model, max_hops=max_hops))
    reported: dict[int, float] = {}
    unknown = 0.0
    for arrival in result.arrivals:
        owner = owners.get(arrival.address)
        if owner is None:
            unknown += arrival.amount
        else:
            reported[owner] = reported.get(owner, 0.0) + arrival.amount
    true = {int(e["entity"]): float(e["amount"]) for e in theft["endpoints"]}
    hit = sum(min(v, true.get(e, 0.0)) for e, v in reported.items())
    total_reported = sum(reported.values()) + unknown
    stolen = float(theft["stolen"])
    cashed = sum(true.values())
    return {
        "scenario": theft["id"],
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
        score_scenario(con, theft, owners, model, max_hops)
        for theft in truth["thefts"]
        for model in models
    ]
