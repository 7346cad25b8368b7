"""Tags on entities: propagation through clusters, the entity label rule, conflicts."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from chainsleuth.analytics.attribution import address_tags, entity_label, entity_tags
from chainsleuth.analytics.attribution.actors import ensure_curated
from chainsleuth.analytics.attribution.importer import import_file
from chainsleuth.analytics.attribution.index import TagIndex
from chainsleuth.analytics.attribution.propagation import actor_profile, best_label, conflicts
from chainsleuth.analytics.attribution.rules import EXCHANGE_AND_ILLICIT, TWO_EXCHANGES
from chainsleuth.analytics.clustering.explain import entity_view

A, B, C, D, E = ("0x" + d * 40 for d in "abcde")

PACK = f"""title: t
creator: tests
currency: ETH
tags:
- address: '{A}'
  label: Binance 14
  category: exchange
  actor: binance
  source: https://etherscan.io/address/{A}
  confidence: service_data
- address: '{B}'
  label: Lazarus group
  category: sanctioned
  actor: lazarusgroup
  source: https://home.treasury.gov/news/press-releases/sm774
  confidence: authority_data
- address: '{D}'
  label: Kraken 4
  category: exchange
  actor: kraken
  source: https://etherscan.io/address/{D}
  confidence: web_crawl
- address: '{E}'
  label: Not yet ingested
  category: exchange
  actor: kraken
  source: s
  confidence: web_crawl
