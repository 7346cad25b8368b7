"""`tags import`: tell what a file is, parse it, and store it (each dataset atomically).

Kinds: tagpack, actorpack (YAML); ofac-xml (SDN XML or advanced XML); ofac-list (one
address a line, `sanctioned_addresses_XBT.txt`); ofac-sdn-csv (legacy SDN CSV); ofac-csv
(`address,name`); sdn-entities (JSON); etherscan-labels (JSON); fbi-csv, forta-csv and
dprk-combined-csv (address lists, `csvlists/`); tags-csv and tags-json (chainsleuth's
own exports).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import duckdb

from chainsleuth.analytics.attribution import csvlists, formats, labels, ofac
from chainsleuth.analytics.attribution.actors import (
    name_index,
    normalise_name,
    parse_actorpack,
    save_actors,
)
from chainsleuth.analytics.attribution.jurisdictions import check_jurisdictions
from chainsleuth.analytics.attribution.model import Dataset, ImportResult
from chainsleuth.analytics.attribution.store import known_cases, save_dataset
from chainsleuth.analytics.attribution.tagpack import parse_tagpack
from chainsleuth.errors import InputError

KINDS = (
    "tagpack",
    "actorpack",
    "ofac-xml",
    "ofac-list",
    "ofac-sdn-csv",
    "ofac-csv",
    "sdn-entities",
    "etherscan-labels",
    csvlists.KIND_FBI,
    csvlists.KIND_FORTA,
    csvlists.KIND_DPRK,
    "tags-csv",
    "tags-json",
)


def detect(path: Path, text: str) -> str:
    """The kind of a file, from its extension and first bytes."""
    suffix = path.suffix.lower()
    head = text.lstrip("\ufeff")[:4096]
    if suffix in (".yaml", ".yml"):
        lines = {line.split(":", 1)[0] for line in text.splitlines() if line[:1].isalpha()}
        if "actors" in lines:
            return "actorpack"
        if "tags" in lines:
            return "tagpack"
    elif suffix == ".xml" or head.lstrip().startswith("<"):
        return "ofac-xml"
    elif suffix == ".txt":
        return "ofac-list"
    elif suffix == ".json":
        return _json_kind(path, text)
    elif suffix == ".csv":
        first = head.splitlines()[0] if head else ""
        if first.startswith("chain,address"):
            return "tags-csv"
        if first.replace('"', "").lower().startswith("address,name"):
            return "ofac-csv"
        if first.split(",", 1)[0].strip().isdigit():
            return "ofac-sdn-csv"
        listed = csvlists.detect_csv(next(csv.reader(io.StringIO(first)), []))
        if listed:
            return listed
    raise InputError(
        f"{path}: cannot tell what kind of file this is; pass --kind ({', '.join(KINDS)})"
    )


def _json_kind(path: Path, text: str) -> str:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}:{exc.lineno}: malformed JSON: {exc.msg}") from None
    if isinstance(doc, dict):
        if "addresses" in doc and "metadata" in doc:
            return "sdn-entities"
        if isinstance(doc.get("tags"), list):
            return "tags-json"
        first = next(iter(doc.values()), None)
        if isinstance(first, dict) and "labels" in first:
            return "etherscan-labels"
    raise InputError(f"{path}: unrecognised JSON layout; pass --kind ({', '.join(KINDS)})")


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text (byte {exc.start})") from None


def parse(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    kind: str,
    text: str,
    *,
    skip_invalid: bool = False,
    asset: str | None = None,
    published: dt.date | None = None,
) -> list[Dataset]:
    """The datasets in one file of `kind` (nothing is stored)."""
    file = str(path)
    index = name_index(con)

    def actor_of(names: Iterable[str]) -> str | None:
        return next((index[n] for n in map(normalise_name, names) if n in index), None)

    if kind == "tagpack":
        return [parse_tagpack(text, file, skip_invalid=skip_invalid)]
    if kind == "ofac-xml":
        return [ofac.parse_sdn_xml(text.encode("utf-8"), file, actor_of, skip_invalid=skip_invalid)]
    if kind == "ofac-list":
        return [
            ofac.parse_asset_list(
                text, file, actor_of, asset=asset, published=published, skip_invalid=skip_invalid
            )
        ]
    if kind == "ofac-sdn-csv":
        return [
            ofac.parse_sdn_csv(text, file, actor_of, published=published, skip_invalid=skip_invalid)
        ]
    if kind == "ofac-csv":
        return [ofac.parse_name_csv(text, file, actor_of, skip_invalid=skip_invalid)]
    if kind == "sdn-entities":
        return [
            ofac.parse_sdn_entities(
                text, file, actor_of, lambda low: known_cases(con, low), skip_invalid=skip_invalid
            )
        ]
    if kind == "etherscan-labels":
        return [labels.parse_labels(text, file, skip_invalid=skip_invalid)]
    if kind == csvlists.KIND_FBI:
        return [csvlists.parse_fbi(text, file, skip_invalid=skip_invalid)]
    if kind == csvlists.KIND_FORTA:
        return [csvlists.parse_forta(text, file, skip_invalid=skip_invalid)]
    if kind == csvlists.KIND_DPRK:
        return [csvlists.parse_dprk_combined(text, file, skip_invalid=skip_invalid)]
    if kind == "tags-csv":
        return formats.parse_csv(text, file)
    if kind == "tags-json":
        return formats.parse_json(text, file)
    raise InputError(f"unknown kind {kind!r}; use one of: {', '.join(KINDS)}")


def import_file(
    con: duckdb.DuckDBPyConnection, path: Path, kind: str | None = None, **options: Any
) -> list[ImportResult]:
    """Parse and store one file; every dataset in it is validated before any is stored."""
    text = _read(path)
    chosen = kind or detect(path, text)
    if chosen == "actorpack":
        pack = parse_actorpack(text, str(path))
        check_jurisdictions(pack, text, str(path))
        count = save_actors(con, pack)
        return [ImportResult(str(path), "actorpack", pack.name, count, count, 0, 0, pack.warnings)]
    return [save_dataset(con, ds) for ds in parse(con, path, chosen, text, **options)]
