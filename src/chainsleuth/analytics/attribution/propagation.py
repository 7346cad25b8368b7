"""Tags on entities: an entity's tags are its addresses' tags (cluster-definer tags
included, flagged), its label the best-supported one, and its conflicts listed.

Entity label rule: the entity's tags are grouped by label (case-folded); the group with the
highest confidence level wins, then the one with more supporting tags, then the one holding
a cluster-definer tag, then the alphabetically first label (so the choice is stable).

Clusters come from the clustering tables `clusters(chain, address_id, cluster_id)` and
`cluster_links(chain, address_id_a, address_id_b, heuristic, tx_hash, ...)`; tags join
them through the `addresses` dictionary by (chain, address string).
"""

from __future__ import annotations

from itertools import combinations
from typing import Any

import duckdb

from chainsleuth.analytics.attribution.rules import incompatible
from chainsleuth.analytics.clustering.evidence import link_path
from chainsleuth.errors import NotFoundError
from chainsleuth.store.queries import rows

PUBLIC_FIELDS = (
    "label, category, abuse, actor, source, confidence, confidence_level, tagpack,"
    " is_cluster_definer, lastmod, programs"
)


def has_table(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    """Whether the store has table `name` (clustering may not have run or landed)."""
    found = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = ? AND NOT temporary", [name]
    ).fetchall()  # read to the end: DuckDB refuses new work on a partly read result
    return bool(found[0][0])


def stored_form(chain: str, address: str) -> str:
    """The stored form of a user-typed address for lookups (EVM hex is lowercase)."""
    text = address.strip()
    return text.lower() if text[:2].lower() == "0x" else text


def address_tags(con: duckdb.DuckDBPyConnection, chain: str, address: str) -> list[dict[str, Any]]:
    """The tags of one address (each with label, category, actor, source, confidence,
    confidence_level, tagpack, ...), best confidence first."""
    return rows(
        con,
        f"SELECT address, {PUBLIC_FIELDS} FROM tags WHERE chain = ? AND address = ?"
        " ORDER BY confidence_level DESC, label, tagpack",
        [chain, stored_form(chain, address)],
    )


def entity_tags(
    con: duckdb.DuckDBPyConnection, chain: str, cluster_id: int
) -> list[dict[str, Any]]:
    """The tags of every address of cluster `cluster_id`, each with its `address`;
    cluster-definer tags first, then by confidence."""
    if not has_table(con, "clusters"):
        raise NotFoundError("no clusters in this store: run `chainsleuth cluster` first")
    return rows(
        con,
        f"""SELECT a.address, {", ".join("t." + c.strip() for c in PUBLIC_FIELDS.split(","))}
            FROM clusters c
            JOIN addresses a ON a.chain = c.chain AND a.address_id = c.address_id
            JOIN tags t ON t.chain = a.chain AND t.address = a.address
            WHERE c.chain = ? AND c.cluster_id = ?
            ORDER BY t.is_cluster_definer DESC, t.confidence_level DESC, t.label, a.address""",
        [chain, cluster_id],
    )


