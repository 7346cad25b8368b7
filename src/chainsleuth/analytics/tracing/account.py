"""Tracing on an account chain (Ethereum): taint follows each address's balance over time.

An address's history per asset is replayed in order (block, transaction position, native
before internal before token transfers). Taint arrives with incoming transfers; each
outgoing transfer carries taint by the model:

- **haircut**: the tainted share of the balance at that moment;
- **fifo** / **lifo**: the balance is a queue of received chunks, spent oldest (newest)
  first — Anderson et al. 2016 applied to balances;
- **poison**: once tainted, everything the address sends is tainted.

Gas fees leave the ETH balance like a transfer to nobody (taint lost to fees). A swap —
an address sends asset A to a counterparty and receives asset B from it in the same
transaction — converts the tainted part of A into B at that swap's own rate, and the pool
itself is not tainted. Haircut and FIFO are linear in the taint that arrives, so each hop
replays only the addresses tainted in that hop, with that hop's arrivals.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from chainsleuth.analytics.tracing.edges import address_names
from chainsleuth.analytics.tracing.endpoints import name_arrivals, stops_at
from chainsleuth.analytics.tracing.result import (
    Arrival,
    AtBridge,
    Edge,
    Endpoint,
    Leg,
    TraceResult,
)
from chainsleuth.analytics.tracing.taint import Model
from chainsleuth.analytics.tracing.utxo import TraceParams

KIND_ORDER = {"native": 0, "internal": 1, "token": 2}

#: Replay order of a flow: block height, transaction position, kind, then the numbers of
#: its position (`trace:0,2` -> (0, 2), `log:12.3` -> (12, 3)), so `log:10` follows `log:2`.
Key = tuple[int, int, int, tuple[int, ...]]


def _key(height: Any, tx_position: Any, kind: Any, position: Any) -> Key:
    text = str(position).partition(":")[2].replace(".", ",")
    numbers = tuple(int(x) for x in text.split(",") if x.strip().isdigit())
    return (int(height), int(tx_position), KIND_ORDER.get(str(kind), 3), numbers)


@dataclass(frozen=True)
class Event:
    """One successful value flow touching a traced address."""

    key: Key  # replay order
    tx_hash: str
    asset: str
    source: int
    target: int
    amount: float
    time: dt.datetime | None


@dataclass
class Taint:
    """Taint arriving at an address with one incoming event (or a swap conversion)."""

    address: int
    asset: str
    key: Key
    amount: float
    hop: int
    time: dt.datetime | None = None
    tx_hash: str = ""
    gross: float = 0.0  # the whole transfer's amount (a bridge deposit's value)
    payee: int = -1  # backward: who the asked transfer paid (a bridge release's recipient)


def load_events(con: duckdb.DuckDBPyConnection, chain: str, ids: list[int]) -> list[Event]:
    """Every successful flow to or from `ids`, and the fees they paid, in replay order."""
    con.register("_ids", pa.table({"id": ids}))
    rows = con.sql(
        """
        SELECT f.block_height, coalesce(t.position, 0) AS pos, f.kind, f.position, f.tx_hash,
               f.asset, coalesce(f.from_id, -1), coalesce(f.to_id, -1),
               coalesce(f.amount::DOUBLE, f.amount_raw::DOUBLE) AS amount, f.time
        FROM transfers f LEFT JOIN txs t ON t.chain = f.chain AND t.tx_hash = f.tx_hash
        WHERE f.chain = $chain AND f.success
          AND (f.from_id IN (SELECT id FROM _ids) OR f.to_id IN (SELECT id FROM _ids))
        UNION ALL
        SELECT e.block_height, coalesce(t.position, 0), 'native', 'fee', e.tx_hash, 'ETH',
               e.from_id, -2, e.fee::DOUBLE, t.time
        FROM eth_txs e LEFT JOIN txs t ON t.chain = e.chain AND t.tx_hash = e.tx_hash
        WHERE e.chain = $chain AND e.from_id IN (SELECT id FROM _ids) AND coalesce(e.fee, 0) > 0
        """,
        params={"chain": chain},
    ).fetchall()
    con.unregister("_ids")
    events = [
        Event(
            _key(h, p, k, pos),
            str(tx),
            str(asset),
            int(s),
            int(t),
            float(a or 0.0),
            tm,
        )
        for h, p, k, pos, tx, asset, s, t, a, tm in rows
    ]
    events.sort(key=lambda e: e.key)
    return events


class _Ledger:
    """One address's balance of one asset, with its taint, under a model."""

    def __init__(self, model: Model) -> None:
        self.model = model
        self.balance = 0.0
        self.taint = 0.0
        self.chunks: deque[list[float]] = deque()  # [amount, tainted] for fifo/lifo
        self.poisoned = False

    def receive(self, amount: float, tainted: float) -> None:
        self.balance += amount
        self.taint += tainted
        if tainted > 0:
            self.poisoned = True
        if self.model in (Model.fifo, Model.lifo):
            self.chunks.append([amount, tainted])

    def send(self, amount: float) -> float:
        """Remove `amount`; return the taint it carries."""
        if amount <= 0:
            return 0.0
        if self.model is Model.poison:
            out = amount if self.poisoned else 0.0
        elif self.model is Model.haircut:
            share = (
                min(1.0, self.taint / self.balance)
                if self.balance > 0
                else (1.0 if self.taint > 0 else 0.0)
            )
            out = amount * share
        else:
            out, need = 0.0, amount
            while need > 1e-9 and self.chunks:
                chunk = self.chunks[0] if self.model is Model.fifo else self.chunks[-1]
                take = min(need, chunk[0])
                part = chunk[1] * take / chunk[0] if chunk[0] > 0 else 0.0
                out += part
                chunk[0] -= take
                chunk[1] -= part
                need -= take
                if chunk[0] <= 1e-9:
                    (self.chunks.popleft if self.model is Model.fifo else self.chunks.pop)()
        out = min(out, self.taint) if self.model is not Model.poison else out
        self.balance -= amount
        self.taint = max(0.0, self.taint - out)
        return out


