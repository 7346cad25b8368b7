"""Batch union-find: same partition as networkx, whatever the order and chunking of edges."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainsleuth.analytics.clustering.dense import DenseIndex
from chainsleuth.analytics.clustering.unionfind import DisjointSets, first_index_per_label

edges_strategy = st.integers(min_value=1, max_value=40).flatmap(
    lambda n: st.tuples(
        st.just(n),
        st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), min_size=0, max_size=60),
    )
)


def expected_labels(n: int, edges: list[tuple[int, int]]) -> np.ndarray:
    """Each node's smallest component member, by networkx (an independent implementation)."""
    graph = nx.Graph()
    graph.add_nodes_from(range(n))
    graph.add_edges_from(edges)
    labels = np.empty(n, dtype=np.int64)
    for component in nx.connected_components(graph):
        labels[list(component)] = min(component)
    return labels


@settings(max_examples=200, deadline=None)
@given(edges_strategy, st.randoms(use_true_random=False))
def test_chunked_shuffled_union_equals_networkx(case, rnd) -> None:
    n, edges = case
    shuffled = [(b, a) if rnd.random() < 0.5 else (a, b) for a, b in edges]
    rnd.shuffle(shuffled)
    cuts = sorted(rnd.randint(0, len(shuffled)) for _ in range(rnd.randint(0, 4)))
    sets = DisjointSets.singletons(n)
    for lo, hi in zip([0, *cuts], [*cuts, len(shuffled)], strict=True):
        chunk = np.array(shuffled[lo:hi], dtype=np.int64).reshape(-1, 2)
        sets.union(chunk[:, 0], chunk[:, 1])
        assert sets.canonical()
    assert np.array_equal(sets.labels, expected_labels(n, edges))
    assert sets.components() == len(set(expected_labels(n, edges).tolist()))


def test_union_reports_vanished_roots() -> None:
    sets = DisjointSets.singletons(6)
    sets.union(np.array([4, 5]), np.array([5, 3]))
    merge = sets.union(np.array([1, 3]), np.array([0, 1]))
    assert merge.old.tolist() == [1, 3]
    assert merge.new.tolist() == [0, 0]
    assert sets.labels.tolist() == [0, 0, 2, 0, 0, 0]


def test_first_index_fallback_when_labels_are_not_in_first_seen_order() -> None:
    comp = np.array([1, 0, 1, 0, 2], dtype=np.int32)
    assert first_index_per_label(comp, 3).tolist() == [1, 0, 4]


@pytest.mark.parametrize("ids", [[3, 4, 5, 9], [10, 1_000_000, 5_000_000_000]])
def test_dense_index_round_trips(ids: list[int]) -> None:
    arr = np.array(ids, dtype=np.int64)
    index = DenseIndex.from_ids(arr)
    nodes = index.nodes(arr[::-1].copy())
    assert nodes.tolist() == list(range(len(ids)))[::-1]
    assert index.address_ids(nodes).tolist() == ids[::-1]
