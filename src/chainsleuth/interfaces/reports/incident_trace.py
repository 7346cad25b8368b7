"""The trace section of an incident report: run the tracing engine from the incident's seeds
on the store, and gather what the report shows of it.

Per chain of the incident whose chain data is stored:
- the seeds: the theft outputs `incidents verify` counts (UTXO chains), the stored theft
  transactions (Ethereum), or else the incident's seed addresses;
- the trace (`analytics.tracing.run.trace`, custodial tagged entities as endpoints) as its
  JSON form: endpoints, remainder, edges with provenance;
- the cash-out per service (endpoints grouped by label), valued in USD at the daily close
  of the days the value arrived, when prices are stored;
- the timeline: tainted value moved per hour (or per day, for laundering spread over more
  than three days) from the edges' times, and the value reaching endpoints;
- the evidence: the tags (source, confidence) of each endpoint entity and of the seed
  addresses, and the heuristics and models the result rests on.

A chain whose data is not stored gets a `TraceSection` with `traced = False` and the
reason, which the report prints instead of a trace.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import duckdb

from chainsleuth.analytics.attribution.propagation import address_tags, entity_tags, has_table
from chainsleuth.analytics.tracing.endpoints import CUSTODIAL
from chainsleuth.analytics.tracing.run import trace
from chainsleuth.analytics.tracing.taint import Model
from chainsleuth.analytics.tracing.utxo import TraceParams
from chainsleuth.errors import InputError, NotFoundError
from chainsleuth.interfaces.output import percent
from chainsleuth.services.incidents.model import KNOWN_DECIMALS
from chainsleuth.services.incidents.verify import incident_chains, theft_seeds
from chainsleuth.store.prices import value_usd

DEFAULT_MAX_HOPS = 50
"""Hops followed by the report's trace: laundering runs long peel chains (the simulator's
DMM-like theft needs more than the `trace` command's default of 10 to reach every cash-out)."""
HOURLY_SPAN = dt.timedelta(days=3)
"""Laundering spread over at most this long is shown per hour, longer per day."""
MAX_EVIDENCE_ENTITIES = 60

MODELS = {
    "poison": (
        "any tainted input taints every output entirely",
        "Möser, Böhme & Breuker 2014, Towards Risk Scoring of Bitcoin Transactions",
    ),
    "haircut": (
        "outputs get the tainted share of the inputs; taint is diluted, never lost",
        "Möser, Böhme & Breuker 2014",
    ),
    "fifo": (
        "first value in is first out; taint kept as exact intervals within each coin",
        "Anderson, Shumailov, Ryan & Stajano 2016, Bitcoin Redux (Clayton's Case)",
    ),
    "lifo": ("as FIFO with the inputs read last to first", "chainsleuth"),
}


@dataclass
class TraceSection:
    """The trace of an incident on one chain, or why there is none."""

    chain: str
    traced: bool
    reason: str
    seeds: dict[str, Any]
    params: dict[str, Any] = field(default_factory=dict)
    trace: dict[str, Any] = field(default_factory=dict)
    decimals: int | None = None
    by_service: list[dict[str, Any]] = field(default_factory=list)
    bucket: str = "hour"
    timeline: list[dict[str, Any]] = field(default_factory=list)
    evidence_tags: list[dict[str, Any]] = field(default_factory=list)
    heuristics: list[dict[str, Any]] = field(default_factory=list)

    @property
    def asset(self) -> str:
        """The traced asset (the seed's)."""
        return str(self.trace.get("seed", {}).get("asset", ""))

    def whole(self, amount: int) -> str:
        """`amount` base units in whole units of the traced asset, as exact text."""
        if self.decimals is None:
            return str(amount)
        sign = "-" if amount < 0 else ""
        units, frac = divmod(abs(amount), 10**self.decimals)
        text = f"{units:,}"
        if frac:
            text += "." + str(frac).rjust(self.decimals, "0").rstrip("0")
        return sign + text


def _decimals(con: duckdb.DuckDBPyConnection, chain: str, asset: str) -> int | None:
    if asset.upper() in KNOWN_DECIMALS:
        return KNOWN_DECIMALS[asset.upper()]
    if has_table(con, "tokens"):
        found = con.execute(
            "SELECT decimals FROM tokens WHERE chain = ? AND contract = ?", [chain, asset]
        ).fetchall()
        if found and found[0][0] is not None:
            return int(found[0][0])
    return None


