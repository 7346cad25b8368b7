"""Tracing on a UTXO chain: hop by hop over coins (outputs), one vectorised step per hop.

A coin is an output (tx_hash, n). Forward, a tainted coin's spending transaction passes
its taint to that transaction's outputs and fee; backward, a coin's creating transaction
passes it to the coins its inputs spent. Each hop fetches the transactions of the whole
frontier in three queries (pruned by block height) and applies the taint model to all of
them at once (`taint.py`). CoinJoins pass taint by value share whatever the model, and
are flagged.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from chainsleuth.analytics.tracing.edges import finish_edges, hop_edges
from chainsleuth.analytics.tracing.result import Arrival, Endpoint, TraceResult
from chainsleuth.analytics.tracing.taint import Intervals, Model, Tiles, ordered, proportional

ASSET = {"bitcoin": "BTC"}


@dataclass
class TraceParams:
    """How to trace: model, direction, limits and where to stop."""

    model: Model = Model.haircut
    direction: str = "forward"
    max_hops: int = 10
    min_amount: float = 0.0
    until: dt.datetime | None = None
    stops: Mapping[int, Endpoint] = field(default_factory=dict)  # address_id -> endpoint
    coinjoins: frozenset[str] = frozenset()  # txids passed by value share, flagged


@dataclass
class Coins:
    """A set of coins with their taint (amount, or intervals indexed by coin)."""

    tx_hash: NDArray[Any]
    n: NDArray[np.int64]
    height: NDArray[np.int64]
    address_id: NDArray[np.int64]  # -1 where the coin has no address
    value: NDArray[np.int64]
    spent_by: NDArray[Any]
    spent_height: NDArray[np.int64]  # -1 when unspent
    time: NDArray[Any]
    taint: NDArray[np.float64]
    intervals: Intervals

    def __len__(self) -> int:
        return len(self.tx_hash)

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
            self.tx_hash[idx],
            self.n[idx],
            self.height[idx],
            self.address_id[idx],
            self.value[idx],
            self.spent_by[idx],
            self.spent_height[idx],
            self.time[idx],
            self.taint[idx],
            iv,
        )


_COIN_COLUMNS = (
    "o.tx_hash, o.n, o.block_height, coalesce(o.address_id, -1) AS address_id, o.value,"
    " o.spent_by, coalesce(o.spent_height, -1) AS spent_height, b.time"
)


def _coins_from(table: pa.Table, taint: NDArray[np.float64] | None = None) -> Coins:
    cols = {name: _col(table, name) for name in table.column_names}
    value = cols["value"].astype(np.int64)
    t = value.astype(np.float64) if taint is None else taint
    iv = Intervals(np.arange(len(value), dtype=np.int64), np.zeros(len(value), np.int64), value)
    return Coins(
        cols["tx_hash"],
        cols["n"].astype(np.int64),
        cols["block_height"].astype(np.int64),
        cols["address_id"].astype(np.int64),
        value,
        cols["spent_by"],
        cols["spent_height"].astype(np.int64),
        cols["time"],
        t,
        iv,
    )


def seed_coins(con: duckdb.DuckDBPyConnection, chain: str, where: str, params: list[Any]) -> Coins:
    """Coins matching `where` (over outputs `o`), fully tainted: the start of a trace."""
    table = con.sql(
        f"SELECT {_COIN_COLUMNS} FROM outputs o JOIN blocks b"
        f" ON b.chain = o.chain AND b.height = o.block_height"
        f" WHERE o.chain = ? AND ({where}) ORDER BY o.block_height, o.tx_hash, o.n",
        params=[chain, *params],
    ).to_arrow_table()
    return _coins_from(table)


def _heights_sql(heights: NDArray[np.int64]) -> str:
    """A literal IN list of heights: lets DuckDB skip row groups by zone map."""
    return ",".join(str(int(h)) for h in np.unique(heights)) or "NULL"


class _Hop:
    """Fetch the transactions of one hop and the coins on both of their sides.

    One round trip per hop: the inputs, the outputs and the transactions' own rows come
    back as one sorted result (`part` 0, 1, 2) that is sliced, without copying, into the
    three tables the taint step reads. Heights are given as a literal IN list so DuckDB
    skips the row groups (zone maps) that hold none of the hop's blocks.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, chain: str) -> None:
        self.con, self.chain = con, chain

    def fetch(self, txs: NDArray[Any], heights: NDArray[np.int64], front: Coins) -> dict[str, Any]:
        con = self.con
        order = np.argsort(txs)
        txs = txs[order]
        con.register("_seg", pa.table({"tx_hash": txs, "seg": np.arange(len(txs))}))
        con.register(
            "_front",
            pa.table({"tx_hash": front.tx_hash, "n": front.n, "fidx": np.arange(len(front))}),
        )
        if (heights < 0).any():  # backward: the creating transactions' heights are not known yet
            heights = np.asarray(
                con.sql(
                    "SELECT DISTINCT t.block_height FROM txs t JOIN _seg s USING (tx_hash)"
                    " WHERE t.chain = ?",
                    params=[self.chain],
                )
                .to_arrow_table()
                .column(0)
                .to_numpy(),
                dtype=np.int64,
            )
        hs = _heights_sql(heights)
        both = con.sql(
            f"""SELECT 0 AS part, s.seg, i.n::BIGINT AS n, coalesce(i.value, 0) AS value,
                coalesce(i.address_id, -1) AS address_id, coalesce(f.fidx, -1) AS fidx,
                i.prev_tx_hash, coalesce(i.prev_n, -1) AS prev_n, NULL::VARCHAR AS tx_hash,
                NULL::BIGINT AS block_height, NULL::VARCHAR AS spent_by,
                NULL::BIGINT AS spent_height, NULL::TIMESTAMP AS time, NULL::BIGINT AS fee,
                NULL::BOOLEAN AS is_coinbase
            FROM inputs i JOIN _seg s ON s.tx_hash = i.tx_hash
            LEFT JOIN _front f ON f.tx_hash = i.prev_tx_hash AND f.n = i.prev_n
            WHERE i.chain = $chain AND i.block_height IN ({hs})
            UNION ALL
            SELECT 1, s.seg, o.n, o.value, coalesce(o.address_id, -1), coalesce(f.fidx, -1),
                NULL, NULL, o.tx_hash, o.block_height, o.spent_by,
                coalesce(o.spent_height, -1), b.time, NULL, NULL
            FROM outputs o JOIN _seg s ON s.tx_hash = o.tx_hash
            JOIN blocks b ON b.chain = o.chain AND b.height = o.block_height
            LEFT JOIN _front f ON f.tx_hash = o.tx_hash AND f.n = o.n
            WHERE o.chain = $chain AND o.block_height IN ({hs})
            UNION ALL
            SELECT 2, s.seg, NULL, NULL, NULL, NULL, NULL, NULL, t.tx_hash, NULL, NULL, NULL,
                t.time, coalesce(t.fee, 0)::BIGINT, t.is_coinbase
            FROM txs t JOIN _seg s ON s.tx_hash = t.tx_hash
            WHERE t.chain = $chain AND t.block_height IN ({hs})
            ORDER BY part, seg, n""",
            params={"chain": self.chain},
        ).to_arrow_table()
        con.unregister("_seg")
        con.unregister("_front")
        part = both.column("part").to_numpy()
        n_in, n_out = int((part == 0).sum()), int((part == 1).sum())
        ins = both.slice(0, n_in).select(
            ["seg", "value", "address_id", "fidx", "prev_tx_hash", "prev_n"]
        )
        outs = both.slice(n_in, n_out).select(
            [
                "seg",
                "tx_hash",
                "n",
                "block_height",
                "address_id",
                "value",
                "spent_by",
                "spent_height",
                "time",
                "fidx",
            ]
        )
        meta = both.slice(n_in + n_out).select(["seg", "tx_hash", "fee", "time", "is_coinbase"])
        return {"ins": ins, "outs": outs, "meta": meta, "n": len(txs)}