"""


@pytest.fixture
def clustered(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> duckdb.DuckDBPyConnection:
    """A, C, B in cluster 1 (A-C multi-input, C-B change); D alone in cluster 4."""
    path = tmp_path / "pack.yaml"
    path.write_text(PACK)
    import_file(con, path)
    con.execute(
        "INSERT INTO addresses VALUES ('ethereum', ?, 1), ('ethereum', ?, 2),"
        " ('ethereum', ?, 3), ('ethereum', ?, 4)",
        [A, B, C, D],
    )
    con.execute(
        "INSERT INTO clusters VALUES ('ethereum', 1, 1), ('ethereum', 2, 1),"
        " ('ethereum', 3, 1), ('ethereum', 4, 4)"
    )
    con.execute(
        "INSERT INTO txs (chain, block_height, tx_hash, position, time) VALUES"
        " ('ethereum', 10, 'aa', 0, '2024-01-01'), ('ethereum', 11, 'bb', 3, '2024-01-01'),"
        " ('ethereum', 12, 'cc', 1, '2024-01-01')"
    )
    con.execute(  # evidence named by (height, position): aa, then bb
        "INSERT INTO cluster_links VALUES ('ethereum', 1, 3, 'multi-input', 10, 0),"
        " ('ethereum', 3, 2, 'change-fresh', 11, 3)"
    )
    return con


def test_entity_tags_are_its_addresses_tags(clustered: duckdb.DuckDBPyConnection) -> None:
    tags = entity_tags(clustered, "ethereum", 1)
    assert sorted((t["address"], t["label"]) for t in tags) == [
        (A, "Binance 14"),
        (B, "Lazarus group"),
    ]
    assert all({"source", "confidence", "confidence_level", "tagpack"} <= t.keys() for t in tags)
    label = entity_label(clustered, "ethereum", 1)
    assert label is not None and label["label"] == "Lazarus group"  # 60 beats 50
    assert entity_label(clustered, "ethereum", 4)["label"] == "Kraken 4"  # type: ignore[index]
    assert entity_label(clustered, "ethereum", 999) is None


def test_entity_view_names_its_label_beside_every_tag(
    clustered: duckdb.DuckDBPyConnection,
) -> None:
    view = entity_view(clustered, "ethereum", A)
    assert len(view["tags"]) == 2
    assert view["label"]["label"] == "Lazarus group"  # authority_data 60 over service_data 50
    assert (view["label"]["supporting_tags"], view["label"]["confidence_level"]) == (1, 60)
    assert "tags" not in view["label"]  # listed once, under "tags"
    assert entity_view(clustered, "ethereum", D)["label"]["label"] == "Kraken 4"


def test_tag_applies_once_its_address_is_ingested(clustered: duckdb.DuckDBPyConnection) -> None:
    assert [t["label"] for t in address_tags(clustered, "ethereum", E)] == ["Not yet ingested"]
    clustered.execute("INSERT INTO addresses VALUES ('ethereum', ?, 5)", [E])
    clustered.execute("INSERT INTO clusters VALUES ('ethereum', 5, 4)")
    assert {t["address"] for t in entity_tags(clustered, "ethereum", 4)} == {D, E}


def test_label_rule_confidence_then_count() -> None:
    def tag(label: str, level: int, definer: bool = False) -> dict[str, object]:
        return {
            "label": label,
            "confidence_level": level,
            "is_cluster_definer": definer,
            "category": None,
            "actor": None,
            "confidence": "x",
            "source": label,
        }

    assert best_label([tag("x", 50), tag("y", 20), tag("y", 20), tag("y", 20)])["label"] == "x"  # type: ignore[index]
    chosen = best_label([tag("x", 50), tag("Y", 50), tag("y", 50)])
    assert chosen is not None and chosen["label"].casefold() == "y"
    assert chosen["supporting_tags"] == 2
    assert best_label([tag("b", 50, True), tag("a", 50)])["label"] == "b"  # type: ignore[index]
    assert best_label([tag("b", 50), tag("a", 50)])["label"] == "a"  # type: ignore[index]
    assert best_label([]) is None


def test_conflicts_name_the_link_that_joined_them(clustered: duckdb.DuckDBPyConnection) -> None:
    (found,) = conflicts(clustered)
    assert found["reason"] == EXCHANGE_AND_ILLICIT and found["cluster_id"] == 1
    assert {found["address_a"], found["address_b"]} == {A, B}
    hops = found["link"]
    assert [(h["heuristic"], h["tx_hash"]) for h in hops] in (
        [("multi-input", "aa"), ("change-fresh", "bb")],
        [("change-fresh", "bb"), ("multi-input", "aa")],
    )
    assert {hops[0]["from"], hops[-1]["to"]} == {A, B}
    # merging D's cluster into cluster 1 adds a second exchange
    clustered.execute("UPDATE clusters SET cluster_id = 1 WHERE address_id = 4")
    clustered.execute("INSERT INTO cluster_links VALUES ('ethereum', 4, 1, 'multi-input', 12, 1)")
    reasons = sorted(c["reason"] for c in conflicts(clustered))
    assert reasons == sorted([EXCHANGE_AND_ILLICIT, EXCHANGE_AND_ILLICIT, TWO_EXCHANGES])


def test_address_level_conflict_without_clusters(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    for n, (label, category) in enumerate([("Binance", "exchange"), ("Lazarus", "sanctioned")]):
        path = tmp_path / f"p{n}.yaml"
        path.write_text(
            f"title: t\ncreator: c\ncurrency: ETH\nsource: s\nconfidence: heuristic\n"
            f"tags:\n- address: '{A}'\n  label: {label}\n  category: {category}\n"
        )
        import_file(con, path)
    (found,) = conflicts(con)
    assert found["link"] == "same address" and found["reason"] == EXCHANGE_AND_ILLICIT


def test_tag_index_answers_like_the_store(clustered: duckdb.DuckDBPyConnection) -> None:
    index = TagIndex.load(clustered)
    for address in (A, B, C, D, E, A.upper().replace("0X", "0x")):
        assert index.address_tags("ethereum", address) == address_tags(
            clustered, "ethereum", address
        )
    for cluster_id in (1, 4, 999):
        mine = index.entity_label("ethereum", cluster_id)
        theirs = entity_label(clustered, "ethereum", cluster_id)
        assert (mine and mine["label"]) == (theirs and theirs["label"])
    assert index.label_of("ethereum", A)["label"] == "Lazarus group"  # type: ignore[index]
    assert index.label_of("ethereum", E)["label"] == "Not yet ingested"  # type: ignore[index]
    assert index.label_of("ethereum", C) is None  # untagged: ask by its cluster id instead


def test_actor_profile_lists_entities(clustered: duckdb.DuckDBPyConnection) -> None:
    ensure_curated(clustered)
    profile = actor_profile(clustered, "lazarusgroup")
    assert profile["entities"] == [{"chain": "ethereum", "cluster_id": 1, "tagged_addresses": 1}]
    assert profile["tagged_addresses"] == 1 and profile["received"] == []