def best_label(tags: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The best-supported label among `tags` (rule in the module docstring)."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for t in tags:
        groups.setdefault(str(t["label"]).casefold(), []).append(t)
    if not groups:
        return None

    def rank(item: tuple[str, list[dict[str, Any]]]) -> tuple[int, int, int, str]:
        key, group = item
        definer = any(t["is_cluster_definer"] for t in group)
        return (-max(t["confidence_level"] for t in group), -len(group), -int(definer), key)

    _, group = min(groups.items(), key=rank)
    top = max(group, key=lambda t: t["confidence_level"])
    return {
        "label": top["label"],
        "category": top["category"],
        "actor": top["actor"],
        "confidence": top["confidence"],
        "confidence_level": top["confidence_level"],
        "supporting_tags": len(group),
        "sources": sorted({t["source"] for t in group}),
        "tags": group,
    }


def entity_label(
    con: duckdb.DuckDBPyConnection, chain: str, cluster_id: int
) -> dict[str, Any] | None:
    """The best-supported label of an entity with its supporting tags, or None if untagged."""
    return best_label(entity_tags(con, chain, cluster_id))


def _tagged(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    clustered = has_table(con, "clusters")
    join = (
        "LEFT JOIN addresses a ON a.chain = t.chain AND a.address = t.address"
        " LEFT JOIN clusters c ON c.chain = a.chain AND c.address_id = a.address_id"
        if clustered
        else ""
    )
    cols = "a.address_id, c.cluster_id" if clustered else "NULL AS address_id, NULL AS cluster_id"
    return rows(
        con,
        f"""SELECT t.chain, t.address, {cols}, t.label, t.category, t.abuse, t.actor,
                   t.source, t.confidence_level, t.tagpack
            FROM tags t {join}
            WHERE t.address IS NOT NULL
              AND (t.category IN ('exchange', 'sanctioned', 'perpetrator') OR t.abuse = 'sanction')
            ORDER BY t.chain, t.address, t.confidence_level DESC, t.label""",
    )


def conflicts(con: duckdb.DuckDBPyConnection, chain: str | None = None) -> list[dict[str, Any]]:
    """Entities (clusters, or single addresses outside any cluster) holding incompatible
    tags, one row per incompatible pair of labels, with the chain of links joining them."""
    entities: dict[tuple[str, Any], list[dict[str, Any]]] = {}
    for t in _tagged(con):
        if chain is None or t["chain"] == chain:
            key = (t["chain"], t["cluster_id"] if t["cluster_id"] is not None else t["address"])
            entities.setdefault(key, []).append(t)
    found: list[dict[str, Any]] = []
    for (ch, _entity), tags in entities.items():
        reported: set[tuple[str, str]] = set()
        for a, b in combinations(tags, 2):
            reason = incompatible(a, b)
            pair = tuple(sorted((str(a["label"]), str(b["label"]))))
            if reason is None or pair in reported:
                continue
            reported.add((pair[0], pair[1]))
            clustered = a["cluster_id"] is not None
            found.append(
                {
                    "chain": ch,
                    "cluster_id": a["cluster_id"],
                    "reason": reason,
                    "address_a": a["address"],
                    "label_a": a["label"],
                    "source_a": a["source"],
                    "address_b": b["address"],
                    "label_b": b["label"],
                    "source_b": b["source"],
                    "link": _path(con, ch, a, b) if clustered else "same address",
                }
            )
    return found


def _path(con: duckdb.DuckDBPyConnection, chain: str, a: dict[str, Any], b: dict[str, Any]) -> Any:
    """The shortest chain of cluster links from a's address to b's (breadth-first):
    each hop with its two addresses, the heuristic and the evidence transaction."""
    if a["address_id"] == b["address_id"]:
        return "same address"
    if not has_table(con, "cluster_links"):
        return None
    return [
        {
            "from": h["from_address"],
            "to": h["to_address"],
            "heuristic": h["heuristic"],
            "tx_hash": h["tx_hash"],
        }
        for h in link_path(con, chain, a["cluster_id"], a["address_id"], b["address_id"])
    ] or None


def actor_profile(con: duckdb.DuckDBPyConnection, actor: str) -> dict[str, Any]:
    """An actor with its aliases, tagged addresses, entities and totals received per chain
    (base units; each tagged address counted once, however many tags it has)."""
    found = rows(con, "SELECT * FROM actors WHERE id = ?", [actor])
    if not found:
        raise NotFoundError(f"no actor {actor!r}")
    record = found[0]
    tags = rows(
        con,
        """SELECT chain, address, label, category, source, confidence, confidence_level,
                  tagpack, programs FROM tags WHERE actor = ?
           ORDER BY chain, address, confidence_level DESC, tagpack""",
        [actor],
    )
    return {
        "id": record["id"],
        "label": record["label"],
        "aliases": record["aliases"],
        "country": record["country"],
        "categories": record["categories"],
        "uri": record["uri"],
        "sources": record["sources"],
        "tagged_addresses": len({(t["chain"], t["address"]) for t in tags}),
        "received": _received(con, actor),
        "entities": _entities(con, actor),
        "tags": tags,
    }


def _entities(con: duckdb.DuckDBPyConnection, actor: str) -> list[dict[str, Any]]:
    if not has_table(con, "clusters"):
        return []
    return rows(
        con,
        """SELECT c.chain, c.cluster_id, count(DISTINCT t.address) AS tagged_addresses
           FROM tags t JOIN addresses a ON a.chain = t.chain AND a.address = t.address
           JOIN clusters c ON c.chain = a.chain AND c.address_id = a.address_id
           WHERE t.actor = ? GROUP BY ALL ORDER BY c.chain, c.cluster_id""",
        [actor],
    )


def _received(con: duckdb.DuckDBPyConnection, actor: str) -> list[dict[str, Any]]:
    """Per chain, what the actor's tagged addresses received in the chain's own coin:
    UTXO outputs (satoshi), and successful native and internal ETH transfers (wei)."""
    tagged = """SELECT DISTINCT a.chain, a.address_id FROM tags t
                JOIN addresses a ON a.chain = t.chain AND a.address = t.address
                WHERE t.actor = $actor"""
    parts = [
        f"""SELECT o.chain, sum(o.value)::HUGEINT AS received FROM ({tagged}) x
            JOIN outputs o ON o.chain = x.chain AND o.address_id = x.address_id
            GROUP BY o.chain"""
    ]
    if has_table(con, "transfers"):
        parts.append(
            f"""SELECT tr.chain, sum(tr.amount)::HUGEINT FROM ({tagged}) x
                JOIN transfers tr ON tr.chain = x.chain AND tr.to_id = x.address_id
                WHERE tr.kind IN ('native', 'internal') AND tr.success GROUP BY tr.chain"""
        )
    return rows(con, " UNION ALL ".join(parts) + " ORDER BY 1", {"actor": actor})