def _col(table: pa.Table, name: str) -> NDArray[Any]:
    """A column as NumPy; timestamps as Python datetimes (what reports print)."""
    column = table.column(name)
    if pa.types.is_timestamp(column.type):
        return np.array(column.to_pylist(), dtype=object)
    return np.asarray(column.to_numpy(zero_copy_only=False))


def trace_utxo(
    con: duckdb.DuckDBPyConnection,
    chain: str,
    seeds: Coins,
    seed_items: list[dict[str, Any]],
    params: TraceParams,
    on_hop: Callable[[int, int], None] | None = None,
) -> TraceResult:
    """Trace `seeds` through the chain under `params`; see the module docstring."""
    forward = params.direction == "forward"
    model = params.model
    result = TraceResult(
        chain,
        model.value,
        params.direction,
        seed_items,
        float(seeds.taint.sum()),
        ASSET.get(chain, chain),
    )
    hop_fetch = _Hop(con, chain)
    front = seeds
    visited: set[tuple[str, int]] = set()
    edge_rows: list[pa.Table] = []
    for hop in range(1, params.max_hops + 1):
        if len(front) == 0:
            break
        if on_hop:
            on_hop(hop, len(front))
        amount = _amounts(front, model)
        front = _settle(front, amount, hop, forward, params, result)
        if len(front) == 0:
            break
        txs = front.spent_by if forward else front.tx_hash
        heights = front.spent_height if forward else front.height
        uniq, first = np.unique(txs.astype(str), return_index=True)
        data = hop_fetch.fetch(uniq, heights[first] if len(first) else heights, front)
        front = _step(con, data, front, hop, forward, params, result, edge_rows, visited)
        result.hops = hop
    if len(front):
        result.beyond_max_hops += float(_amounts(front, model).sum())
    finish_edges(con, chain, result, edge_rows)
    return result


