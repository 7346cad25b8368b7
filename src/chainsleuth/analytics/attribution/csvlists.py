"""Address lists published as CSV: FBI notices, Forta's Etherscan labels, the DPRK list.

Three kinds, told apart by their header (`detect_csv`):

- `fbi-csv`: transcriptions of FBI-published DPRK addresses (columns address, chain,
  publisher, publication, and optionally incident, published_date, note, format_check).
  Every FBI notice in these files attributes the theft to the DPRK (Lazarus Group /
  TraderTraitor), so each address is tagged category `perpetrator`, abuse `service_hack`,
  actor `lazarusgroup`, confidence `authority_data`; source = the URL in `publication`, else
  the publication as written; `published` (and `lastmod`) = `published_date`, else the
  date written in the publication.
- `forta-csv`: forta-network/labelled-datasets, Etherscan's malicious labels. Layouts:
  `banned_address,wallet_tag,data_source` (etherscan-heist/exploit/phish-hack-list),
  `address,etherscan_tag,etherscan_labels,is_contract` (phishing) and
  `contract_address,contract_tag,contract_creator,...` (malicious contracts: the contract,
  and its deployer when Etherscan labels the deployer). Category `perpetrator`, abuse
  `service_hack` (heist, exploit) or `phishing` (phish-hack), confidence `web_crawl` (as the
  other explorer labels), source the explorer page of the address. The chain comes from the
  chain-id directory (`labels/1/` Ethereum, `labels/10/` Optimism, ...). Rows repeating a
  tag (the same address in another letter case, same label) are stored once.
- `dprk-combined-csv`: `dprk_attributed_addresses_combined.csv` (address, chain, categories,
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

Addresses are checked per chain with `currency.resolve` (Base58Check/bech32, EIP-55, Tron);
every bad row is reported with its file and line and the file imports nothing, unless
`skip_invalid`, which leaves bad rows out and lists them as warnings.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from chainsleuth.analytics.attribution.currency import resolve
from chainsleuth.analytics.attribution.labels import CATEGORIES, EXPLORERS
from chainsleuth.analytics.attribution.marked import Problems
from chainsleuth.analytics.attribution.model import Dataset, Tag
from chainsleuth.analytics.attribution.taxonomy import chain_codes, confidence_levels
from chainsleuth.errors import InputError, ParseError

LAZARUS = "lazarusgroup"
KIND_FBI = "fbi-csv"
KIND_FORTA = "forta-csv"
KIND_DPRK = "dprk-combined-csv"

_FBI_COLUMNS = frozenset({"address", "chain", "publisher", "publication"})
_DPRK_COLUMNS = frozenset({"address", "chain", "categories", "entities_or_incidents", "sources"})
_FORTA_LAYOUTS: dict[str, frozenset[str]] = {
    "banned_address": frozenset({"banned_address", "wallet_tag", "data_source"}),
    "address": frozenset({"address", "etherscan_tag", "etherscan_labels"}),
    "contract_address": frozenset({"contract_address", "contract_tag", "contract_creator"}),
}
# EVM chain id (Forta's directory names) -> chain
CHAIN_IDS = {
    "1": "ethereum",
    "10": "optimism",
    "56": "bsc",
    "137": "polygon",
    "250": "fantom",
    "42161": "arbitrum",
    "43114": "avalanche",
}
_HOSTS = dict(EXPLORERS.values())
_DATE = re.compile(r"\b(\d{4}-\d{2}-\d{2})\b")
_URL = re.compile(r"https?://\S+")
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


def detect_csv(header: list[str]) -> str | None:
    """The kind of a CSV from its header row, or None when it is none of these lists."""
    columns = {c.strip().lower() for c in header}
    if columns >= _DPRK_COLUMNS:
        return KIND_DPRK
    if columns >= _FBI_COLUMNS:
        return KIND_FBI
    if any(columns >= layout for layout in _FORTA_LAYOUTS.values()):
        return KIND_FORTA
    return None


@dataclass
class _Row:
    line: int
    cells: dict[str, str]
    error: str | None = None  # a row of the wrong width


def _rows(text: str, file: str, required: frozenset[str]) -> Iterator[_Row]:
    """The data rows (with the line each ends on) of a CSV file with `required` columns."""
    reader = csv.reader(io.StringIO(text))
    try:
        header = [c.strip().lower() for c in next(reader)]
    except StopIteration:
        raise ParseError(f"{file}: empty file; nothing imported") from None
    except csv.Error as exc:
        raise ParseError(f"{file}:1: malformed CSV: {exc}; nothing imported") from None
    missing = sorted(required - set(header))
    if missing:
        raise ParseError(f"{file}:1: missing column(s) {', '.join(missing)}; nothing imported")

    def rows() -> Iterator[_Row]:
        try:
            for cells in reader:
                if not any(c.strip() for c in cells):
                    continue
                if len(cells) != len(header):
                    width = f"expected {len(header)} columns, found {len(cells)}"
                    yield _Row(reader.line_num, {}, width)
                    continue
                cells = [c.strip() for c in cells]
                yield _Row(reader.line_num, dict(zip(header, cells, strict=True)))
        except csv.Error as exc:
            raise ParseError(
                f"{file}:{reader.line_num}: malformed CSV: {exc}; nothing imported"
            ) from None

    return rows()


class _Collector:
    """Tags of one file: errors by line (or warnings with `skip_invalid`), repeats once."""

    def __init__(self, ds: Dataset, skip_invalid: bool) -> None:
        self.ds, self.skip_invalid = ds, skip_invalid
        self.problems = Problems(ds.file)
        self.seen: dict[tuple[str, str, str, str], int] = {}
        self.repeats: list[tuple[int, int]] = []

    def bad(self, line: int, message: str) -> None:
        if self.skip_invalid:
            self.ds.warnings.append(f"{self.ds.file}:{line}: {message}; skipped")
        else:
            self.problems.add(line, message)

    def add(self, tag: Tag) -> None:
        key = (tag.chain, tag.address or "", tag.label, tag.source)
        if key in self.seen:
            self.repeats.append((tag.line or 0, self.seen[key]))
            return
        self.seen[key] = tag.line or 0
        self.ds.tags.append(tag)

    def rows(self, rows: Iterator[_Row]) -> Iterator[_Row]:
        """The well-formed rows; a row of the wrong width is reported (the rest still read)."""
        for row in rows:
            if row.error:
                self.bad(row.line, row.error)
            else:
                yield row

    def finish(self) -> Dataset:
        self.problems.raise_if_any()
        if self.repeats:
            line, first = self.repeats[0]
            self.ds.warnings.append(
                f"{self.ds.file}: {len(self.repeats)} tag(s) repeat an earlier tag (same"
                f" address and label, e.g. line {line} repeats line {first}); stored once"
            )
        return self.ds


def _address(code: str, address: str, column: str) -> tuple[str, str]:
    """(chain, stored address) of `address` listed under currency/chain `code`."""
    if not address:
        raise InputError(f"column {column}: empty address")
    return resolve(code, None, address, f"column {column}")


def _date(text: str) -> dt.date | None:
    match = _DATE.search(text)
    if not match:
        return None
    try:
        return dt.date.fromisoformat(match.group(1))
    except ValueError:
        return None


def _midnight(day: dt.date | None) -> dt.datetime | None:
    return dt.datetime(day.year, day.month, day.day) if day else None


def _context(**fields: str | None) -> str | None:
    kept = {k: v for k, v in fields.items() if v}
    return json.dumps(kept, ensure_ascii=False) if kept else None


# --- FBI -------------------------------------------------------------------------------


def parse_fbi(text: str, file: str, *, skip_invalid: bool = False) -> Dataset:
    """A transcribed FBI list of DPRK addresses (address, chain, publisher, publication...)."""
    rows = _rows(text, file, _FBI_COLUMNS)
    ds = Dataset(Path(file).stem, KIND_FBI, file, [], creator="FBI")
    out = _Collector(ds, skip_invalid)
    level = confidence_levels()["authority_data"]
    for row in out.rows(rows):
        c = row.cells
        try:
            chain, address = _address(c["chain"], c["address"], "address")
            if not c["publication"]:
                raise InputError("column publication: empty (the FBI notice is the source)")
            given = c.get("published_date", "")
            published = _date(given) if given else _date(c["publication"])
            if given and published is None:
                raise InputError(f"column published_date: {given!r} is not a date (YYYY-MM-DD)")
        except InputError as exc:
            out.bad(row.line, str(exc))
            continue
        url = _URL.search(c["publication"])
        incident = c.get("incident", "")
        ds.title = ds.title or c["publication"]
        ds.published = max(filter(None, (ds.published, published)), default=None)
        out.add(
            Tag(
                chain=chain,
                address=address,
                tx_hash=None,
                currency=c["chain"].upper(),
                label=f"Lazarus Group ({incident})" if incident else "Lazarus Group",
                source=url.group(0) if url else c["publication"],
                confidence="authority_data",
                confidence_level=level,
                category="perpetrator",
                abuse="service_hack",
                actor=LAZARUS,
                lastmod=_midnight(published),
                context=_context(
                    incident=incident,
                    publisher=c["publisher"],
                    publication=c["publication"],
                    note=c.get("note"),
                ),
                tag_type="actor",
                published=published,
                line=row.line,
            )
        )
    return out.finish()


# --- Forta -----------------------------------------------------------------------------


def forta_chain(file: str) -> str:
    """The chain of a Forta labels file, from its chain-id directory (default Ethereum)."""
    parent = Path(file).parent.name
    if parent.isdigit():
        if parent not in CHAIN_IDS:
            raise InputError(f"{file}: unknown EVM chain id {parent} (directory name)")
        return CHAIN_IDS[parent]
    return "ethereum"


def _slug_role(slugs: list[str], where: str) -> tuple[str, str | None]:
    """(category, abuse) of Etherscan label slugs (heist, exploit, phish-hack)."""
    for slug in slugs:
        if slug in CATEGORIES:
            return CATEGORIES[slug]
    raise InputError(f"{where}: no known Etherscan label in {slugs!r} (heist, exploit, phish-hack)")


def parse_forta(text: str, file: str, *, skip_invalid: bool = False) -> Dataset:
    """One of Forta's labelled-datasets CSVs (malicious labels, phishing, contracts)."""
    first = next(csv.reader(io.StringIO(text)), [])
    columns = {c.strip().lower() for c in first}
    layout = next((k for k, cols in _FORTA_LAYOUTS.items() if cols <= columns), None)
    if layout is None:
        raise ParseError(f"{file}:1: not a Forta labelled-datasets header; nothing imported")
    chain = forta_chain(file)
    code, host = chain_codes()[chain], _HOSTS.get(chain, "etherscan.io")
    rows = _rows(text, file, _FORTA_LAYOUTS[layout])
    stem = Path(file).stem
    ds = Dataset(f"forta-{chain}-{stem}", KIND_FORTA, file, [], title=f"Forta {stem} ({chain})")
    ds.creator = "forta-network/labelled-datasets"
    out = _Collector(ds, skip_invalid)
    level = confidence_levels()["web_crawl"]

    def tag(line: int, address: str, label: str, role: tuple[str, str | None], **ctx: str) -> Tag:
        return Tag(
            chain=chain,
            address=address,
            tx_hash=None,
            currency=code,
            label=label,
            source=f"https://{host}/address/{address}",
            confidence="web_crawl",
            confidence_level=level,
            category=role[0],
            abuse=role[1],
            context=_context(dataset=f"forta-network/labelled-datasets {stem}.csv", **ctx),
            line=line,
        )

    for row in out.rows(rows):
        c = row.cells
        try:
            if layout == "banned_address":
                slug = c["data_source"].removeprefix("etherscan-").removesuffix("-list")
                role = _slug_role([slug], "column data_source")
                _, address = _address(code, c["banned_address"], "banned_address")
                found = [tag(row.line, address, c["wallet_tag"] or slug, role, list=slug)]
            elif layout == "address":
                slugs = re.split(r"[\s,;|]+", c["etherscan_labels"].strip())
                role = _slug_role(slugs, "column etherscan_labels")
                _, address = _address(code, c["address"], "address")
                label = c["etherscan_tag"] or slugs[0]
                ctx = {"labels": c["etherscan_labels"], "is_contract": c.get("is_contract", "")}
                found = [tag(row.line, address, label, role, **ctx)]
            else:
                found = _contract_tags(row, code, tag)
        except InputError as exc:
            out.bad(row.line, str(exc))
            continue
        for t in found:
            out.add(t)
    return out.finish()


