"""An in-memory tag index for hot paths (screening, tracing): load once, look up in
microseconds. The functions of `propagation` answer the same questions with one store
query each; this index trades memory (the tags and the clusters of tagged addresses) for
lookups that cost a dict access instead of a query.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import duckdb

from chainsleuth.analytics.attribution.propagation import (
    PUBLIC_FIELDS,
    best_label,
    has_table,
    stored_form,
)
from chainsleuth.store.queries import rows


@dataclass
class TagIndex:
    """Tags by address and by entity, as of the moment it was loaded."""

    by_address: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    by_entity: dict[tuple[str, int], list[dict[str, Any]]] = field(default_factory=dict)
    cluster_of: dict[tuple[str, str], int] = field(default_factory=dict)
    _labels: dict[tuple[str, int], dict[str, Any] | None] = field(default_factory=dict)

    @classmethod
    def load(cls, con: duckdb.DuckDBPyConnection) -> TagIndex:
        """Read every address tag, and the cluster of every tagged address, from the store."""
        clustered = has_table(con, "clusters")
        join = (
            "LEFT JOIN addresses a ON a.chain = t.chain AND a.address = t.address"
            " LEFT JOIN clusters c ON c.chain = a.chain AND c.address_id = a.address_id"
            if clustered
            else ""
        )
        cluster = "c.cluster_id" if clustered else "NULL::BIGINT"
        cols = ", ".join("t." + c.strip() for c in PUBLIC_FIELDS.split(","))
        found = rows(
            con,
            f"""SELECT t.chain, t.address, {cluster} AS cluster_id, {cols} FROM tags t {join}
                WHERE t.address IS NOT NULL
                ORDER BY t.confidence_level DESC, t.label, t.tagpack""",
        )
        index = cls()
        for row in found:
            chain, address, cluster_id = row.pop("chain"), row["address"], row.pop("cluster_id")
            index.by_address.setdefault((chain, address), []).append(row)
            if cluster_id is not None:
                index.cluster_of[(chain, address)] = cluster_id
                index.by_entity.setdefault((chain, cluster_id), []).append(row)
        return index

    def address_tags(self, chain: str, address: str) -> list[dict[str, Any]]:
        """The tags of one address, best confidence first."""
        return self.by_address.get((chain, stored_form(chain, address)), [])

    def entity_tags(self, chain: str, cluster_id: int) -> list[dict[str, Any]]:
        """The tags of the tagged addresses of one cluster."""
        return self.by_entity.get((chain, cluster_id), [])

    def entity_label(self, chain: str, cluster_id: int) -> dict[str, Any] | None:
        """The best-supported label of a cluster (rule: `propagation`), memoised."""
        key = (chain, cluster_id)
        if key not in self._labels:
            self._labels[key] = best_label(self.entity_tags(chain, cluster_id))
        return self._labels[key]

    def label_of(self, chain: str, address: str) -> dict[str, Any] | None:
        """The label a tagged address carries: its cluster's, else its own tags' best.

        The index knows the clusters of tagged addresses only; for an untagged address,
        look its cluster id up (clustering) and call `entity_label`."""
        form = stored_form(chain, address)
        cluster_id = self.cluster_of.get((chain, form))
        if cluster_id is not None:
            return self.entity_label(chain, cluster_id)
        return best_label(self.by_address.get((chain, form), []))