def _amounts(coins: Coins, model: Model) -> NDArray[np.float64]:
    if model in (Model.fifo, Model.lifo):
        return coins.intervals.amount_per_tile(len(coins)).astype(np.float64)
    return coins.taint


def _settle(
    front: Coins,
    amount: NDArray[np.float64],
    hop: int,
    forward: bool,
    params: TraceParams,
    result: TraceResult,
) -> Coins:
    """Record coins that end here (endpoint, threshold, unspent, time); return the rest."""
    at_stop = np.zeros(len(front), dtype=bool)
    if hop > 1 and params.stops:
        at_stop = np.fromiter((int(a) in params.stops for a in front.address_id), bool, len(front))
        for i in np.flatnonzero(at_stop):
            result.arrivals.append(
                Arrival(
                    params.stops[int(front.address_id[i])],
                    str(front.address_id[i]),
                    result.asset,
                    float(amount[i]),
                    front.time[i],
                    str(front.tx_hash[i]),
                )
            )
    small = ~at_stop & (amount < params.min_amount)
    result.below_threshold += float(amount[small].sum())
    if forward:
        ended = ~at_stop & ~small & (front.spent_height < 0)
        for i in np.flatnonzero(ended):
            key = str(front.address_id[i])
            result.held[key] = result.held.get(key, 0.0) + float(amount[i])
    else:
        ended = np.zeros(len(front), dtype=bool)
    return front.take(~(at_stop | small | ended | (amount <= 0)))


