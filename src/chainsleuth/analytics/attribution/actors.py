"""Actors: who stands behind tags (Lazarus Group, Binance, ...), with aliases and countries.

Loaded from GraphSense ActorPack YAML (id, label, uri, categories, jurisdictions, aliases,
context.refs) and from chainsleuth's curated `data/attribution/actors.yaml`, which is merged
over imported records (aliases and sources united; country kept from the import when set).
Validation: id and label are mandatory, jurisdictions must be ISO 3166-1 alpha-2 codes
(errors, with line numbers, fail the pack); categories outside the concept taxonomy are
kept and reported as warnings (GraphSense's own ActorPack uses a few such, e.g. `hacking`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import yaml

from chainsleuth.analytics.attribution.marked import Problems, compose, line_of, mapping
from chainsleuth.analytics.attribution.taxonomy import concepts, data_text
from chainsleuth.errors import NotFoundError
from chainsleuth.store.db import transaction
from chainsleuth.store.queries import rows

_ISO2 = re.compile(r"^[A-Z]{2}$")
CURATED = "chainsleuth-curated"


@dataclass
class Actor:
    """One actor record."""

    id: str
    label: str
    aliases: list[str] = field(default_factory=list)
    jurisdictions: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    uri: str | None = None
    sources: list[str] = field(default_factory=list)

    @property
    def country(self) -> str | None:
        """The main jurisdiction (the first listed)."""
        return self.jurisdictions[0] if self.jurisdictions else None


@dataclass
class ActorPack:
    """The actors of one ActorPack file."""

    name: str
    actors: list[Actor]
    warnings: list[str] = field(default_factory=list)


def _strings(value: Any) -> list[str]:
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    return [str(v).strip() for v in items if str(v).strip()]


def parse_actorpack(text: str, file: str, name: str | None = None) -> ActorPack:
    """Validate an ActorPack; ParseError listing every error (with lines) otherwise."""
    problems = Problems(file)
    root = compose(text, file)
    header = mapping(root, problems, "the ActorPack header")
    pack = ActorPack(name or Path(file).stem, [])
    node = header["actors"].value if "actors" in header else None
    if not isinstance(node, yaml.SequenceNode):
        problems.add(line_of(root), "missing mandatory header field 'actors' (a list)")
        problems.raise_if_any()
        return pack
    known, seen = concepts(), set[str]()
    for item in node.value:
        line = line_of(item)
        f = mapping(item, problems, f"actor at line {line}")
        ident, label = _strings(f["id"].value if "id" in f else None), None
        if "label" in f:
            label = str(f["label"].value).strip() or None
        if not ident or label is None:
            problems.add(line, "actor misses mandatory field 'id' or 'label'")
            continue
        if ident[0] in seen:
            problems.add(line, f"actor id {ident[0]!r} defined twice")
        seen.add(ident[0])
        jurisdictions = _strings(f["jurisdictions"].value) if "jurisdictions" in f else []
        for code in jurisdictions:
            if not _ISO2.match(code):
                problems.add(f["jurisdictions"].line, f"jurisdiction {code!r} is not ISO alpha-2")
        categories = _strings(f["categories"].value) if "categories" in f else []
        for cat in categories:
            if cat not in known:
                pack.warnings.append(f"{file}:{line}: actor {ident[0]}: category {cat!r} unknown")
        context = f["context"].value if "context" in f else None
        refs = _strings(context.get("refs")) if isinstance(context, dict) else []
        aliases = _strings(f["aliases"].value) if "aliases" in f else []
        uri = str(f["uri"].value) if "uri" in f and f["uri"].value else None
        pack.actors.append(Actor(ident[0], label, aliases, jurisdictions, categories, uri, refs))
    problems.raise_if_any()
    return pack


def curated() -> ActorPack:
    """chainsleuth's own curated actors."""
    return parse_actorpack(data_text("actors.yaml"), "data/attribution/actors.yaml", CURATED)