def seed_taints(
    con: duckdb.DuckDBPyConnection,
    chain: str,
    where: str,
    params: list[Any],
    *,
    backward: bool = False,
) -> list[Taint]:
    """Taint from successful transfers matching `where` (over transfers `f`): arriving at
    their receivers, or with `backward`, asked of their senders (whose balance paid them)."""
    side = "from_id" if backward else "to_id"
    rows = con.execute(
        f"""SELECT f.{side}, f.asset, f.block_height, coalesce(t.position, 0), f.kind,
                   f.position, coalesce(f.amount::DOUBLE, f.amount_raw::DOUBLE), f.time,
                   f.tx_hash, coalesce(f.to_id, -1)
            FROM transfers f LEFT JOIN txs t ON t.chain = f.chain AND t.tx_hash = f.tx_hash
            WHERE f.chain = ? AND f.success AND f.{side} IS NOT NULL AND ({where})""",
        [chain, *params],
    ).fetchall()
    return [
        Taint(
            int(to),
            str(asset),
            _key(h, p, k, pos),
            float(a or 0.0),
            1,
            tm,
            str(tx),
            float(a or 0.0),
            int(payee),
        )
        for to, asset, h, p, k, pos, a, tm, tx, payee in rows
    ]


def hops(
    pending: list[Taint],
    params: TraceParams,
    result: TraceResult,
    on_hop: Callable[[int, int], None] | None,
) -> Iterator[tuple[int, list[tuple[Taint, Endpoint | None]]]]:
    """The taints of `pending` hop by hop (the caller adds each hop's successors to the same
    list), each with the custodial stop at its address (none on the first hop); what is
    left past `--max-hops` is counted in `result` at the end."""
    hop = 0
    while pending and hop < params.max_hops:
        hop = min(p.hop for p in pending)
        batch = [p for p in pending if p.hop == hop]
        pending[:] = [p for p in pending if p.hop != hop]
        if on_hop:
            on_hop(hop, len(batch))
        result.hops = max(result.hops, hop)
        at = np.array([t.address for t in batch], np.int64)
        stops = stops_at(params.stops, at) if hop > 1 else [None] * len(batch)
        yield hop, list(zip(batch, stops, strict=True))
    for p in pending:
        result.lose("beyond_max_hops", p.amount, p.asset)


def account_result(
    chain: str,
    direction: str,
    seed_items: list[dict[str, Any]],
    seeds: list[Taint],
    params: TraceParams,
) -> TraceResult:
    """The empty result of an account-chain trace from `seeds`, their amount per asset
    kept apart (a seed of several assets is valued, not added up)."""
    totals: dict[str, float] = {}
    for t in seeds:
        totals[t.asset] = totals.get(t.asset, 0.0) + t.amount
    return TraceResult(
        chain,
        params.model.value,
        direction,
        seed_items,
        sum(totals.values()),
        "ETH",
        seed_assets=totals,
    )


def settle(
    t: Taint,
    stop: Endpoint | None,
    hop: int,
    payee: int,
    params: TraceParams,
    result: TraceResult,
) -> bool:
    """Whether taint `t` ends here, recorded: ETH at a bridge leg (paid to `payee`: the
    bridge for a deposit, the recipient for a release), at an endpoint, below
    `--min-amount`."""
    bridge = params.bridges.get(t.address)
    if bridge is not None and t.asset == "ETH" and t.time is not None:
        leg = Leg(result.chain, t.tx_hash, -1, payee, t.gross, t.time)
        result.at_bridges.append(AtBridge(leg, t.amount, hop, bridge, t.asset))
    elif stop is not None:
        result.arrivals.append(Arrival(stop, str(t.address), t.asset, t.amount, t.time, t.tx_hash))
    elif t.amount < params.min_amount:
        result.lose("below_threshold", t.amount, t.asset)
    else:
        return False
    return True


