"""The flow graph of a trace: edges between addresses and the names of those addresses.

Per hop, `hop_edges` splits each target coin's taint among the transaction's tainted
source addresses in proportion to what each brought; `finish_edges` turns the collected
tables into `Edge` objects and address ids into the address strings users read.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from chainsleuth.analytics.tracing.result import Edge, TraceResult
from chainsleuth.analytics.tracing.taint import Tiles


def _groups(*keys: NDArray[np.int64]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Distinct rows of the key columns (sorted) and, per input row, its group's index."""
    uniq, inverse = np.unique(np.stack(keys, axis=1), axis=0, return_inverse=True)
    return uniq, inverse.reshape(-1)


def hop_edges(
    src: Tiles,
    src_taint: NDArray[np.float64],
    src_addr: NDArray[Any],
    tgt: Tiles,
    tgt_taint: NDArray[np.float64],
    hit_tiles: NDArray[np.int64],
    tgt_addr: NDArray[np.int64],
    seg_tx: NDArray[Any],
    seg_time: NDArray[Any],
    joins: NDArray[np.bool_],
    hop: int,
) -> pa.Table:
    """Edges source address -> target address per transaction, split by source share.

    Each target coin's taint is split among its transaction's tainted source addresses in
    proportion to what each brought; rows are summed per (transaction, source, target) and
    ordered by transaction hash, source, target.
    """
    s = np.flatnonzero(src_taint > 0)
    pairs, of_pair = _groups(src.seg[s], src_addr[s].astype(np.int64))  # (seg, source)
    brought = np.bincount(of_pair, weights=src_taint[s], minlength=len(pairs))
    total = np.bincount(pairs[:, 0], weights=brought, minlength=len(seg_tx))
    t_seg = tgt.seg[hit_tiles]
    first = np.searchsorted(pairs[:, 0], t_seg, side="left")
    count = np.searchsorted(pairs[:, 0], t_seg, side="right") - first
    target = np.repeat(np.arange(len(t_seg)), count)  # one row per (target coin, source)
    pair = (
        np.repeat(first, count)
        + np.arange(len(target))
        - np.repeat(np.cumsum(count) - count, count)
    )
    amount = tgt_taint[hit_tiles][target] * brought[pair] / total[t_seg[target]]
    edges, of_edge = _groups(t_seg[target], pairs[pair, 1], tgt_addr.astype(np.int64)[target])
    summed = np.bincount(of_edge, weights=amount, minlength=len(edges))
    seg, src_id, dst_id = edges[:, 0], edges[:, 1], edges[:, 2]
    tx = np.asarray(seg_tx, dtype=object)[seg]
    order = np.lexsort((dst_id, src_id, tx.astype(str)))
    return pa.table(
        {
            "hop": np.full(len(order), hop, dtype=np.int64),
            "tx_hash": tx[order],
            "src": src_id[order],
            "dst": dst_id[order],
            "amount": summed[order],
            "time": pa.array(list(np.asarray(seg_time, dtype=object)[seg][order])),
            "coinjoin": joins[seg][order],
        }
    )


def finish_edges(
    result: TraceResult,
    edge_rows: list[pa.Table],
    address_names: Callable[[set[int]], dict[int, str]],
) -> None:
    """Turn edge tables into Edge objects and address ids into address strings (named by
    `address_names`, which the trace's reader answers from the pages it read)."""
    ids: set[int] = set()
    tables = [t for t in edge_rows if t.num_rows]
    for t in tables:
        ids.update(t.column("src").to_pylist(), t.column("dst").to_pylist())
    ids.update(int(k) for k, _ in result.held if k.lstrip("-").isdigit())
    ids.update(int(a.address) for a in result.arrivals)
    names = address_names(ids)
    rule = {
        "poison": "poison: whole output tainted",
        "haircut": "haircut: value share",
        "fifo": "fifo: first in, first out",
        "lifo": "lifo: last in, first out",
    }[result.model]
    fields = ("hop", "tx_hash", "src", "dst", "amount", "time", "coinjoin")
    for t in tables:
        for hop, tx, src, dst, amount, time, coinjoin in zip(
            *(t.column(f).to_pylist() for f in fields), strict=True
        ):
            flags = ("coinjoin",) if coinjoin else ()
            result.edges.append(
                Edge(
                    hop,
                    tx,
                    names.get(src, "?"),
                    names.get(dst, "?"),
                    result.asset,
                    amount,
                    time,
                    "coinjoin: value share" if flags else rule,
                    flags,
                )
            )
    result.rename_held(lambda k: names.get(int(k), k) if k.lstrip("-").isdigit() else k)
    for a in result.arrivals:
        a.address = names.get(int(a.address), a.address)


def address_names(con: duckdb.DuckDBPyConnection, chain: str, ids: set[int]) -> dict[int, str]:
    """Address strings of `chain` by id (-1, an output without address, is named too)."""
    if not ids:
        return {}
    wanted = sorted(i for i in ids if i >= 0)
    found = (
        con.execute(
            "SELECT a.address_id, a.address FROM addresses a"
            " SEMI JOIN (SELECT unnest($ids) AS address_id) USING (address_id)"
            " WHERE a.chain = $chain",
            {"chain": chain, "ids": wanted},
        ).fetchall()
        if wanted
        else []
    )
    names = {int(i): str(a) for i, a in found}
    names[-1] = "(no address)"
    return names
