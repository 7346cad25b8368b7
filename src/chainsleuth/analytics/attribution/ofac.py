"""OFAC SDN digital-currency addresses: every address becomes a `sanctioned` tag.

Each tag carries the SDN entry's name as label, its programs (e.g. "CYBER2, DPRK3"), the
list's publication date, abuse `sanction` and confidence `authority_data`, and the actor
whose label or alias matches the entry name or one of its AKAs. All SDN-wide formats share
one dataset (`ofac-sdn`), so importing a newer list reports what was added and removed.

Formats:
- SDN XML (`sdn.xml`): `sdnEntry` with `programList/program` and `idList/id` whose `idType`
  is "Digital Currency Address - XBT" (ETH, USDT, ...) and `idNumber` the address;
  publication date in `publshInformation/Publish_Date` (MM/DD/YYYY).
- SDN advanced XML (`sdn_advanced.xml`): `FeatureType` reference values named
  "Digital Currency Address - ...", `DistinctParty/Profile/Feature` with that FeatureTypeID
  and the address in `VersionDetail`; the name from the primary alias's name parts;
  programs from `SanctionsEntry/SanctionsMeasure/Comment`; date from `DateOfIssue`.
- Legacy SDN CSV (`sdn.csv`, no header): addresses inside the remarks column; a remark cut
  off mid-address (the CSV truncates long remarks) is skipped with a warning.
- Per-asset lists (`sanctioned_addresses_XBT.txt`, one address a line): no names.
- sdn-entities JSON (`{"metadata": ..., "addresses": {address: {entries: [...]}}}`): its
  keys are lower-cased, so a Base58 address gets its case back only from an address the
  store already knows (tags or the address dictionary); otherwise it is skipped, with a
  warning.
- `address,name` CSV of OFAC addresses (e.g. ultrasoundmoney's ETH list).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chainsleuth.analytics.attribution.currency import is_case_insensitive, resolve
from chainsleuth.analytics.attribution.marked import Problems
from chainsleuth.analytics.attribution.model import Dataset, Tag
from chainsleuth.analytics.attribution.taxonomy import confidence_levels
from chainsleuth.errors import InputError, ParseError

SDN_DATASET = "ofac-sdn"
FEATURE = re.compile(r"Digital Currency Address - ([A-Za-z0-9-]+)")
_IN_REMARKS = re.compile(r"Digital Currency Address - ([A-Za-z0-9-]+) ([^\s;]+)")
_LIST_NAME = re.compile(r"sanctioned_addresses_([A-Za-z0-9-]+)\.txt$")

ActorLookup = Callable[[Iterable[str]], str | None]
CaseLookup = Callable[[list[str]], dict[str, set[str]]]


@dataclass
class Listing:
    """One address as a sanctions source lists it."""

    asset: str
    address: str
    name: str
    programs: list[str]
    line: int
    where: str  # entry uid or row, for messages and provenance
    akas: list[str] = field(default_factory=list)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _children(elem: ET.Element, name: str) -> list[ET.Element]:
    return [c for c in elem.iter() if _local(c.tag) == name]


def _first_text(elem: ET.Element, name: str) -> str | None:
    found = _children(elem, name)
    return (found[0].text or "").strip() if found else None


def _mdy(text: str | None, where: str) -> dt.date | None:
    if not text:
        return None
    try:
        return dt.datetime.strptime(text.strip(), "%m/%d/%Y").date()
    except ValueError:
        raise ParseError(f"{where}: publication date {text!r} is not MM/DD/YYYY") from None


def _tags(
    listings: Iterable[Listing],
    ds: Dataset,
    source: str,
    actor_of: ActorLookup,
    skip_invalid: bool,
) -> Dataset:
    problems = Problems(ds.file)
    seen: dict[tuple[str, str], Tag] = {}
    level = confidence_levels()["authority_data"]
    for item in listings:
        try:
            chain, address = _resolve(item, ds)
        except InputError as exc:
            message = f"{str(exc).removeprefix(f'line {item.line}: ')} (listed as {item.asset})"
            if skip_invalid:
                ds.warnings.append(f"{ds.file}:{item.line}: {message}; skipped")
            else:
                problems.add(item.line, message)
            continue
        programs, actor = set(item.programs), actor_of([item.name, *item.akas])
        if (chain, address) in seen:  # one address under several SDN entries: one tag
            _merge(seen[(chain, address)], item, programs, actor)
            continue
        seen[(chain, address)] = Tag(
            chain=chain,
            address=address,
            tx_hash=None,
            currency=item.asset.upper(),
            label=item.name,
            source=f"{source}, {item.where}",
            confidence="authority_data",
            confidence_level=level,
            category="sanctioned",
            abuse="sanction",
            actor=actor,
            tag_type="actor",
            programs=", ".join(sorted(programs)) or None,
            published=ds.published,
            line=item.line,
        )
    problems.raise_if_any()
    ds.tags = list(seen.values())
    return ds


def _merge(tag: Tag, item: Listing, programs: set[str], actor: str | None) -> None:
    """Add another SDN entry's name, programs, reference and actor to an address's tag."""
    tag.actor = tag.actor or actor
    if item.name not in tag.label.split("; "):
        tag.label = f"{tag.label}; {item.name}"
        tag.source = f"{tag.source}; {item.where}"
    known = set((tag.programs or "").split(", ")) - {""}
    tag.programs = ", ".join(sorted(known | programs)) or None


# Chains tried when an address fails the check of the asset it is listed under.
_FALLBACKS = ("XBT", "ETH", "TRX")


def _resolve(item: Listing, ds: Dataset) -> tuple[str, str]:
    """(chain, address) of a listing. OFAC data has slips (a Tron address listed as XBT):
    an address that fails its listed asset but passes another chain's checksum is kept on
    that chain, with a warning, because dropping a sanctioned address is the worse error."""
    try:
        return resolve(item.asset, None, item.address, item.where)
    except InputError:
        for code in _FALLBACKS:
            try:
                found = resolve(code, None, item.address, item.where)
            except InputError:
                continue
            ds.warnings.append(
                f"{ds.file}:{item.line}: {item.address} is listed as {item.asset} but is a"
                f" valid {found[0]} address; stored on {found[0]}"
            )
            return found
        raise


def _parse_xml(data: bytes, file: str) -> ET.Element:
    try:
        return ET.fromstring(data)
    except ET.ParseError as exc:
        line, col = exc.position
        raise ParseError(f"{file}:{line}: malformed XML (column {col}); nothing imported") from None


def _sdn_xml_listings(root: ET.Element, file: str) -> tuple[dt.date | None, list[Listing]]:
    published = _mdy(_first_text(root, "Publish_Date"), file)
    out: list[Listing] = []
    for n, entry in enumerate(_children(root, "sdnEntry"), start=1):
        uid = _first_text(entry, "uid") or f"#{n}"
        last, first = _first_text(entry, "lastName") or "", _first_text(entry, "firstName")
        name = f"{last}, {first}" if first else last
        programs = [p.text.strip() for p in _children(entry, "program") if p.text]
        akas = [_first_text(a, "lastName") or "" for a in _children(entry, "aka")]
        for ident in _children(entry, "id"):
            kind = FEATURE.fullmatch(_first_text(ident, "idType") or "")
            number = _first_text(ident, "idNumber")
            if kind and number:
                out.append(Listing(kind.group(1), number, name, programs, n, f"entry {uid}", akas))
    return published, out


def _advanced_listings(root: ET.Element, file: str) -> tuple[dt.date | None, list[Listing]]:
    issue = next((e for e in root if _local(e.tag) == "DateOfIssue"), None)
    published = None
    if issue is not None:
        parts = [int(_first_text(issue, k) or 0) for k in ("Year", "Month", "Day")]
        published = dt.date(*parts)
    assets = {
        ft.get("ID", ""): m.group(1)
        for ft in _children(root, "FeatureType")
        if (m := FEATURE.fullmatch((ft.text or "").strip()))
    }
    program_types = {
        st.get("ID") for st in _children(root, "SanctionsType") if (st.text or "") == "Program"
    }
    programs: dict[str, list[str]] = {}
    for entry in _children(root, "SanctionsEntry"):
        for measure in _children(entry, "SanctionsMeasure"):
            if program_types and measure.get("SanctionsTypeID") not in program_types:
                continue
            comment = _first_text(measure, "Comment")
            if comment:
                programs.setdefault(entry.get("ProfileID", ""), []).append(comment)
    out: list[Listing] = []
    for n, profile in enumerate(_children(root, "Profile"), start=1):
        pid = profile.get("ID", f"#{n}")
        names = [
            " ".join(v.text.strip() for v in _children(alias, "NamePartValue") if v.text)
            for alias in _children(profile, "Alias")
        ]
        primary = [a for a in _children(profile, "Alias") if a.get("Primary") == "true"]
        name = (
            " ".join(v.text.strip() for v in _children(primary[0], "NamePartValue") if v.text)
            if primary
            else (names[0] if names else f"profile {pid}")
        )
        for feature in _children(profile, "Feature"):
            asset = assets.get(feature.get("FeatureTypeID", ""))
            address = _first_text(feature, "VersionDetail")
            if asset and address:
                out.append(
                    Listing(asset, address, name, programs.get(pid, []), n, f"profile {pid}", names)
                )
    return published, out


def parse_sdn_xml(
    data: bytes, file: str, actor_of: ActorLookup, *, skip_invalid: bool = False
) -> Dataset:
    """The SDN XML or SDN advanced XML (told apart by the root element)."""
    root = _parse_xml(data, file)
    advanced = _local(root.tag) != "sdnList"
    published, listings = (_advanced_listings if advanced else _sdn_xml_listings)(root, file)
    kind = "ofac-advanced-xml" if advanced else "ofac-xml"
    ds = Dataset(SDN_DATASET, kind, file, [], title="OFAC SDN list", published=published)
    source = f"OFAC SDN list {published or 'undated'} ({Path(file).name})"
    return _tags(listings, ds, source, actor_of, skip_invalid)


def parse_sdn_csv(
    text: str,
    file: str,
    actor_of: ActorLookup,
    *,
    published: dt.date | None = None,
    skip_invalid: bool = False,
) -> Dataset:
    """OFAC's legacy SDN CSV (ent_num, name, type, program, ..., remarks; no header; OFAC
    ends the file with a DOS end-of-file byte, 0x1A)."""
    text = text.rstrip("\r\n\x1a")
    ds = Dataset(SDN_DATASET, "ofac-sdn-csv", file, [], title="OFAC SDN list", published=published)
    listings: list[Listing] = []
    for n, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        if len(row) < 12:
            if any(cell.strip() for cell in row):
                raise ParseError(f"{file}:{n}: expected 12 SDN CSV columns, found {len(row)}")
            continue
        remarks = row[11]
        programs = [p.strip(" []") for p in row[3].split("] [") if p.strip(" []-0")]
        for m in _IN_REMARKS.finditer(remarks):
            if m.end() == len(remarks.rstrip()) and not remarks.rstrip().endswith("."):
                ds.warnings.append(f"{file}:{n}: remark truncated at {m.group(2)!r}; skipped")
                continue
            address = m.group(2).rstrip(".")
            listings.append(Listing(m.group(1), address, row[1], programs, n, f"entry {row[0]}"))
    source = f"OFAC SDN list {published or 'undated'} ({Path(file).name})"
    return _tags(listings, ds, source, actor_of, skip_invalid)


def parse_asset_list(
    text: str,
    file: str,
    actor_of: ActorLookup,
    *,
    asset: str | None = None,
    published: dt.date | None = None,
    skip_invalid: bool = False,
) -> Dataset:
    """A per-asset list of sanctioned addresses, one a line (0xB10C's format)."""
    match = _LIST_NAME.search(Path(file).name)
    code = asset or (match.group(1) if match else None)
    if code is None:
        raise InputError(f"{file}: cannot tell the asset of this list; pass --asset (e.g. XBT)")
    ds = Dataset(f"ofac-list-{code.upper()}", "ofac-list", file, [], published=published)
    ds.title = f"OFAC SDN {code.upper()} addresses"
    listings = [
        Listing(code, line.strip(), "OFAC SDN listed address", [], n, f"line {n}")
        for n, line in enumerate(text.splitlines(), start=1)
        if line.strip() and not line.startswith("#")
    ]
    return _tags(
        listings, ds, f"OFAC SDN {code.upper()} list ({Path(file).name})", actor_of, skip_invalid
    )


def parse_name_csv(
    text: str, file: str, actor_of: ActorLookup, *, skip_invalid: bool = False
) -> Dataset:
    """An `address,name` CSV of OFAC-listed Ethereum addresses."""
    ds = Dataset(f"ofac-csv-{Path(file).stem}", "ofac-csv", file, [], title="OFAC ETH addresses")
    reader = csv.DictReader(io.StringIO(text))
    listings = [
        Listing("ETH", row["address"], row["name"] or "OFAC SDN listed address", [], n, f"row {n}")
        for n, row in enumerate(reader, start=2)
    ]
    return _tags(listings, ds, f"OFAC SDN ({Path(file).name})", actor_of, skip_invalid)


def parse_sdn_entities(
    text: str,
    file: str,
    actor_of: ActorLookup,
    known_cases: CaseLookup,
    *,
    skip_invalid: bool = False,
) -> Dataset:
    """The sdn-entities JSON (address -> asset, SDN entries with names, programs, AKAs)."""
    try:
        doc: dict[str, Any] = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ParseError(f"{file}:{exc.lineno}: malformed JSON: {exc.msg}") from None
    meta = doc.get("metadata", {})
    published = _mdy(meta.get("sdnListDate"), file)
    ds = Dataset(SDN_DATASET, "ofac-sdn-json", file, [], title="OFAC SDN list", published=published)
    entries: dict[str, Any] = doc.get("addresses", {})
    restore = known_cases([a for a in entries if a == a.lower()])
    listings: list[Listing] = []
    for n, (key, record) in enumerate(entries.items(), start=1):
        kind = FEATURE.fullmatch(str(record.get("type", "")))
        if not kind:
            raise ParseError(f"{file}: address {key!r} has no 'Digital Currency Address' type")
        address = _restore_case(kind.group(1), key, restore)
        if address is None:
            ds.warnings.append(f"{file}: {key} ({kind.group(1)}) lost its letter case; skipped")
            continue
        people = record.get("entries", [])
        name = "; ".join(dict.fromkeys(str(e.get("entity", "")) for e in people)) or key
        programs = [p.strip() for e in people for p in str(e.get("program", "")).split(",")]
        akas = [str(a) for e in people for a in e.get("akas", [])]
        uids = ", ".join(str(e.get("uid", "")) for e in people)
        listings.append(Listing(kind.group(1), address, name, programs, n, f"entry {uids}", akas))
    source = f"OFAC SDN list {published or 'undated'} ({Path(file).name})"
    return _tags(listings, ds, source, actor_of, skip_invalid)


def _restore_case(asset: str, key: str, known: dict[str, set[str]]) -> str | None:
    if key != key.lower():
        return key
    try:
        chain, _ = resolve(asset, None, key, "")
    except InputError:
        chain = ""
    if chain and is_case_insensitive(chain, key):
        return key
    found = known.get(key, set())
    return next(iter(found)) if len(found) == 1 else None
