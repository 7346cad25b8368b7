"""Union-find over integer arrays, merging whole batches of edges at once.

The partition of `0..n-1` is kept fully compressed: `labels[i]` is the smallest member of
`i`'s set (its root). A batch of edges is merged in one vectorised step: the edges are
mapped to their roots, the k roots they touch are numbered densely, their graph is handed
to SciPy's connected components (Pearce 2005's linear-time search, `scipy.sparse.csgraph`)
and every label pointing at a merged root is rewritten, chunk by chunk, to the smallest
root of its new component. Cost per batch is O(n + edges) with no Python loop per edge or
per node. State is one label per node (int32 while n < 2**31: 4 bytes); a batch adds a
touched flag and a rank per node (5 bytes) plus what SciPy needs for k nodes and the edges.

Because each set is named by its smallest member, the result depends only on the
partition, never on the order or chunking of the edges: merging in any order, in one batch
or many, gives identical labels (the property `tests/test_cluster_unionfind.py` checks).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

IntArray = npt.NDArray[np.int64] | npt.NDArray[np.int32]
RELABEL_CHUNK = 1 << 24
"""Labels rewritten per step after a union (bounds the temporary memory)."""


def index_dtype(n: int) -> type[np.signedinteger]:
    """The narrowest signed integer type that indexes `n` nodes."""
    return np.int32 if n < 2**31 - 1 else np.int64


def first_index_per_label(comp: npt.NDArray[np.int32], count: int) -> npt.NDArray[np.int64]:
    """For labels `0..count-1` over positions `0..len(comp)-1`, the first position of each.

    SciPy numbers components in order of their smallest node, so the first positions are
    where a new highest label appears; that is checked, with a general fallback.
    """
    idx = np.arange(comp.size, dtype=np.int64)
    previous_max = np.maximum.accumulate(np.concatenate(([-1], comp[:-1])))
    first = idx[comp > previous_max]
    if first.size == count and np.array_equal(comp[first], np.arange(count)):
        return first
    first = np.full(count, comp.size, dtype=np.int64)
    np.minimum.at(first, comp, idx)
    return first


@dataclass
class Merge:
    """Roots that stopped being roots in one union, and the root each joined."""

    old: npt.NDArray[np.int64]
    new: npt.NDArray[np.int64]


class DisjointSets:
    """A partition of `0..n-1`; each set is named by its smallest member."""

    def __init__(self, labels: IntArray) -> None:
        """Adopt `labels` (each node's smallest set member, as `canonical` checks)."""
        self.labels = labels

    @classmethod
    def singletons(cls, n: int) -> DisjointSets:
        """Every node alone."""
        return cls(np.arange(n, dtype=index_dtype(n)))

    @property
    def size(self) -> int:
        """Number of nodes."""
        return int(self.labels.size)

    def canonical(self) -> bool:
        """Whether every label is the smallest member of its set and is its own label."""
        lab = self.labels
        return bool(np.all(lab <= np.arange(lab.size)) and np.all(lab[lab] == lab))

    def union(self, a: IntArray, b: IntArray) -> Merge:
        """Merge the sets of `a[k]` and `b[k]` for every k; return the roots that vanished."""
        labels = self.labels
        ra, rb = labels[a], labels[b]
        differ = ra != rb
        if not differ.any():
            return Merge(np.empty(0, np.int64), np.empty(0, np.int64))
        ra, rb = ra[differ], rb[differ]
        # Compress to the roots this batch touches (k of them): SciPy sees k nodes, not n.
        touched = np.zeros(labels.size, dtype=np.bool_)
        touched[ra] = True
        touched[rb] = True
        roots = np.flatnonzero(touched).astype(labels.dtype)
        rank = np.cumsum(touched, dtype=labels.dtype) - 1
        k = roots.size
        graph = csr_matrix(
            (np.ones(ra.size, dtype=np.int8), (rank[ra], rank[rb])), shape=(k, k), dtype=np.int8
        )
        del ra, rb
        count, comp = connected_components(graph, directed=False)
        del graph
        # Roots are ascending, so a component's first root is its smallest.
        target = roots[first_index_per_label(comp, count)[comp]]
        for start in range(0, labels.size, RELABEL_CHUNK):
            chunk = labels[start : start + RELABEL_CHUNK]
            hit = touched[chunk]
            chunk[hit] = target[rank[chunk[hit]]]
        moved = target != roots
        return Merge(roots[moved].astype(np.int64), target[moved].astype(np.int64))

    def components(self) -> int:
        """Number of sets."""
        return int(np.count_nonzero(self.labels == np.arange(self.size)))
