"""What a trace produces: the flow graph, the cash-out endpoints and the remainder.

Amounts are in base units. Haircut taint is fractional by nature; it is carried as a float
during the trace and rounded to whole base units only when reported.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Endpoint:
    """A service that custodies funds (exchange, OTC desk): where a trace stops."""

    entity: str
    label: str
    category: str


@dataclass
class Edge:
    """Tainted value moving from one address to another in one transaction."""

    hop: int
    tx_hash: str
    source: str
    target: str
    asset: str
    amount: float
    time: dt.datetime | None
    rule: str  # the model step that produced it: provenance of the edge
    flags: tuple[str, ...] = ()
    chain: str | None = None  # when not the trace's own chain (after a bridge)


@dataclass
class Arrival:
    """Tainted value reaching an endpoint's address."""

    endpoint: Endpoint
    address: str
    asset: str
    amount: float
    time: dt.datetime | None
    tx_hash: str
    chain: str | None = None  # when not the trace's own chain (after a bridge)


@dataclass(frozen=True)
class Leg:
    """One side of a bridge crossing: value paid into a bridge (a deposit) or paid out of
    it on the other chain (a release), in the chain's native asset."""

    chain: str
    tx_hash: str
    n: int  # the output's index on a UTXO chain; -1 on an account chain
    address_id: int  # who is paid: the bridge (a deposit) or the recipient (a release)
    amount: float  # the whole output's or transfer's value, base units (int when read exact)
    time: dt.datetime


@dataclass
class AtBridge:
    """Tainted value a trace brought to a bridge leg: forward, a deposit; backward, a
    release. `bridge.py` matches the leg on the other chain and the trace goes on there."""

    leg: Leg
    tainted: float  # the part of `leg.amount` the trace follows
    hop: int
    bridge: Endpoint  # the bridge's tag: the endpoint when no match is found
    asset: str


LOST = ("fees", "below_threshold", "beyond_max_hops", "after_until")
"""Where a trace stops following taint short of an endpoint (besides what is held)."""