def trace_account(
    con: duckdb.DuckDBPyConnection,
    chain: str,
    seeds: list[Taint],
    seed_items: list[dict[str, Any]],
    params: TraceParams,
    on_hop: Callable[[int, int], None] | None = None,
) -> TraceResult:
    """Forward trace on an account chain from tainted arrivals `seeds`; ETH reaching a
    bridge (`params.bridges`) is noted as a deposit there (`crossing.py` continues it on
    the other chain when the release is found, else the bridge is its endpoint)."""
    result = account_result(chain, "forward", seed_items, seeds, params)
    names: set[int] = set()
    pending = [s for s in seeds if s.amount > 0]
    poisoned: set[tuple[int, str]] = set()
    for hop, batch in hops(pending, params, result, on_hop):
        live: list[Taint] = []
        for t, stop in batch:
            names.add(t.address)
            if settle(t, stop, hop, t.address, params, result):
                continue
            if params.model is Model.poison and (t.address, t.asset) in poisoned:
                continue
            else:
                live.append(t)
        if not live:
            continue
        events = load_events(con, chain, sorted({t.address for t in live}))
        arrivals = defaultdict(list)
        for t in live:
            arrivals[(t.address, t.asset)].append(t)
            poisoned.add((t.address, t.asset))
        pending.extend(_replay(events, arrivals, hop, params, result, names))
    name_arrivals(params.stops, result.arrivals)
    name_addresses(con, chain, result, names)
    return result


def _replay(
    events: list[Event],
    arrivals: dict[tuple[int, str], list[Taint]],
    hop: int,
    params: TraceParams,
    result: TraceResult,
    names: set[int],
) -> list[Taint]:
    """Replay each tainted (address, asset) history; return taint arriving downstream."""
    out: list[Taint] = []
    by_tx: dict[str, list[Event]] = defaultdict(list)
    for e in events:
        by_tx[e.tx_hash].append(e)
    until = params.until
    for (address, asset), incoming in arrivals.items():
        ledger = _Ledger(params.model)
        due = sorted(incoming, key=lambda t: t.key)
        i = 0
        for e in events:
            if e.asset != asset or address not in (e.source, e.target):
                continue
            if e.target == address:
                tainted = 0.0
                while i < len(due) and due[i].key <= e.key:
                    tainted += due[i].amount
                    i += 1
                ledger.receive(e.amount, tainted)
                continue
            if until is not None and e.time is not None and e.time > until:
                break
            carried = ledger.send(e.amount)
            if carried <= 0:
                continue
            if e.target == -2:
                result.lose("fees", carried, asset)
                continue
            swap = _swap_return(by_tx[e.tx_hash], e, address)
            names.add(e.target)
            rule, flags = (
                ("swap: converted at the swap's rate", ("swap",))
                if swap is not None
                else (RULES[params.model], ())
            )
            result.edges.append(
                Edge(
                    hop, e.tx_hash, str(address), str(e.target), asset, carried, e.time, rule, flags
                )
            )
            if swap is not None:  # the taint continues in the asset received back, same hop
                rate = swap.amount / e.amount if e.amount else 0.0
                out.append(
                    Taint(
                        address, swap.asset, swap.key, carried * rate, hop, swap.time, swap.tx_hash
                    )
                )
            else:
                out.append(
                    Taint(e.target, asset, e.key, carried, hop + 1, e.time, e.tx_hash, e.amount)
                )
        rest = ledger.taint if params.model is not Model.poison else 0.0
        if i < len(due):  # taint that arrives after the replayed history (not yet stored)
            rest += sum(t.amount for t in due[i:])
        if (
            until is not None
            and rest > 0
            and any(e.time is not None and e.time > until for e in events)
        ):
            result.lose("after_until", rest, asset)
        elif rest > 0:
            result.hold(str(address), rest, asset)
    return out


def _swap_return(tx_events: list[Event], sent: Event, address: int) -> Event | None:
    """The transfer of another asset back from `sent`'s counterparty in the same tx."""
    for e in tx_events:
        if e.source == sent.target and e.target == address and e.asset != sent.asset:
            return e
    return None


RULES = {
    Model.haircut: "haircut: share of balance",
    Model.fifo: "fifo: oldest balance first",
    Model.lifo: "lifo: newest balance first",
    Model.poison: "poison: tainted address",
}


def _name(con: duckdb.DuckDBPyConnection, chain: str, address_id: int) -> str:
    return address_names(con, chain, {address_id}).get(address_id, str(address_id))


def name_addresses(
    con: duckdb.DuckDBPyConnection, chain: str, result: TraceResult, ids: set[int]
) -> None:
    """Address ids to address strings in edges, arrivals and the held remainder."""
    found = address_names(con, chain, ids)

    def name(x: str) -> str:
        return str(found.get(int(x), x)) if x.lstrip("-").isdigit() else x

    for e in result.edges:
        e.source, e.target = name(e.source), name(e.target)
    for a in result.arrivals:
        a.address = name(a.address)
    result.rename_held(name)