def _contract_tags(row: _Row, code: str, tag: Callable[..., Tag]) -> list[Tag]:
    """A malicious contract, and its deployer when Etherscan labels the deployer."""
    c = row.cells
    slug = c.get("contract_creator_etherscan_label", "")
    role: tuple[str, str | None] = ("perpetrator", None)
    if slug:
        role = _slug_role([slug], "column contract_creator_etherscan_label")
    _, contract = _address(code, c["contract_address"], "contract_address")
    _, creator = _address(code, c["contract_creator"], "contract_creator")
    creator_label = c.get("contract_creator_tag", "")
    label = c["contract_tag"] or (f"{creator_label}: contract" if creator_label else "")
    ctx = {"source": c.get("source", ""), "notes": c.get("notes", ""), "deployer": creator}
    found = [tag(row.line, contract, label or "Malicious contract", role, **ctx)]
    if slug:
        found.append(
            tag(row.line, creator, creator_label or f"Etherscan {slug}", role, deployed=contract)
        )
    return found


# --- DPRK combined list ----------------------------------------------------------------


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
        return _date(ref)  # the SDN list's date
    match = re.search(r"\b(?:FBI|OFAC) (\d{4}-\d{2}-\d{2})\b", entity)
    return _date(match.group(1)) if match else None


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
    rows = _rows(text, file, _DPRK_COLUMNS)
    ds = Dataset(Path(file).stem, KIND_DPRK, file, [], title="DPRK-attributed addresses")
    out = _Collector(ds, skip_invalid)
    levels = confidence_levels()
    for row in out.rows(rows):
        c = row.cells
        try:
            chain, address = _address(c["chain"], c["address"], "address")
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
                    context=_context(
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
