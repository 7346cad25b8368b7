"""Dense node numbers for a chain's address ids, so the union-find arrays stay compact.

Address ids are global across chains, so one chain's ids have gaps. Node `k` is the k-th
smallest id of the chain; the order is kept, so the smallest node of a set is its smallest
address id (the cluster id).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from chainsleuth.analytics.clustering.unionfind import index_dtype


class DenseIndex:
    """The bijection between a chain's sorted address ids and `0..n-1`."""

    def __init__(self, ids: npt.NDArray[np.int64]) -> None:
        """`ids`: the chain's address ids, strictly increasing."""
        self.ids = ids
        self._lookup: npt.NDArray[np.int64] | npt.NDArray[np.int32] | None = None
        if ids.size and int(ids[-1]) - int(ids[0]) + 1 <= 2 * ids.size:
            span = int(ids[-1]) - int(ids[0]) + 1
            lookup = np.full(span, -1, dtype=index_dtype(ids.size))
            lookup[ids - ids[0]] = np.arange(ids.size, dtype=lookup.dtype)
            self._lookup = lookup

    def __len__(self) -> int:
        """Number of addresses."""
        return int(self.ids.size)

    def nodes(self, address_ids: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """The node of each address id (every id must belong to the chain)."""
        found: npt.NDArray[np.int64]
        if self._lookup is not None:
            found = self._lookup[address_ids - self.ids[0]].astype(np.int64, copy=False)
        else:
            found = np.searchsorted(self.ids, address_ids).astype(np.int64)
        return found
