"""GraphSense TagPack YAML, both directions.

A TagPack is a header (title, creator, description, is_public, tags) whose other fields
every tag inherits unless it sets its own. Mandatory per tag after inheritance: label,
source, currency, and exactly one of address / tx_hash; `network` defaults to the currency.
Validation collects every error with its line number (unknown field, category, abuse,
concept, confidence or currency; bad address or checksum for the stated network; missing
mandatory field; the same address twice with different labels) and a pack with any error
imports nothing.

One deliberate leniency: a tag without any `confidence` (GraphSense's public `ofac.yaml`)
gets `unknown` (level 5, "source and reliability unknown") and a warning, not an error.

Schema: graphsense/graphsense-tagpack-tool, src/tagpack/conf/tagpack_schema.yaml.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import yaml

from chainsleuth.analytics.attribution.currency import display, options, resolve
from chainsleuth.analytics.attribution.marked import (
    Field,
    Problems,
    compose,
    line_of,
    mapping,
)
from chainsleuth.analytics.attribution.model import Dataset, Tag
from chainsleuth.analytics.attribution.taxonomy import (
    TAG_TYPES,
    UNKNOWN_CONFIDENCE,
    chain_checks,
    chain_codes,
    concepts,
    confidence_levels,
    currencies,
)
from chainsleuth.errors import InputError

HEADER_ONLY = frozenset({"title", "creator", "description", "owner", "is_public", "tags"})
TAG_FIELDS = frozenset(
    {
        "label",
        "source",
        "currency",
        "network",
        "context",
        "confidence",
        "is_cluster_definer",
        "lastmod",
        "category",
        "abuse",
        "address",
        "tx_hash",
        "actor",
        "concepts",
        "tag_type",
    }
)
MANDATORY_HEADER = ("title", "creator", "tags")
MANDATORY_TAG = ("label", "source", "currency")


def parse_tagpack(
    text: str, file: str, tagpack: str | None = None, *, skip_invalid: bool = False
) -> Dataset:
    """Validate a TagPack and return its tags; ParseError listing every error otherwise.

    With `skip_invalid`, a tag with errors is left out and its errors become warnings
    (header and YAML errors still fail the pack): for imperfect third-party packs.
    """
    problems = Problems(file)
    root = compose(text, file)
    header = mapping(root, problems, "the TagPack header")
    for key, fld in header.items():
        if key not in HEADER_ONLY and key not in TAG_FIELDS:
            problems.add(fld.line, f"unknown header field {key!r}")
    for key in MANDATORY_HEADER:
        if key not in header:
            problems.add(line_of(root), f"missing mandatory header field {key!r}")
    inherited = {k: f for k, f in header.items() if k in TAG_FIELDS}
    is_public = _boolean(header.get("is_public"), True, problems)
    dataset = Dataset(
        tagpack=tagpack or Path(file).stem,
        kind="tagpack",
        file=file,
        tags=[],
        title=_text(header.get("title")),
        creator=_text(header.get("creator")),
    )
    tags_field = header.get("tags")
    if tags_field is not None:
        node = tags_field.value
        if not isinstance(node, yaml.SequenceNode) or not node.value:
            problems.add(tags_field.line, "'tags' must be a non-empty list")
        else:
            seen: dict[tuple[str, str], list[Tag]] = {}
            for item in node.value:
                own = Problems(file)
                tag = _tag(item, inherited, is_public, own, dataset)
                if tag is not None:
                    _dedupe(tag, seen, own, dataset)
                if skip_invalid:
                    dataset.warnings += [f"{file}:{n}: {m}; tag skipped" for n, m in own.errors]
                else:
                    problems.errors += own.errors
            dataset.tags = [t for group in seen.values() for t in group]
    problems.raise_if_any()
    return dataset


def _text(fld: Field | None) -> str | None:
    if fld is None or fld.value is None:
        return None
    return str(fld.value).strip() or None


def _boolean(fld: Field | None, default: bool, problems: Problems) -> bool:
    if fld is None:
        return default
    if isinstance(fld.value, bool):
        return fld.value
    problems.add(fld.line, f"expected true or false, got {fld.value!r}")
    return default


def _lastmod(fld: Field | None, problems: Problems) -> dt.datetime | None:
    if fld is None or fld.value is None:
        return None
    v = fld.value
    if isinstance(v, dt.datetime):
        return v.replace(tzinfo=None)
    if isinstance(v, dt.date):
        return dt.datetime(v.year, v.month, v.day)
    try:
        return dt.datetime.fromisoformat(str(v).strip()).replace(tzinfo=None)
    except ValueError:
        problems.add(fld.line, f"lastmod {v!r} is not a date (YYYY-MM-DD[ HH:MM:SS])")
        return None


def _concept(fld: Field | None, what: str, problems: Problems) -> str | None:
    name = _text(fld)
    if name is not None and fld is not None and name not in concepts():
        problems.add(fld.line, f"unknown {what} {name!r} (not in the concepts taxonomy)")
    return name


def _concept_list(fld: Field | None, problems: Problems) -> list[str]:
    if fld is None or fld.value is None:
        return []
    items = fld.value if isinstance(fld.value, list) else [fld.value]
    known = concepts()
    for item in items:
        if str(item) not in known:
            problems.add(fld.line, f"unknown concept {item!r} (not in the concepts taxonomy)")
    return [str(i) for i in items]


def _context(fld: Field | None) -> str | None:
    if fld is None or fld.value is None:
        return None
    v = fld.value
    return v if isinstance(v, str) else json.dumps(v, sort_keys=True, default=str)


def _tag(
    item: yaml.Node, inherited: dict[str, Field], is_public: bool, problems: Problems, ds: Dataset
) -> Tag | None:
    line = line_of(item)
    own = mapping(item, problems, f"tag at line {line}")
    for key, fld in own.items():
        if key not in TAG_FIELDS:
            problems.add(fld.line, f"unknown tag field {key!r}")
    f = {**inherited, **own}
    for key in MANDATORY_TAG:
        if _text(f.get(key)) is None:
            problems.add(line, f"tag misses mandatory field {key!r} (not in the tag nor header)")
    address, tx_hash = _text(f.get("address")), _text(f.get("tx_hash"))
    if (address is None) == (tx_hash is None):
        problems.add(line, "tag needs exactly one of 'address' and 'tx_hash'")
    confidence = _text(f.get("confidence"))
    if confidence is None:
        confidence = UNKNOWN_CONFIDENCE
        ds.warnings.append(f"{ds.file}:{line}: no confidence; using {UNKNOWN_CONFIDENCE!r}")
    elif confidence not in confidence_levels():
        problems.add(f["confidence"].line, f"unknown confidence {confidence!r}")
    category = _concept(f.get("category"), "category", problems)
    abuse = _concept(f.get("abuse"), "abuse", problems)
    tag_concepts = _concept_list(f.get("concepts"), problems)
    tag_type = _text(f.get("tag_type"))
    if tag_type is not None and tag_type not in TAG_TYPES:
        problems.add(f["tag_type"].line, f"unknown tag_type {tag_type!r}")
    lastmod = _lastmod(f.get("lastmod"), problems)
    definer = _boolean(f.get("is_cluster_definer"), False, problems)
    currency = (_text(f.get("currency")) or "").upper()
    network = _text(f.get("network"))
    chain, subject = "", ""
    if currency and (address or tx_hash):
        fld = f.get("address") or f.get("tx_hash") or f["currency"]
        try:
            if address is not None:
                chain, subject = resolve(currency, network, address, f"line {fld.line}")
            else:
                chain = options(network or currency, f"line {fld.line}")[0].chain
                subject = _tx_hash(tx_hash or "", chain, f"line {fld.line}")
        except InputError as exc:
            problems.add(fld.line, str(exc).removeprefix(f"line {fld.line}: "))
    if problems.errors:
        return None
    return Tag(
        chain=chain,
        address=subject if address is not None else None,
        tx_hash=subject if tx_hash is not None else None,
        currency=currency,
        label=_text(f.get("label")) or "",
        source=_text(f.get("source")) or "",
        confidence=confidence,
        confidence_level=confidence_levels()[confidence],
        category=category,
        abuse=abuse,
        actor=_text(f.get("actor")),
        is_cluster_definer=definer,
        is_public=is_public,
        lastmod=lastmod,
        context=_context(f.get("context")),
        concepts=tag_concepts,
        tag_type=tag_type,
        line=line,
    )


_TX_HASH = re.compile(r"(0x)?[0-9a-f]{64}")


def _tx_hash(text: str, chain: str, where: str) -> str:
    """A transaction hash in stored form: lowercase hex, 0x-prefixed on EVM chains."""
    body = text.strip().lower()
    if not _TX_HASH.fullmatch(body):
        raise InputError(f"{where}: {text!r} is not a transaction hash (64 hex digits)")
    body = body.removeprefix("0x")
    return "0x" + body if chain_checks().get(chain) == "evm" else body


def _dedupe(
    tag: Tag, seen: dict[tuple[str, str], list[Tag]], problems: Problems, ds: Dataset
) -> None:
    """Record `tag` unless it repeats one already seen (same subject, currency and source):
    an identical repeat is a warning, the same label spelled differently (GraphSense's
    duplicate tag) an error. Different labels, or one label from different sources, are
    several tags (as in GraphSense); `tags conflicts` lists the incompatible ones."""
    others = seen.setdefault(tag.key(), [])
    for other in others:
        where = f"at line {other.line}"
        same_claim = other.currency == tag.currency and other.source == tag.source
        if same_claim and other.label.casefold() == tag.label.casefold():
            if other.label == tag.label:
                ds.warnings.append(f"{ds.file}:{tag.line}: repeats the tag {where}; skipped")
                return
            problems.add(
                tag.line or 0,
                f"duplicate tag: {tag.key()[1]} is labelled {tag.label!r} here and "
                f"{other.label!r} {where}",
            )
            return
    others.append(tag)


def dump_tagpack(
    tags: list[dict[str, Any]], *, title: str, creator: str, description: str | None = None
) -> str:
    """A TagPack of `tags` (rows of the `tags` table).

    Fields shared by every tag move to the header, as in a hand-written pack. The pack is
    public only if every tag is. OFAC programs and publication dates have no TagPack field:
    the csv and json exports carry them.
    """
    body = [_tag_fields(t) for t in tags]
    shared: dict[str, Any] = {}
    if body:
        for key, val in body[0].items():
            if key not in ("address", "tx_hash") and all(b.get(key, None) == val for b in body):
                shared[key] = val
    header: dict[str, Any] = {"title": title, "creator": creator}
    if description:
        header["description"] = description
    header["is_public"] = all(bool(t["is_public"]) for t in tags)
    header.update(shared)
    header["tags"] = [{k: v for k, v in b.items() if k not in shared} for b in body]
    return yaml.dump(header, Dumper=_dumper(), sort_keys=False, allow_unicode=True, width=100)


def _tag_fields(t: dict[str, Any]) -> dict[str, Any]:
    chain, currency = t["chain"], t["currency"]
    own_chain = currencies().get(currency, ())
    network = None if own_chain and own_chain[0].chain == chain else chain_codes()[chain]
    out: dict[str, Any] = {}
    if t.get("address") is not None:
        out["address"] = display(chain, t["address"])
    else:
        out["tx_hash"] = t["tx_hash"]
    out["currency"] = currency
    if network:
        out["network"] = network
    out["label"] = t["label"]
    out["source"] = t["source"]
    out["confidence"] = t["confidence"]
    out["is_cluster_definer"] = bool(t["is_cluster_definer"])
    for key in ("category", "abuse", "actor", "tag_type", "context"):
        if t.get(key) is not None:
            out[key] = t[key]
    if t.get("concepts"):
        out["concepts"] = list(t["concepts"])
    if t.get("lastmod") is not None:
        out["lastmod"] = t["lastmod"]
    return out


def _dumper() -> Any:
    return getattr(yaml, "CSafeDumper", yaml.SafeDumper)
