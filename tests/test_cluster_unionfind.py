"""Batch union-find: same partition as networkx, whatever the order and chunking of edges."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainsleuth.analytics.clustering.dense import DenseIndex
from chainsleuth.analytics.clustering.unionfind import DisjointSets

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


def test_union_of_int32_labels_with_int32_links_and_a_long_chain() -> None:
    n = 100_000
    sets = DisjointSets.singletons(n)
    assert sets.labels.dtype == np.int32
    nodes = np.arange(n - 1, dtype=np.int32)
    merge = sets.union(nodes[::-1] + 1, nodes[::-1])  # a path, linked from its far end
    assert sets.labels.tolist() == [0] * n
    assert merge.old.tolist() == list(range(1, n))
    assert set(merge.new.tolist()) == {0}


def test_union_refuses_a_node_outside_the_partition_and_keeps_earlier_links() -> None:
    sets = DisjointSets.singletons(5)
    with pytest.raises(ValueError, match=r"link 1: node 2-5 outside 0\.\.4"):
        sets.union(np.array([0, 2, 3]), np.array([1, 5, 4]))
    assert sets.canonical()
    assert sets.labels.tolist() == [0, 0, 2, 3, 4]
    with pytest.raises(ValueError, match="2 link starts but 1 link ends"):
        sets.union(np.array([0, 1]), np.array([1]))


def test_adopted_read_only_labels_are_copied_not_written() -> None:
    labels = np.arange(4, dtype=np.int64)
    labels.flags.writeable = False
    sets = DisjointSets(labels)
    sets.union(np.array([3]), np.array([2]))
    assert sets.labels.tolist() == [0, 1, 2, 2]
    assert labels.tolist() == [0, 1, 2, 3]


@pytest.mark.parametrize(
    ("ids", "table_bytes"),
    [
        ([3, 4, 5], None),  # contiguous: an offset, no table
        ([3, 4, 5, 9], 4),
        ([7_000_000_000, 7_000_000_005, 7_000_000_000 + 2**32 - 1], 4),  # span just < 2^32
        ([10, 1_000_000, 5_000_000_000], 8),
    ],
)
def test_dense_index_round_trips(ids: list[int], table_bytes: int | None) -> None:
    arr = np.array(ids, dtype=np.int64)
    index = DenseIndex.from_ids(arr)
    nodes = index.nodes(arr[::-1].copy())
    assert nodes.tolist() == list(range(len(ids)))[::-1]
    assert index.address_ids(nodes).tolist() == ids[::-1]
    assert (None if index.ids is None else index.ids.itemsize) == table_bytes
