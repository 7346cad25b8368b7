"""Plain data shared by the attribution importers, the store writer and the exporters."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, fields
from typing import Any


@dataclass
class Tag:
    """One attribution: who controls `address` (or `tx_hash`) on `chain`, says `source`."""

    chain: str
    address: str | None
    tx_hash: str | None
    currency: str
    label: str
    source: str
    confidence: str
    confidence_level: int
    category: str | None = None
    abuse: str | None = None
    actor: str | None = None
    is_cluster_definer: bool = False
    is_public: bool = True
    lastmod: dt.datetime | None = None
    context: str | None = None
    concepts: list[str] = field(default_factory=list)
    tag_type: str | None = None
    programs: str | None = None
    published: dt.date | None = None
    line: int | None = None

    def key(self) -> tuple[str, str]:
        """What the tag is about: (chain, address or tx hash)."""
        return self.chain, self.address or self.tx_hash or ""


# Column order of the `tags` table without `tagpack` (which comes from the dataset).
TAG_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(Tag))


@dataclass
class Dataset:
    """The tags of one source file, imported (and replaced on re-import) as a whole."""

    tagpack: str  # dataset key, e.g. the pack's file stem or `ofac-sdn`
    kind: str
    file: str
    tags: list[Tag]
    title: str | None = None
    creator: str | None = None
    published: dt.date | None = None
    warnings: list[str] = field(default_factory=list)


@dataclass
class ImportResult:
    """What one import did: counts, the differences from the previous import, warnings."""

    file: str
    kind: str
    tagpack: str
    tags: int
    added: int
    removed: int
    changed: int
    warnings: list[str] = field(default_factory=list)
    added_keys: list[str] = field(default_factory=list)
    removed_keys: list[str] = field(default_factory=list)

    def row(self, *, diff: bool = False) -> dict[str, Any]:
        """A printable summary row; with `diff`, the added and removed subjects too."""
        row = {
            "file": self.file,
            "kind": self.kind,
            "tagpack": self.tagpack,
            "tags": self.tags,
            "added": self.added,
            "removed": self.removed,
            "changed": self.changed,
            "warnings": len(self.warnings),
        }
        if diff:
            row["added_addresses"] = self.added_keys
            row["removed_addresses"] = self.removed_keys
        return row
