"""chainsleuth's own tag exchange formats: CSV and JSON with every tag column.

Both carry what TagPacks cannot (OFAC programs, publication dates) and the dataset of
origin (`tagpack`), so `tags export` followed by `tags import` restores the same tags.
Addresses are re-validated on import, like any other source.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterable
from typing import Any

from chainsleuth.analytics.attribution.currency import display, validate_on
from chainsleuth.analytics.attribution.marked import Problems
from chainsleuth.analytics.attribution.model import Dataset, Tag
from chainsleuth.analytics.attribution.taxonomy import concepts, confidence_levels
from chainsleuth.errors import InputError, ParseError
from chainsleuth.interfaces.output import to_jsonable

EXPORT_COLUMNS = (
    "chain",
    "address",
    "tx_hash",
    "currency",
    "label",
    "category",
    "abuse",
    "actor",
    "source",
    "confidence",
    "confidence_level",
    "is_cluster_definer",
    "is_public",
    "lastmod",
    "context",
    "concepts",
    "tag_type",
    "programs",
    "published",
    "tagpack",
)


def export_rows(tags: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Stored tag rows as exported: EIP-55 addresses on EVM chains, JSON-ready values."""
    out = []
    for t in tags:
        row = {c: t.get(c) for c in EXPORT_COLUMNS}
        if row["address"] is not None:
            row["address"] = display(str(row["chain"]), str(row["address"]))
        row["concepts"] = list(row["concepts"] or [])
        out.append(to_jsonable(row))
    return out


def to_csv(tags: Iterable[dict[str, Any]]) -> str:
    """CSV text (header + one row per tag; concepts joined by '|')."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=EXPORT_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in export_rows(tags):
        row["concepts"] = "|".join(row["concepts"])
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return buf.getvalue()


def to_json(tags: Iterable[dict[str, Any]]) -> str:
    """JSON text: {"tags": [...]}."""
    return json.dumps({"tags": export_rows(tags)}, indent=1, ensure_ascii=False) + "\n"


def _opt(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def _bool(value: Any, where: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1"):
        return True
    if text in ("false", "0"):
        return False
    raise InputError(f"{where}: expected true or false, got {value!r}")


def _tag(row: dict[str, Any], where: str) -> Tag:
    for key in ("chain", "currency", "label", "source", "confidence", "tagpack"):
        if not _opt(row.get(key)):
            raise InputError(f"{where}: missing {key!r}")
    confidence = str(row["confidence"])
    if confidence not in confidence_levels():
        raise InputError(f"{where}: unknown confidence {confidence!r}")
    for key in ("category", "abuse"):
        if _opt(row.get(key)) and row[key] not in concepts():
            raise InputError(f"{where}: unknown {key} {row[key]!r}")
    raw_concepts = row.get("concepts") or []
    tag_concepts = raw_concepts.split("|") if isinstance(raw_concepts, str) else raw_concepts
    address, tx_hash = _opt(row.get("address")), _opt(row.get("tx_hash"))
    chain = str(row["chain"])
    if address is not None:
        address = validate_on(chain, address, where)
    lastmod, published = _opt(row.get("lastmod")), _opt(row.get("published"))
    return Tag(
        chain=chain,
        address=address,
        tx_hash=tx_hash,
        currency=str(row["currency"]),
        label=str(row["label"]),
        source=str(row["source"]),
        confidence=confidence,
        confidence_level=confidence_levels()[confidence],
        category=_opt(row.get("category")),
        abuse=_opt(row.get("abuse")),
        actor=_opt(row.get("actor")),
        is_cluster_definer=_bool(row.get("is_cluster_definer", False), where),
        is_public=_bool(row.get("is_public", True), where),
        lastmod=dt.datetime.fromisoformat(lastmod.rstrip("Z")) if lastmod else None,
        context=_opt(row.get("context")),
        concepts=[str(c) for c in tag_concepts if c],
        tag_type=_opt(row.get("tag_type")),
        programs=_opt(row.get("programs")),
        published=dt.date.fromisoformat(published) if published else None,
    )


def _datasets(records: Iterable[tuple[int, dict[str, Any]]], file: str, kind: str) -> list[Dataset]:
    problems = Problems(file)
    by_pack: dict[str, Dataset] = {}
    for line, row in records:
        try:
            tag = _tag(row, f"{file}:{line}")
        except InputError as exc:
            problems.add(line, str(exc).split(": ", 1)[-1])
            continue
        tag.line = line
        pack = str(row["tagpack"])
        by_pack.setdefault(pack, Dataset(pack, kind, file, [])).tags.append(tag)
    problems.raise_if_any()
    return list(by_pack.values())


def parse_csv(text: str, file: str) -> list[Dataset]:
    """Datasets (one per `tagpack` value) of a chainsleuth tags CSV."""
    reader = csv.DictReader(io.StringIO(text))
    return _datasets(((n, r) for n, r in enumerate(reader, start=2)), file, "tags-csv")


def parse_json(text: str, file: str) -> list[Dataset]:
    """Datasets (one per `tagpack` value) of a chainsleuth tags JSON."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ParseError(f"{file}:{exc.lineno}: malformed JSON: {exc.msg}") from None
    items = doc.get("tags") if isinstance(doc, dict) else None
    if not isinstance(items, list):
        raise ParseError(f'{file}: expected {{"tags": [...]}}')
    return _datasets(((n, r) for n, r in enumerate(items, start=1)), file, "tags-json")