def _no_data(chain: str, seeds: dict[str, Any]) -> str:
    parts = []
    if seeds["theft_txs"]:
        parts.append(f"{seeds['theft_txs_stored']} of its {seeds['theft_txs']} theft transactions")
    if seeds["addresses"]:
        parts.append(f"{seeds['addresses_stored']} of its {seeds['addresses']} seed addresses")
    if not parts:
        return f"The incident lists no {chain} seeds (theft transactions or addresses) to trace."
    return (
        f"The {chain} chain data of this incident is not in the store ({' and '.join(parts)} "
        f"stored), so its stolen funds are not traced here. Ingest the blocks of the theft "
        f"(`chainsleuth ingest {chain} …`) and import the incidents into the same store "
        "(`chainsleuth incidents import`) to add the trace."
    )


def _by_service(con: duckdb.DuckDBPyConnection, section: TraceSection) -> list[dict[str, Any]]:
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for e in section.trace["endpoints"]:
        g = groups.setdefault(
            (e["label"], e["asset"]),
            {
                "label": e["label"],
                "category": e["category"],
                "asset": e["asset"],
                "amount": 0,
                "share": None,
                "entities": 0,
                "addresses": 0,
                "first_seen": e["first_seen"],
                "last_seen": e["last_seen"],
            },
        )
        g["amount"] += int(e["amount"])
        if e["share"] is not None:  # None: a seed of several assets without prices
            g["share"] = (g["share"] or 0.0) + float(e["share"])
        g["entities"] += 1
        g["addresses"] += len(e["addresses"])
        for key, pick in (("first_seen", min), ("last_seen", max)):
            known = [t for t in (g[key], e[key]) if t is not None]
            g[key] = pick(known) if known else None
    ordered = sorted(groups.values(), key=lambda g: -g["amount"])
    usd = _usd_at_arrival(con, section)
    for g in ordered:
        g["amount_units"] = section.whole(g["amount"])
        g["share"] = percent(g["share"])
        g["usd_at_arrival"] = usd.get((g["label"], g["asset"]))
    return ordered


def _usd_at_arrival(
    con: duckdb.DuckDBPyConnection, section: TraceSection
) -> dict[tuple[str, str], int | None]:
    """Per (service label, asset): whole USD of the tainted value it received, each day's
    arrivals at that day's close; None when a day has no price (or the decimals are unknown)."""
    label_of = {
        a["address"]: (str(e["label"]), str(e["asset"]))
        for e in section.trace["endpoints"]
        for a in e["addresses"]
    }
    daily: dict[tuple[str, str], dict[dt.date | None, int]] = defaultdict(lambda: defaultdict(int))
    for e in section.trace["edges"]:
        key = label_of.get(e["to"])
        if key is not None and key[1] == e["asset"]:
            daily[key][e["time"].date() if e["time"] is not None else None] += int(e["amount"])
    found: dict[tuple[str, str], int | None] = {}
    for key, days in daily.items():
        total: Decimal | None = Decimal(0)
        for day, amount in days.items():
            value = None
            if day is not None and section.decimals is not None:
                value = value_usd(con, key[1], amount, section.decimals, day)
            if value is None or total is None:
                total = None
                break
            total += value
        found[key] = None if total is None else int(total.quantize(Decimal(1), ROUND_HALF_EVEN))
    return found


def _floor(time: dt.datetime, bucket: str) -> dt.datetime:
    time = time.replace(minute=0, second=0, microsecond=0)
    return time.replace(hour=0) if bucket == "day" else time