@dataclass
class TraceResult:
    """A finished trace: everything needed to explain and re-derive it."""

    chain: str
    model: str
    direction: str
    seeds: list[dict[str, Any]]
    seed_total: float
    asset: str
    edges: list[Edge] = field(default_factory=list)
    arrivals: list[Arrival] = field(default_factory=list)
    held: dict[tuple[str, str], float] = field(default_factory=dict)  # (address, asset) -> taint
    lost: dict[tuple[str, str], float] = field(default_factory=dict)  # (LOST kind, asset) -> taint
    hops: int = 0
    flags: list[str] = field(default_factory=list)
    bridges: list[dict[str, Any]] = field(default_factory=list)  # matched crossings
    at_bridges: list[AtBridge] = field(default_factory=list)  # legs still to match
    seed_assets: dict[str, float] = field(default_factory=dict)  # asset -> seed amount
    usd_per_unit: dict[str, float] = field(default_factory=dict)  # `valuation.price_seed`
    seed_day: dt.date | None = None  # the day a seed of several assets is valued at

    def __post_init__(self) -> None:
        """A seed given as one total is of the trace's own asset."""
        if not self.seed_assets:
            self.seed_assets = {self.asset: self.seed_total}

    def hold(self, address: str, amount: float, asset: str | None = None) -> None:
        """Record taint still at `address` (in `asset`, the trace's own by default)."""
        key = (address, asset or self.asset)
        self.held[key] = self.held.get(key, 0.0) + amount

    def lose(self, kind: str, amount: float, asset: str | None = None) -> None:
        """Record taint the trace does not follow further: one of LOST (in `asset`, the
        trace's own by default)."""
        if kind not in LOST:
            raise ValueError(f"unknown remainder {kind!r}")
        key = (kind, asset or self.asset)
        self.lost[key] = self.lost.get(key, 0.0) + amount

    def rename_held(self, name: Callable[[str], str]) -> None:
        """Address ids to address strings in the held remainder."""
        self.held = {(name(address), asset): v for (address, asset), v in self.held.items()}

    def seed_value(self) -> float | None:
        """The seed's USD value when it holds several assets, all priced, else None."""
        if len(self.seed_assets) < 2 or not self.usd_per_unit:
            return None
        return sum(v * self.usd_per_unit[a] for a, v in self.seed_assets.items())

    def share(self, chain: str, asset: str, amount: float) -> float | None:
        """`amount` of `asset` on `chain` as a share of the seed: by value for a seed of
        several assets (also past a bridge; None without prices), else of the seed's own
        asset on its own chain."""
        if len(self.seed_assets) > 1:
            value, unit = self.seed_value(), self.usd_per_unit.get(asset)
            return amount * unit / value if value and unit is not None else None
        if chain != self.chain or asset != self.asset or not self.seed_total:
            return None
        return amount / self.seed_total

    def absorb(self, other: TraceResult, hop_offset: int) -> None:
        """Add a continuation traced on another chain (after a bridge) to this result."""
        for e in other.edges:
            e.hop += hop_offset
            e.chain = e.chain or other.chain
            self.edges.append(e)
        for a in other.arrivals:
            a.chain = a.chain or other.chain
            self.arrivals.append(a)
        for (address, asset), amount in other.held.items():
            self.hold(f"{other.chain}:{address}", amount, asset)
        for (kind, asset), amount in other.lost.items():
            self.lose(kind, amount, asset)
        self.hops = max(self.hops, other.hops + hop_offset)
        self.flags += [f for f in other.flags if f not in self.flags]

    def endpoints(self) -> list[dict[str, Any]]:
        """Arrivals grouped by entity and asset, largest first."""
        groups: dict[tuple[str, str, str], dict[str, Any]] = {}
        for a in self.arrivals:
            chain = a.chain or self.chain
            g = groups.setdefault(
                (a.endpoint.entity, chain, a.asset),
                {
                    "entity": a.endpoint.entity,
                    "label": a.endpoint.label,
                    "category": a.endpoint.category,
                    "chain": chain,
                    "asset": a.asset,
                    "amount": 0.0,
                    "first_seen": a.time,
                    "last_seen": a.time,
                    "addresses": {},
                },
            )
            g["amount"] += a.amount
            g["addresses"][a.address] = g["addresses"].get(a.address, 0.0) + a.amount
            if a.time is not None:
                if g["first_seen"] is None or a.time < g["first_seen"]:
                    g["first_seen"] = a.time
                if g["last_seen"] is None or a.time > g["last_seen"]:
                    g["last_seen"] = a.time
        out = []
        for g in sorted(groups.values(), key=lambda g: -g["amount"]):
            out.append(
                {
                    **g,
                    "amount": round(g["amount"]),
                    "share": self.share(g["chain"], g["asset"], g["amount"]),
                    "addresses": [
                        {"address": k, "amount": round(v)}
                        for k, v in sorted(g["addresses"].items(), key=lambda kv: -kv[1])
                    ],
                }
            )
        return out

    def remainder(self) -> dict[str, Any]:
        """Taint not at an endpoint: still held, lost to fees, cut by the trace's limits.

        `held_total` and the LOST figures are in the seed's asset (`asset`), so amounts of
        different assets (wei and token units, or satoshi past a bridge) are never added;
        `by_asset` gives every figure for each asset the trace carried, and
        `held_by_asset` what is held per asset.
        """
        held = sorted(self.held.items(), key=lambda kv: -kv[1])
        by_asset: dict[str, dict[str, float]] = {}
        for asset, kind, v in [
            (self.asset, "held", 0.0),
            *((asset, "held", v) for (_, asset), v in held),
            *((asset, kind, v) for (kind, asset), v in self.lost.items()),
        ]:
            by_asset.setdefault(asset, dict.fromkeys(("held", *LOST), 0.0))[kind] += v
        own = by_asset[self.asset]
        return {
            "held": [
                {"address": a, "asset": asset, "amount": round(v)}
                for (a, asset), v in held
                if round(v) > 0
            ],
            "held_total": round(own["held"]),
            "held_by_asset": {a: round(f["held"]) for a, f in by_asset.items() if f["held"]},
            **{kind: round(own[kind]) for kind in LOST},
            "by_asset": {a: {k: round(v) for k, v in f.items()} for a, f in by_asset.items()},
        }

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (contract: seed, model, endpoints, remainder, edges)."""
        return {
            "seed": {
                "chain": self.chain,
                "direction": self.direction,
                "asset": self.asset,
                "amount": round(self.seed_total),
                "assets": {a: round(v) for a, v in self.seed_assets.items()},
                "value_usd": None if (value := self.seed_value()) is None else round(value, 2),
                "items": self.seeds,
            },
            "model": self.model,
            "direction": self.direction,
            "hops": self.hops,
            "endpoints": self.endpoints(),
            "remainder": self.remainder(),
            "flags": self.flags,
            "bridges": self.bridges,
            "edges": [
                {
                    "hop": e.hop,
                    "tx_hash": e.tx_hash,
                    "from": e.source,
                    "to": e.target,
                    "chain": e.chain or self.chain,
                    "asset": e.asset,
                    "amount": round(e.amount),
                    "time": e.time,
                    "provenance": {"model": self.model, "rule": e.rule, "flags": list(e.flags)},
                }
                for e in self.edges
            ],
        }
