"""The coins a UTXO trace carries (`Coins`) and the ones it starts from (`seed_coins`).

A coin is an output (transaction, n) with its taint, an amount or intervals of its value
(`taint.py`); `utxo.py` moves them hop by hop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from chainsleuth.analytics.tracing.hop_fetch import HopFetch
from chainsleuth.analytics.tracing.taint import Intervals


@dataclass
class Coins:
    """A set of coins with their taint (amount, or intervals indexed by coin)."""

    tx: NDArray[np.int64]  # id of the creating transaction in the tracing index
    tx_hash: NDArray[Any]  # its hash; None where not read yet (coins reached backward)
    n: NDArray[np.int64]
    address_id: NDArray[np.int64]  # -1 where the coin has no address
    value: NDArray[np.int64]
    spent_tx: NDArray[np.int64]  # id of the spending transaction; NO_LINK when unspent
    time: NDArray[Any]  # forward: when the coin was created; backward: when it was spent
    taint: NDArray[np.float64]
    intervals: Intervals

    def __len__(self) -> int:
        return len(self.tx)

    def take(self, mask: NDArray[np.bool_]) -> Coins:
        """The coins where `mask` holds, intervals re-indexed."""
        idx = np.flatnonzero(mask)
        remap = np.full(len(self), -1, dtype=np.int64)
        remap[idx] = np.arange(len(idx))
        keep = mask[self.intervals.tile] if len(self.intervals.tile) else np.zeros(0, bool)
        iv = Intervals(
            remap[self.intervals.tile[keep]], self.intervals.start[keep], self.intervals.end[keep]
        )
        return Coins(
            self.tx[idx],
            self.tx_hash[idx],
            self.n[idx],
            self.address_id[idx],
            self.value[idx],
            self.spent_tx[idx],
            self.time[idx],
            self.taint[idx],
            iv,
        )


def whole(value: NDArray[np.int64]) -> Intervals:
    """Each coin tainted over its whole value (interval per coin)."""
    return Intervals(np.arange(len(value), dtype=np.int64), np.zeros(len(value), np.int64), value)


@dataclass(frozen=True)
class CoinSeed:
    """Coins to start from: the outputs of transaction `tx_hash` (output `n` alone when
    given), or every output paid to `address_id`."""

    tx_hash: str | None = None
    n: int | None = None
    address_id: int | None = None


def seed_coins(fetch: HopFetch, seeds: list[CoinSeed]) -> Coins:
    """The coins `seeds` name, fully tainted, in (transaction, n) order: a trace's start.

    Transactions are found by the integer key of their hash (`trace_hash_keys` in key
    order, then the transactions not paged yet), read like a hop's by the trace's reader
    (`fetch`, from `HopFetch.current`), and told apart from other hashes of the same key
    by the hash read.
    """
    con, chain = fetch.con, fetch.chain
    hashes = sorted({s.tx_hash for s in seeds if s.tx_hash is not None})
    paid = sorted({s.address_id for s in seeds if s.address_id is not None})
    keyed = (
        con.execute(
            """SELECT tx_id FROM trace_hash_keys WHERE chain = $chain
                AND hash_key IN (SELECT md5_number_upper(unnest($values)))
            UNION ALL
            SELECT tx_id FROM trace_txs WHERE chain = $chain AND tx_id >= $upto
                AND hash_key IN (SELECT md5_number_upper(unnest($values)))""",
            {"chain": chain, "values": hashes, "upto": fetch.upto},
        ).fetchall()
        if hashes
        else []
    )
    paying = (
        con.execute(
            "SELECT DISTINCT tx_id FROM trace_coins WHERE chain = $chain AND side = 1"
            " AND address_id IN (SELECT unnest($values))",
            {"chain": chain, "values": paid},
        ).fetchall()
        if paid
        else []
    )
    txs = np.unique(np.array([i for (i,) in keyed + paying], dtype=np.int64))
    rows = fetch.rows(txs)
    outs, meta = rows["outs"], rows["meta"]
    asked = set(hashes)
    by_hash = {
        str(h): int(txs[i])
        for i, h in zip(column(meta, "seg").tolist(), column(meta, "tx_hash").tolist(), strict=True)
        if h in asked
    }
    seg = column(outs, "seg").astype(np.int64)
    tx, n = txs[seg], column(outs, "n").astype(np.int64)
    address = column(outs, "address_id").astype(np.int64)
    pays = np.isin(tx, np.array([i for (i,) in paying], dtype=np.int64))
    wanted = np.zeros(len(seg), dtype=bool)
    for s in seeds:
        if s.address_id is not None:
            wanted |= pays & (address == s.address_id)
        elif s.tx_hash in by_hash:
            hit = tx == by_hash[s.tx_hash]
            wanted |= hit if s.n is None else hit & (n == s.n)
    value = column(outs, "value").astype(np.int64)[wanted]
    seg = seg[wanted]
    return Coins(
        tx[wanted],
        column(meta, "tx_hash").astype(object)[seg],
        n[wanted],
        address[wanted],
        value,
        column(outs, "link_tx").astype(np.int64)[wanted],
        column(meta, "time")[seg],
        value.astype(np.float64),
        whole(value),
    )


def column(table: pa.Table, name: str) -> NDArray[Any]:
    """A column as NumPy; timestamps as Python datetimes (what reports print)."""
    column = table.column(name)
    if pa.types.is_timestamp(column.type):
        return np.array(column.to_pylist(), dtype=object)
    return np.asarray(column.to_numpy(zero_copy_only=False))
