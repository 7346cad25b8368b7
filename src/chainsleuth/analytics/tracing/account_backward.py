"""Backward tracing on an account chain (Ethereum): where the value of some outgoing
transfers came from.

Each hop replays a sender's history of the asset (the same replay order and flows as
`account`) with every inflow kept apart, and splits the asked transfer over the inflows
that paid it, by the model: haircut, the balance's mix at that moment; fifo / lifo, the
oldest / newest inflows still held (Anderson et al. 2016 applied to balances); poison,
every earlier inflow, whole. Each inflow's sender is asked next.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Callable
from typing import Any

import duckdb

from chainsleuth.analytics.tracing.account import (
    RULES,
    Event,
    Key,
    Taint,
    account_result,
    hops,
    load_events,
    name_addresses,
    settle,
)
from chainsleuth.analytics.tracing.endpoints import name_arrivals
from chainsleuth.analytics.tracing.result import Edge, TraceResult
from chainsleuth.analytics.tracing.taint import Model
from chainsleuth.analytics.tracing.utxo import TraceParams


class _Sources:
    """One address's balance of one asset as the inflows that built it (their indexes into
    `events`), spent under a model: what an outgoing transfer was paid from."""

    def __init__(self, model: Model) -> None:
        self.model = model
        self.chunks: deque[list[float]] = deque()  # [amount, inflow] (fifo, lifo)
        self.shares: dict[int, float] = {}  # inflow -> amount / scale (haircut)
        self.scale = 1.0
        self.balance = 0.0
        self.seen: list[int] = []  # every inflow so far (poison)

    def receive(self, inflow: int, amount: float) -> None:
        self.balance += amount
        self.seen.append(inflow)
        if self.model is Model.haircut:
            self.shares[inflow] = self.shares.get(inflow, 0.0) + amount / self.scale
        else:
            self.chunks.append([amount, float(inflow)])

    def send(self, amount: float) -> dict[int, float]:
        """Remove `amount`; return the inflows it came from and how much from each."""
        paid: dict[int, float] = {}
        if amount <= 0 or self.balance <= 0:
            return paid
        if self.model is Model.haircut:
            share = min(1.0, amount / self.balance)
            paid = {k: v * self.scale * share for k, v in self.shares.items()}
            self.scale *= 1.0 - share
            if self.scale < 1e-12:  # spent out: start afresh
                self.shares, self.scale = {}, 1.0
        else:
            need = amount
            while need > 1e-9 and self.chunks:
                chunk = self.chunks[-1] if self.model is Model.lifo else self.chunks[0]
                take = min(need, chunk[0])
                paid[int(chunk[1])] = paid.get(int(chunk[1]), 0.0) + take
                chunk[0] -= take
                need -= take
                if chunk[0] <= 1e-9:
                    (self.chunks.pop if self.model is Model.lifo else self.chunks.popleft)()
        self.balance = max(0.0, self.balance - amount)
        return paid


def trace_account_backward(
    con: duckdb.DuckDBPyConnection,
    chain: str,
    asks: list[Taint],
    seed_items: list[dict[str, Any]],
    params: TraceParams,
    on_hop: Callable[[int, int], None] | None = None,
) -> TraceResult:
    """Backward trace on an account chain: where the value of some outgoing transfers came
    from. `asks` name a sender (`address`), the transfer (`key`, `tx_hash`) and the amount to
    explain. Each hop replays the sender's history of that asset and splits the transfer
    over the inflows that paid it, by the model (haircut: the balance's mix at that moment;
    fifo/lifo: the oldest/newest inflows still held; poison: every earlier inflow, whole);
    each inflow's sender is asked next. A transfer paid by a bridge (`params.bridges`) is
    noted as a release there (`crossing.py` continues from its deposit on the other chain,
    else the bridge is its origin). Value an address holds without inflows explaining it
    (a mint, a genesis allocation, history not stored) stays there as its origin."""
    result = account_result(chain, "backward", seed_items, asks, params)
    names: set[int] = set()
    pending = [a for a in asks if a.amount > 0]
    for hop, batch in hops(pending, params, result, on_hop):
        live: list[Taint] = []
        for t, stop in batch:
            names.add(t.address)
            if settle(t, stop, hop, t.payee, params, result):
                continue
            if params.until is not None and t.time is not None and t.time > params.until:
                result.lose("after_until", t.amount, t.asset)
            else:
                live.append(t)
        if live:
            events = load_events(con, chain, sorted({t.address for t in live}))
            pending.extend(_explain(events, live, hop, params, result, names))
    name_arrivals(params.stops, result.arrivals)
    name_addresses(con, chain, result, names)
    return result


def _explain(
    events: list[Event],
    asks: list[Taint],
    hop: int,
    params: TraceParams,
    result: TraceResult,
    names: set[int],
) -> list[Taint]:
    """Split each asked transfer over the inflows that paid it; return the next asks."""
    out: list[Taint] = []
    grouped: dict[tuple[int, str], list[Taint]] = defaultdict(list)
    for a in asks:
        grouped[(a.address, a.asset)].append(a)
    for (address, asset), wanted in grouped.items():
        by_key: dict[tuple[Key, str], float] = defaultdict(float)
        for a in wanted:
            by_key[(a.key, a.tx_hash)] += a.amount
        history = [e for e in events if e.asset == asset and address in (e.source, e.target)]
        sources = _Sources(params.model)
        explained = 0.0
        for i, e in enumerate(history):
            if e.source == e.target:  # to itself: the balance does not change
                continue
            if e.target == address:
                sources.receive(i, e.amount)
                continue
            asked = by_key.pop((e.key, e.tx_hash), 0.0)
            paid = (
                {k: history[k].amount for k in sources.seen}
                if asked > 0 and params.model is Model.poison
                else sources.send(e.amount)
            )
            if asked <= 0 or not paid:
                continue
            scale = 1.0 if params.model is Model.poison else asked / e.amount
            for k, part in paid.items():
                inflow, amount = history[k], part * scale
                if amount <= 0:
                    continue
                explained += amount if params.model is not Model.poison else 0.0
                names.add(inflow.source)
                result.edges.append(
                    Edge(
                        hop,
                        inflow.tx_hash,
                        str(address),
                        str(inflow.source),
                        asset,
                        amount,
                        inflow.time,
                        RULES[params.model],
                        (),
                    )
                )
                out.append(
                    Taint(
                        inflow.source,
                        asset,
                        inflow.key,
                        amount,
                        hop + 1,
                        inflow.time,
                        inflow.tx_hash,
                        inflow.amount,
                        address,
                    )
                )
            if params.model is Model.poison:
                explained += asked
        unexplained = sum(a.amount for a in wanted) - explained
        if unexplained > 1e-6 * max(1.0, explained):  # no inflow accounts for it: its origin
            result.hold(str(address), unexplained, asset)
    return out