def _step(
    con: duckdb.DuckDBPyConnection,
    data: dict[str, Any],
    front: Coins,
    hop: int,
    forward: bool,
    params: TraceParams,
    result: TraceResult,
    edge_rows: list[pa.Table],
    visited: set[tuple[str, int]],
) -> Coins:
    """Apply the model to one hop's transactions; return the coins tainted next."""
    ins, outs, meta, n_seg = data["ins"], data["outs"], data["meta"], data["n"]
    model = params.model
    seg_time = _col(meta, "time")
    seg_tx = _col(meta, "tx_hash").astype(str)
    late = np.zeros(n_seg, dtype=bool)
    if params.until is not None:
        late = np.array([t is not None and t > params.until for t in seg_time], dtype=bool)
    joins = np.array([t in params.coinjoins for t in seg_tx], dtype=bool)
    # Source side: the tiles taint arrives on; target side: where it goes.
    if forward:
        src_tab, dst_tab = ins, outs
    else:
        src_tab, dst_tab = outs, ins
    src = Tiles(_col(src_tab, "seg").astype(np.int64), _col(src_tab, "value").astype(np.int64))
    fidx = _col(src_tab, "fidx").astype(np.int64)
    d_seg = _col(dst_tab, "seg").astype(np.int64)
    d_val = _col(dst_tab, "value").astype(np.int64)
    if forward:  # the fee is the last tile of each transaction's target side
        fee = _col(meta, "fee").astype(np.int64)
        all_seg = np.concatenate([d_seg, np.arange(n_seg)])
        order = np.argsort(all_seg, kind="stable")
        tgt = Tiles(all_seg[order], np.concatenate([d_val, np.maximum(fee, 0)])[order])
        is_fee = order >= len(d_seg)
        tgt_row = np.where(is_fee, -1, order)
    else:
        tgt = Tiles(d_seg, d_val)
        tgt_row = np.arange(len(d_seg))
    src_taint = np.zeros(len(src.value))
    has = fidx >= 0
    if not forward:  # value created by a coinbase has no earlier source
        minted = has & _col(meta, "is_coinbase").astype(bool)[src.seg]
        if minted.any():
            amount = float(_amounts(front, model)[fidx[minted]].sum())
            result.held["(newly minted)"] = result.held.get("(newly minted)", 0.0) + amount
            has &= ~minted
    # Coins whose transaction is past --until stay where they are.
    late_src = has & late[src.seg]
    if late_src.any():
        result.after_until += float(_amounts(front, model)[fidx[late_src]].sum())
        has &= ~late_src
    if model in (Model.fifo, Model.lifo):
        f2s = np.full(len(front), -1, dtype=np.int64)
        f2s[fidx[has]] = np.flatnonzero(has)
        iv = front.intervals
        moved = f2s[iv.tile] >= 0
        src_iv = Intervals(f2s[iv.tile[moved]], iv.start[moved], iv.end[moved])
        src_taint = src_iv.amount_per_tile(len(src.value)).astype(np.float64)
        reverse = model is Model.lifo
        plain = ~joins[src.seg[src_iv.tile]] if len(src_iv.tile) else np.zeros(0, bool)
        out_iv = ordered(
            src,
            Intervals(src_iv.tile[plain], src_iv.start[plain], src_iv.end[plain]),
            tgt,
            n_seg,
            reverse=reverse,
        )
        mixed = proportional(
            Model.haircut, src, np.where(joins[src.seg], src_taint, 0.0), tgt, n_seg
        )
        mix_tiles = np.flatnonzero(mixed > 0)
        mix_len = np.floor(mixed[mix_tiles]).astype(np.int64)
        out_iv = Intervals(
            np.concatenate([out_iv.tile, mix_tiles]),
            np.concatenate([out_iv.start, np.zeros(len(mix_tiles), np.int64)]),
            np.concatenate([out_iv.end, mix_len]),
        )
        tgt_taint = out_iv.amount_per_tile(len(tgt.value)).astype(np.float64)
    else:
        src_taint[has] = front.taint[fidx[has]]
        plain_model = proportional(model, src, np.where(joins[src.seg], 0.0, src_taint), tgt, n_seg)
        mixed = proportional(
            Model.haircut, src, np.where(joins[src.seg], src_taint, 0.0), tgt, n_seg
        )
        tgt_taint = plain_model + mixed
        out_iv = Intervals.empty()
    if forward:
        result.fees += float(tgt_taint[tgt_row < 0].sum())
    if joins.any() and "coinjoin" not in result.flags:
        result.flags.append("coinjoin")
    # Build the next frontier from target tiles that received taint.
    hit = (tgt_taint > 0) & (tgt_row >= 0)
    rows = tgt_row[hit]
    if forward:
        nxt = _coins_from(outs.take(pa.array(rows)), tgt_taint[hit])
    else:
        nxt = _prev_coins(dst_tab, rows, tgt_taint[hit], result)
    tile_to_coin = np.full(len(tgt.value), -1, dtype=np.int64)
    tile_to_coin[np.flatnonzero(hit)] = np.arange(int(hit.sum()))
    keep_iv = tile_to_coin[out_iv.tile] >= 0 if len(out_iv.tile) else np.zeros(0, bool)
    nxt.intervals = Intervals(
        tile_to_coin[out_iv.tile[keep_iv]], out_iv.start[keep_iv], out_iv.end[keep_iv]
    )
    if model is Model.poison:  # a coin once fully tainted is not tainted again
        fresh = np.array(
            [(str(t), int(n)) not in visited for t, n in zip(nxt.tx_hash, nxt.n, strict=True)], bool
        )
        visited.update((str(t), int(n)) for t, n in zip(nxt.tx_hash, nxt.n, strict=True))
        nxt = nxt.take(fresh) if len(fresh) else nxt
        hit_tiles = np.flatnonzero(hit)[fresh] if len(fresh) else np.zeros(0, np.int64)
    else:
        hit_tiles = np.flatnonzero(hit)
    edge_rows.append(
        hop_edges(
            con,
            src,
            src_taint,
            _col(src_tab, "address_id"),
            tgt,
            tgt_taint,
            hit_tiles,
            nxt.address_id,
            seg_tx,
            seg_time,
            joins,
            hop,
        )
    )
    return nxt


def _prev_coins(
    ins: pa.Table, rows: NDArray[np.int64], taint: NDArray[np.float64], result: TraceResult
) -> Coins:
    """Backward: the coins spent by the given input rows (minted value is recorded apart)."""
    sub = ins.take(pa.array(rows))
    prev = _col(sub, "prev_tx_hash")
    minted = np.array([p is None for p in prev], dtype=bool)
    if minted.any():
        result.held["(newly minted)"] = result.held.get("(newly minted)", 0.0) + float(
            taint[minted].sum()
        )
    keep = ~minted
    n = len(sub)
    value = _col(sub, "value").astype(np.int64)
    none = np.array([None] * n, dtype=object)
    coins = Coins(
        prev.astype(object),
        _col(sub, "prev_n").astype(np.int64),
        np.full(n, -1, np.int64),
        _col(sub, "address_id").astype(np.int64),
        value,
        none,
        np.full(n, -1, np.int64),
        none,
        taint,
        Intervals.empty(),
    )
    coins = coins.take(keep)
    return coins