def _timeline(section: TraceSection) -> tuple[str, list[dict[str, Any]]]:
    """Tainted value moved per bucket (hour or day), and what reached endpoints."""
    edges = [e for e in section.trace["edges"] if e["time"] is not None]
    if not edges:
        return "hour", []
    times = [e["time"] for e in edges]
    bucket = "hour" if max(times) - min(times) <= HOURLY_SPAN else "day"
    at_endpoint = {a["address"] for e in section.trace["endpoints"] for a in e["addresses"]}
    moved: dict[dt.datetime, int] = defaultdict(int)
    arrived: dict[dt.datetime, int] = defaultdict(int)
    txs: dict[dt.datetime, set[str]] = defaultdict(set)
    count: Counter[dt.datetime] = Counter()
    for e in edges:
        key = _floor(e["time"], bucket)
        moved[key] += int(e["amount"])
        txs[key].add(e["tx_hash"])
        count[key] += 1
        if e["to"] in at_endpoint:
            arrived[key] += int(e["amount"])
    rows, total = [], 0
    seed = int(section.trace["seed"]["amount"]) or 1
    for key in sorted(moved):
        total += arrived[key]
        rows.append(
            {
                bucket: key,
                "edges": count[key],
                "transactions": len(txs[key]),
                "moved": moved[key],
                "moved_units": section.whole(moved[key]),
                "to_endpoints": arrived[key],
                "to_endpoints_total": total,
                "cashed_out": f"{100 * total / seed:.2f}%",
            }
        )
    return bucket, rows


def _group_tags(entity: dict[str, Any], tags: list[dict[str, Any]]) -> list[dict[str, Any]]:
    groups: dict[tuple[Any, ...], dict[str, Any]] = {}
    for t in tags:
        key = tuple(
            t.get(k) for k in ("label", "category", "actor", "source", "confidence", "tagpack")
        )
        g = groups.setdefault(
            key,
            {
                "entity": entity["entity"],
                "endpoint": entity["label"],
                "tag_label": t["label"],
                "category": t["category"],
                "actor": t.get("actor"),
                "source": t["source"],
                "confidence": t["confidence"],
                "confidence_level": t["confidence_level"],
                "tagpack": t["tagpack"],
                "cluster_definer": bool(t.get("is_cluster_definer")),
                "tagged_addresses": 0,
                "example_address": t["address"],
            },
        )
        g["tagged_addresses"] += 1
    return sorted(groups.values(), key=lambda g: (-g["confidence_level"], g["tag_label"]))


def _evidence_tags(con: duckdb.DuckDBPyConnection, section: TraceSection) -> list[dict[str, Any]]:
    """Tags behind each endpoint entity (largest first) and on the seed addresses."""
    chain, found = section.chain, []
    clustered = has_table(con, "clusters")
    for ep in section.trace["endpoints"][:MAX_EVIDENCE_ENTITIES]:
        entity = str(ep["entity"])
        if entity.startswith("cluster:") and clustered:
            tags = entity_tags(con, chain, int(entity.removeprefix("cluster:")))
        else:
            tags = [t for a in ep["addresses"] for t in address_tags(con, chain, a["address"])]
        found += _group_tags(ep, tags)
    seeds = sorted({str(s["address"]) for s in section.trace["seed"]["items"] if "address" in s})
    seeds += sorted({str(o["address"]) for o in section.seeds.get("outputs", [])} - set(seeds))
    for address in seeds:
        found += _group_tags(
            {"entity": address, "label": "(seed)"}, address_tags(con, chain, address)
        )
    return found


def _endpoint_clusters(section: TraceSection) -> list[int]:
    return [
        int(str(e["entity"]).removeprefix("cluster:"))
        for e in section.trace["endpoints"]
        if str(e["entity"]).startswith("cluster:")
    ]


