"""Dense node numbers for a chain's address ids, so the union-find arrays stay compact.

Address ids are global across chains. Node `k` is the chain's k-th smallest id; the order
is kept, so the smallest node of a set is its smallest address id (the cluster id). When
the chain's ids are one contiguous range (a store holding one chain, or chains ingested one
after the other) the mapping is an offset and costs no memory; otherwise the sorted ids
are kept and looked up by binary search, as 4-byte distances from the smallest id when
the chain's ids span less than 2^32 (a store of 1.5 billion Bitcoin addresses interleaved
with another chain's: 6 GB instead of 12), else as 8-byte ids.
"""

from __future__ import annotations

import duckdb
import numpy as np
import numpy.typing as npt

from chainsleuth.analytics.clustering.window import first_row


class DenseIndex:
    """The order-keeping bijection between a chain's address ids and `0..n-1`."""

    def __init__(self, count: int, offset: int, ids: npt.NDArray[np.int64] | None) -> None:
        """`count` ids: `offset + 0..count-1`, or the strictly increasing `ids`."""
        self.count = count
        self.offset = offset
        self.ids: npt.NDArray[np.int64] | npt.NDArray[np.uint32] | None = ids
        if ids is not None and ids.size:
            self.offset = int(ids[0])
            if int(ids[-1]) - self.offset < 1 << 32:
                self.ids = (ids - self.offset).astype(np.uint32)
            else:
                self.ids = ids - self.offset

    @classmethod
    def from_ids(cls, ids: npt.NDArray[np.int64]) -> DenseIndex:
        """The index of strictly increasing `ids`."""
        if ids.size and int(ids[-1]) - int(ids[0]) + 1 == ids.size:
            return cls(int(ids.size), int(ids[0]), None)
        return cls(int(ids.size), 0, ids)

    @classmethod
    def of_chain(cls, con: duckdb.DuckDBPyConnection, chain: str) -> DenseIndex:
        """The index of every address id the store has for `chain`."""
        row = first_row(
            con.execute(
                "SELECT count(*), min(address_id), max(address_id) FROM addresses WHERE chain = ?",
                [chain],
            )
        )
        count = int(row[0]) if row else 0
        if not count or row is None:
            return cls(0, 0, None)
        low, high = int(row[1]), int(row[2])
        if high - low + 1 == count:
            return cls(count, low, None)
        table = con.sql(
            "SELECT address_id FROM addresses WHERE chain = ? ORDER BY address_id", params=[chain]
        ).to_arrow_table()
        return cls(count, 0, table.column(0).to_numpy().astype(np.int64))

    def __len__(self) -> int:
        """Number of addresses."""
        return self.count

    def nodes(self, address_ids: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """The node of each address id (every id must belong to the chain)."""
        found: npt.NDArray[np.int64] = address_ids.astype(np.int64, copy=False) - self.offset
        if self.ids is not None:  # probes in the table's own type: no copy of the table
            found = np.searchsorted(self.ids, found.astype(self.ids.dtype)).astype(np.int64)
        return found

    def address_ids(self, nodes: npt.NDArray[np.integer]) -> npt.NDArray[np.int64]:
        """The address id of each node."""
        found = nodes if self.ids is None else self.ids[nodes]
        return found.astype(np.int64, copy=False) + self.offset
