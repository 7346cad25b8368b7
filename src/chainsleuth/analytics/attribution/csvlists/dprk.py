"""The combined list of DPRK-attributed addresses (kind `dprk-combined-csv`).

`dprk_attributed_addresses_combined.csv` (address, chain, categories,
entities_or_incidents, sources, n_sources, format_check). Each row holds one or more
claims: the ` | `-separated entities and sources line up one to one, and categories too
(or one category stands for all). Each claim becomes one tag, so a source calling an
address an exchange deposit and another calling it the attacker stay two tags, which
`tags conflicts` then shows. Mapping of the categories (`ROLES`):
dprk_actor, incident_attacker, incident_attacker_or_laundering -> perpetrator +
service_hack, actor lazarusgroup; incident_laundering -> perpetrator + money_laundering,
actor lazarusgroup; dprk_launderer_or_facilitator -> perpetrator + money_laundering, no
actor (a launderer for the DPRK is not the DPRK); dprk_it_worker_revenue_network ->
perpetrator + financial_crime, no actor (not Lazarus Group);
sanctioned_mixer_or_mixer_operator -> sanctioned + sanction, no actor;
incident_cashout_exchange_deposit -> category exchange, no abuse, no actor (an
exchange's deposit address that received stolen funds, not owned by the DPRK). A claim
whose entity is an OFAC SDN entry (`OFAC SDN: NAME [PROGRAMS]`) is tagged as the OFAC
importer does (label NAME, category sanctioned, abuse sanction, programs) unless its role
is an exchange deposit; it keeps the actor of its role. Confidence by source: OFAC and FBI
`authority_data`, GraphSense's OFAC/FBI-derived lazarus packs `authority_data`, other
GraphSense packs `service_data`, tayvano's research `forensic`, Etherscan (via Forta)
`web_crawl`, anything else `unknown`. The original category, entity, source reference
and format check are kept in the tag's context (JSON).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

from chainsleuth.analytics.attribution.csvlists.rows import (
    LAZARUS,
    Collector,
    context_json,
    find_date,
    listed_address,
    read_rows,
)
from chainsleuth.analytics.attribution.model import Dataset, Tag
from chainsleuth.analytics.attribution.taxonomy import confidence_levels
from chainsleuth.errors import InputError

KIND_DPRK = "dprk-combined-csv"
DPRK_COLUMNS = frozenset({"address", "chain", "categories", "entities_or_incidents", "sources"})
_OFAC_ENTITY = re.compile(r"^OFAC SDN: (.+?)(?: \[([^\]]*)\])?$")
_INCIDENT = re.compile(r"^(\w+) \((\d{4}-\d{2}-\d{2})\): ([\w/]+)(?:: (.*))?$")
_GITHUB_REF = re.compile(r"^([\w.-]+)/([\w.-]+)/(.+)@([0-9a-f]{7,40})$")


@dataclass(frozen=True)
class Role:
    """How one category of the DPRK list maps to the tag taxonomy."""

    category: str
    abuse: str | None
    actor: str | None


ROLES: dict[str, Role] = {
    "dprk_actor": Role("perpetrator", "service_hack", LAZARUS),
    "incident_attacker": Role("perpetrator", "service_hack", LAZARUS),
    "incident_attacker_or_laundering": Role("perpetrator", "service_hack", LAZARUS),
    "incident_laundering": Role("perpetrator", "money_laundering", LAZARUS),
    "dprk_launderer_or_facilitator": Role("perpetrator", "money_laundering", None),
    "dprk_it_worker_revenue_network": Role("perpetrator", "financial_crime", None),
    "sanctioned_mixer_or_mixer_operator": Role("sanctioned", "sanction", None),
    "incident_cashout_exchange_deposit": Role("exchange", None, None),
}


def _role(category: str, where: str) -> Role:
    base = category.split(" (", 1)[0].strip()
    if base not in ROLES:
        raise InputError(f"{where}: unknown category {category!r} ({', '.join(ROLES)})")
    return ROLES[base]


def _source_url(ref: str) -> str:
    """A source reference of the DPRK list as a URL where it names one unambiguously."""
    if ref.startswith("fbi_psa_I-022625"):
        return "https://www.ic3.gov/psa/2025/psa250226"
    match = _GITHUB_REF.match(ref)
    if match:
        owner, repo, path, commit = match.groups()
        return f"https://github.com/{owner}/{repo}/blob/{commit}/{path}"
    return ref


def _confidence(ref: str) -> str:
    low = ref.lower()
    if low.startswith(("ofac_sdn", "fbi")):
        return "authority_data"
    if low.startswith("graphsense-tagpacks/"):
        lazarus = Path(low).name.startswith("lazarus")  # OFAC 2020 and FBI 2023 packs
        return "authority_data" if lazarus else "service_data"
    if low.startswith("tayvano/"):
        return "forensic"
    if "etherscan" in low or low.startswith("forta-network/"):
        return "web_crawl"
    return "unknown"


def _label(entity: str, role: Role) -> str:
    """A short label for a claim (the full entity text stays in the context)."""
    match = _INCIDENT.match(entity)
    if match:
        incident, day, kind, detail = match.groups()
        if role.category == "exchange" and detail:
            return detail
        return f"{incident} ({day}) {kind}"
    for prefix in ("Etherscan tag: ", "graphsense: "):
        if entity.startswith(prefix):
            return entity.removeprefix(prefix)
    return entity


def _claim_date(entity: str, ref: str) -> dt.date | None:
    """The publication date of an OFAC or FBI claim (None for research and labels)."""
    if ref.startswith("fbi_psa_I-022625"):
        return dt.date(2025, 2, 26)  # IC3 PSA I-022625-PSA
    if ref.startswith("ofac_sdn"):
        return find_date(ref)  # the SDN list's date
    match = re.search(r"\b(?:FBI|OFAC) (\d{4}-\d{2}-\d{2})\b", entity)
    return find_date(match.group(1)) if match else None


def _claims(c: dict[str, str], where: str) -> list[tuple[str, str, str]]:
    """(category, entity, source) of each claim of a row."""
    categories, entities, sources = (
        [p.strip() for p in c[k].split(" | ")]
        for k in ("categories", "entities_or_incidents", "sources")
    )
    if len(entities) != len(sources) or len(categories) not in (1, len(sources)):
        raise InputError(
            f"{where}: {len(categories)} categories, {len(entities)} entities and"
            f" {len(sources)} sources do not line up"
        )
    n_sources = c.get("n_sources", "")
    if n_sources and n_sources != str(len(sources)):
        raise InputError(f"{where}: n_sources is {n_sources} but {len(sources)} sources are listed")
    if len(categories) == 1:
        categories = categories * len(sources)
    if not all(categories) or not all(entities) or not all(sources):
        raise InputError(f"{where}: empty category, entity or source")
    return list(zip(categories, entities, sources, strict=True))


def parse_dprk_combined(text: str, file: str, *, skip_invalid: bool = False) -> Dataset:
    """The combined list of DPRK-attributed addresses: one tag per claim of each row."""
    rows = read_rows(text, file, DPRK_COLUMNS)
    ds = Dataset(Path(file).stem, KIND_DPRK, file, [], title="DPRK-attributed addresses")
    out = Collector(ds, skip_invalid)
    levels = confidence_levels()
    for row in out.rows(rows):
        c = row.cells
        try:
            chain, address = listed_address(c["chain"], c["address"], "address")
            claims = [
                (cat, ent, src, _role(cat, "column categories"))
                for cat, ent, src in _claims(c, "columns categories/entities/sources")
            ]
        except InputError as exc:
            out.bad(row.line, str(exc))
            continue
        for category, entity, ref, role in claims:
            ofac = _OFAC_ENTITY.match(entity)
            sanctioned = ofac is not None and role.category != "exchange"
            confidence = _confidence(ref)
            published = _claim_date(entity, ref)
            out.add(
                Tag(
                    chain=chain,
                    address=address,
                    tx_hash=None,
                    currency=c["chain"].upper(),
                    label=ofac.group(1) if ofac and sanctioned else _label(entity, role),
                    source=_source_url(ref),
                    confidence=confidence,
                    confidence_level=levels[confidence],
                    category="sanctioned" if sanctioned else role.category,
                    abuse="sanction" if sanctioned else role.abuse,
                    actor=role.actor,
                    context=context_json(
                        dprk_category=category,
                        entity=entity,
                        source_ref=ref,
                        format_check=c.get("format_check"),
                    ),
                    tag_type="actor",
                    programs=(ofac.group(2) or None) if ofac and sanctioned else None,
                    published=published,
                    line=row.line,
                )
            )
    return out.finish()