def _union(a: Iterable[str], b: Iterable[str]) -> list[str]:
    return list(dict.fromkeys([*a, *b]))


def save_actors(con: duckdb.DuckDBPyConnection, pack: ActorPack) -> int:
    """Store the actors of `pack` (replacing records of the same id), then re-apply the
    curated overlay so its aliases and sources survive a re-import. Returns the count."""
    new_actors = pa.table(  # noqa: F841 (read by DuckDB's replacement scan)
        {
            "id": [a.id for a in pack.actors],
            "label": [a.label for a in pack.actors],
            "aliases": pa.array([a.aliases for a in pack.actors], pa.list_(pa.string())),
            "country": pa.array([a.country for a in pack.actors], pa.string()),
            "jurisdictions": pa.array(
                [a.jurisdictions for a in pack.actors], pa.list_(pa.string())
            ),
            "categories": pa.array([a.categories for a in pack.actors], pa.list_(pa.string())),
            "uri": pa.array([a.uri for a in pack.actors], pa.string()),
            "sources": pa.array([a.sources for a in pack.actors], pa.list_(pa.string())),
        }
    )
    with transaction(con):
        con.execute("DELETE FROM actors WHERE id IN (SELECT id FROM new_actors)")
        con.execute(
            "INSERT INTO actors BY NAME SELECT *, ? AS actorpack FROM new_actors", [pack.name]
        )
        _overlay(con, curated().actors)
    return len(pack.actors)


def ensure_curated(con: duckdb.DuckDBPyConnection) -> None:
    """Apply the curated actors over the stored ones (idempotent)."""
    with transaction(con):
        _overlay(con, curated().actors)


def _overlay(con: duckdb.DuckDBPyConnection, actors: list[Actor]) -> None:
    for a in actors:
        old = rows(con, "SELECT * FROM actors WHERE id = ?", [a.id])
        pack = CURATED
        if old:
            o = old[0]
            a = Actor(
                a.id,
                o["label"],
                _union(o["aliases"], a.aliases),
                o["jurisdictions"] or a.jurisdictions,
                _union(o["categories"], a.categories),
                o["uri"] or a.uri,
                _union(o["sources"], a.sources),
            )
            pack = o["actorpack"]
        con.execute(
            "INSERT OR REPLACE INTO actors (id, label, aliases, country, jurisdictions,"
            " categories, uri, sources, actorpack) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                a.id,
                a.label,
                a.aliases,
                a.country,
                a.jurisdictions,
                a.categories,
                a.uri,
                a.sources,
                pack,
            ],
        )


def normalise_name(name: str) -> str:
    """A name as the actor index keys it: case-folded, single spaces."""
    return " ".join(name.casefold().split())


def name_index(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """Normalised id, label and alias -> actor id (a name shared by two actors is left out)."""
    index: dict[str, set[str]] = {}
    for ident, label, aliases in con.execute("SELECT id, label, aliases FROM actors").fetchall():
        for name in (ident, label, *aliases):
            index.setdefault(normalise_name(name), set()).add(ident)
    return {name: next(iter(ids)) for name, ids in index.items() if len(ids) == 1}


def resolve_actor(con: duckdb.DuckDBPyConnection, name: str) -> str:
    """The actor id for an id, label or alias (case-insensitive), or a unique id prefix."""
    index = name_index(con)
    if normalise_name(name) in index:
        return index[normalise_name(name)]
    prefixed = [
        r[0]
        for r in con.execute(
            "SELECT id FROM actors WHERE starts_with(id, ?)", [name.casefold()]
        ).fetchall()
    ]
    if len(prefixed) == 1:
        return str(prefixed[0])
    if prefixed:
        raise NotFoundError(f"actor {name!r} is ambiguous: {', '.join(sorted(prefixed)[:10])}")
    raise NotFoundError(f"no actor named {name!r} (see `chainsleuth actors list`)")