def _heuristics(con: duckdb.DuckDBPyConnection, section: TraceSection) -> list[dict[str, Any]]:
    """The models, rules, heuristics and limits the trace rests on, with provenance."""
    t, p = section.trace, section.params
    rule, reference = MODELS.get(t["model"], ("", ""))
    found = [
        {
            "kind": "taint model",
            "name": t["model"],
            "used": f"{len(t['edges'])} edges",
            "rule": rule,
            "provenance": reference,
        }
    ]
    rules = Counter(e["provenance"]["rule"] for e in t["edges"])
    for name, n in rules.most_common():
        found.append(
            {
                "kind": "edge rule",
                "name": name,
                "used": f"{n} edges",
                "rule": "the model step that produced these edges (edges' provenance)",
                "provenance": "analytics.tracing (edge provenance)",
            }
        )
    found.append(
        {
            "kind": "endpoint rule",
            "name": "custodial tag",
            "used": f"{len(t['endpoints'])} endpoint entities",
            "rule": "a trace stops at an entity with a tag of category "
            + ", ".join(CUSTODIAL)
            + "; its label is its best-supported tag",
            "provenance": "tags in the store (see the tags of each endpoint)",
        }
    )
    coinjoin_txs = sorted(
        {e["tx_hash"] for e in t["edges"] if "coinjoin" in e["provenance"]["flags"]}
    )
    if coinjoin_txs:
        kinds = Counter(
            str(r[0])
            for r in con.execute(
                "SELECT kind FROM coinjoin_txs WHERE chain = ? AND list_contains(?, tx_hash)",
                [section.chain, coinjoin_txs],
            ).fetchall()
        )
        found.append(
            {
                "kind": "coinjoin detection",
                "name": ", ".join(sorted(kinds)) or "coinjoin",
                "used": f"{len(coinjoin_txs)} CoinJoin transactions crossed",
                "rule": "taint passes a CoinJoin by value share whatever the model",
                "provenance": "clustering's CoinJoin detection (coinjoin_txs)",
            }
        )
    clusters = _endpoint_clusters(section)
    if clusters and has_table(con, "cluster_links"):
        links = con.execute(
            "SELECT l.heuristic, count(*), count(DISTINCT (l.block_height, l.tx_position))"
            " FROM cluster_links l"
            " JOIN clusters c ON c.chain = l.chain AND c.address_id = l.address_id_a"
            " WHERE l.chain = ? AND list_contains(?, c.cluster_id) GROUP BY 1 ORDER BY 2 DESC",
            [section.chain, clusters],
        ).fetchall()
        for heuristic, n, txs in links:
            found.append(
                {
                    "kind": "clustering heuristic",
                    "name": str(heuristic),
                    "used": f"{n} links ({txs} evidence transactions) in the endpoint entities",
                    "rule": "addresses joined into one entity (chainsleuth entity --why)",
                    "provenance": "cluster_links (heuristic and evidence tx of each link)",
                }
            )
    limits = (
        f"direction {p['direction']}, max hops {p['max_hops']} (reached {t['hops']}), "
        f"min amount {p['min_amount']}, until {p['until'] or 'no limit'}"
    )
    found.append(
        {
            "kind": "limits",
            "name": "trace parameters",
            "used": limits,
            "rule": "taint cut by these limits is counted in the remainder",
            "provenance": "the report's options",
        }
    )
    found.append(
        {
            "kind": "seeds",
            "name": section.seeds["basis"],
            "used": f"{len(section.seeds['seeds'])} seeds",
            "rule": {
                "theft_outputs": "the theft transactions' outputs paying the thief, as counted "
                "by `incidents verify`",
                "theft_txs": "the stored theft transactions' value flows",
                "seed_addresses": "everything the incident's seed addresses received",
            }.get(section.seeds["basis"], ""),
            "provenance": "the incident record's seeds",
        }
    )
    return found


def trace_sections(
    con: duckdb.DuckDBPyConnection,
    record: dict[str, Any],
    *,
    model: Model = Model.haircut,
    max_hops: int = DEFAULT_MAX_HOPS,
    min_amount: float = 0.0,
) -> list[TraceSection]:
    """One section per chain of the incident: its trace, or why it has none."""
    sections = []
    for chain in incident_chains(record):
        seeds = theft_seeds(con, record, chain)
        section = TraceSection(chain, False, "", seeds)
        if not seeds["seeds"]:
            section.reason = _no_data(chain, seeds)
            sections.append(section)
            continue
        params = TraceParams(model=model, max_hops=max_hops, min_amount=min_amount)
        try:
            result = trace(con, chain, seeds["seeds"], params)
        except (NotFoundError, InputError) as exc:
            section.reason = f"{_no_data(chain, seeds)} ({exc})"
            sections.append(section)
            continue
        section.traced = True
        section.params = {
            "model": model.value,
            "direction": params.direction,
            "max_hops": max_hops,
            "min_amount": min_amount,
            "until": None,
        }
        section.trace = result.to_dict()
        section.decimals = _decimals(con, chain, section.asset)
        section.by_service = _by_service(con, section)
        section.bucket, section.timeline = _timeline(section)
        section.evidence_tags = _evidence_tags(con, section)
        section.heuristics = _heuristics(con, section)
        sections.append(section)
    return sections
