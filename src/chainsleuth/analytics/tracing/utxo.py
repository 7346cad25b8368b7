"""Tracing on a UTXO chain: hop by hop over coins (outputs), one vectorised step per hop.

A coin is an output (transaction, n). Forward, a tainted coin's spending transaction passes
its taint to that transaction's outputs and fee; backward, a coin's creating transaction
passes it to the coins its inputs spent. Each hop fetches both sides of the frontier's
transactions from the tracing index (`hop_fetch.py`: the pages holding them, in one query)
and applies the taint model to all of them at once (`taint.py`). CoinJoins pass taint by
value share whatever the model, and are flagged.
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

from chainsleuth.analytics.tracing.coins import Coins, column, whole
from chainsleuth.analytics.tracing.edges import finish_edges, hop_edges
from chainsleuth.analytics.tracing.endpoints import Stops, name_arrivals, stops_at
from chainsleuth.analytics.tracing.hop_fetch import HopFetch
from chainsleuth.analytics.tracing.pages import NO_LINK
from chainsleuth.analytics.tracing.result import Arrival, AtBridge, Endpoint, Leg, TraceResult
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
    stops: Stops = field(default_factory=dict)  # address_id -> endpoint
    coinjoins: frozenset[str] = frozenset()  # txids passed by value share, flagged
    bridges: Mapping[int, Endpoint] = field(default_factory=dict)  # address_id -> bridge


def trace_utxo(
    fetch: HopFetch,
    seeds: Coins,
    seed_items: list[dict[str, Any]],
    params: TraceParams,
    on_hop: Callable[[int, int], None] | None = None,
) -> TraceResult:
    """Trace `seeds` (read by `fetch`, see `seed_coins`) through the chain under `params`;
    see the module docstring."""
    con, chain = fetch.con, fetch.chain
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
    front = seeds
    visited: set[tuple[int, int]] = set()
    edge_rows: list[pa.Table] = []
    unnamed: list[tuple[Arrival, int]] = []
    for hop in range(1, params.max_hops + 1):
        if len(front) == 0:
            break
        if on_hop:
            on_hop(hop, len(front))
        amount = _amounts(front, model)
        front = _settle(front, amount, hop, forward, params, result, unnamed)
        if len(front) == 0:
            break
        data = fetch.fetch(np.unique(front.spent_tx if forward else front.tx), front, forward)
        front = _step(data, front, hop, forward, params, result, edge_rows, visited)
        result.hops = hop
    if len(front):
        result.lose("beyond_max_hops", float(_amounts(front, model).sum()))
    _name_arrival_txs(con, chain, unnamed)
    name_arrivals(params.stops, result.arrivals)
    finish_edges(result, edge_rows, fetch.address_names)
    return result


def _name_arrival_txs(
    con: duckdb.DuckDBPyConnection, chain: str, unnamed: list[tuple[Arrival, int]]
) -> None:
    """Fill in the transaction hash of arrivals on coins reached backward (ids until now)."""
    if not unnamed:
        return
    con.register("_ids", pa.table({"tx_id": np.array([i for _, i in unnamed], np.int64)}))
    try:
        names = dict(
            con.execute(
                "SELECT t.tx_id, t.tx_hash FROM trace_txs t JOIN _ids USING (tx_id)"
                " WHERE t.chain = ?",
                [chain],
            ).fetchall()
        )
    finally:
        con.unregister("_ids")
    for arrival, tx in unnamed:
        arrival.tx_hash = str(names.get(tx, ""))


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
    unnamed: list[tuple[Arrival, int]],
) -> Coins:
    """Record coins that end here (bridge, endpoint, threshold, unspent, time); return the
    rest."""
    at_stop = np.zeros(len(front), dtype=bool)
    if forward and params.bridges:
        at_stop = _deposits(front, amount, hop, params.bridges, result)
    if hop > 1:
        found = stops_at(params.stops, front.address_id)
        for k, stop in enumerate(found):
            if stop is not None and not at_stop[k]:
                at_stop[k] = True
                name = front.tx_hash[k]
                arrival = Arrival(
                    stop,
                    str(front.address_id[k]),
                    result.asset,
                    float(amount[k]),
                    front.time[k],
                    "" if name is None else str(name),
                )
                result.arrivals.append(arrival)
                if name is None:
                    unnamed.append((arrival, int(front.tx[k])))
    small = ~at_stop & (amount < params.min_amount)
    result.lose("below_threshold", float(amount[small].sum()))
    if forward:
        ended = ~at_stop & ~small & (front.spent_tx < 0)
        for i in np.flatnonzero(ended):
            result.hold(str(front.address_id[i]), float(amount[i]))
    else:
        ended = np.zeros(len(front), dtype=bool)
    return front.take(~(at_stop | small | ended | (amount <= 0)))


def _deposits(
    front: Coins,
    amount: NDArray[np.float64],
    hop: int,
    bridges: Mapping[int, Endpoint],
    result: TraceResult,
) -> NDArray[np.bool_]:
    """Forward: note the coins paid to a bridge (deposits, `crossing.py` matches them);
    return where they are."""
    at = np.isin(front.address_id, np.fromiter(bridges, np.int64, len(bridges)))
    for k in np.flatnonzero(at & (amount > 0)):
        leg = Leg(
            result.chain,
            str(front.tx_hash[k]),
            int(front.n[k]),
            int(front.address_id[k]),
            float(front.value[k]),
            front.time[k],
        )
        aid = int(front.address_id[k])
        result.at_bridges.append(AtBridge(leg, float(amount[k]), hop, bridges[aid], result.asset))
    return at


def _releases(
    ins: pa.Table,
    outs: pa.Table,
    fidx: NDArray[np.int64],
    has: NDArray[np.bool_],
    amount: NDArray[np.float64],
    hop: int,
    bridges: Mapping[int, Endpoint],
    result: TraceResult,
    seg_tx: NDArray[Any],
    seg_time: NDArray[Any],
) -> NDArray[np.bool_]:
    """Backward: note the frontier coins a bridge paid out (releases: a transaction with a
    bridge input paying someone else; `crossing.py` matches them); return where they are."""
    ids = np.fromiter(bridges, np.int64, len(bridges))
    in_addr = column(ins, "address_id").astype(np.int64)
    payer = np.full(len(seg_tx), -1, np.int64)  # a bridge address paying each transaction
    paid = np.isin(in_addr, ids)
    payer[column(ins, "seg").astype(np.int64)[paid]] = in_addr[paid]
    seg = column(outs, "seg").astype(np.int64)
    address = column(outs, "address_id").astype(np.int64)
    out = has & (payer[seg] >= 0) & ~np.isin(address, ids)
    n, value = column(outs, "n"), column(outs, "value")
    for r in np.flatnonzero(out):
        s = seg[r]
        leg = Leg(
            result.chain, str(seg_tx[s]), int(n[r]), int(address[r]), float(value[r]), seg_time[s]
        )
        bridge = bridges[int(payer[s])]
        result.at_bridges.append(AtBridge(leg, float(amount[fidx[r]]), hop, bridge, result.asset))
    return out


def _step(
    data: dict[str, Any],
    front: Coins,
    hop: int,
    forward: bool,
    params: TraceParams,
    result: TraceResult,
    edge_rows: list[pa.Table],
    visited: set[tuple[int, int]],
) -> Coins:
    """Apply the model to one hop's transactions; return the coins tainted next."""
    ins, outs, meta, txs = data["ins"], data["outs"], data["meta"], data["txs"]
    n_seg = len(txs)
    model = params.model
    seg_time = column(meta, "time")
    seg_tx = column(meta, "tx_hash").astype(str)
    late = np.zeros(n_seg, dtype=bool)
    if params.until is not None:
        late = np.array([t is not None and t > params.until for t in seg_time], dtype=bool)
    joins = np.array([t in params.coinjoins for t in seg_tx], dtype=bool)
    # Source side: the tiles taint arrives on; target side: where it goes.
    if forward:
        src_tab, dst_tab = ins, outs
    else:
        src_tab, dst_tab = outs, ins
    src = Tiles(column(src_tab, "seg").astype(np.int64), column(src_tab, "value").astype(np.int64))
    fidx = column(src_tab, "fidx").astype(np.int64)
    d_seg = column(dst_tab, "seg").astype(np.int64)
    d_val = column(dst_tab, "value").astype(np.int64)
    if forward:  # the fee is the last tile of each transaction's target side
        fee = column(meta, "fee").astype(np.int64)
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
        minted = has & column(meta, "is_coinbase").astype(bool)[src.seg]
        if minted.any():
            amount = float(_amounts(front, model)[fidx[minted]].sum())
            result.hold("(newly minted)", amount)
            has &= ~minted
    # Coins whose transaction is past --until stay where they are.
    late_src = has & late[src.seg]
    if late_src.any():
        result.lose("after_until", float(_amounts(front, model)[fidx[late_src]].sum()))
        has &= ~late_src
    if not forward and params.bridges:  # coins a bridge released: matched on the other chain
        amounts = _amounts(front, model)
        has &= ~_releases(
            ins, outs, fidx, has, amounts, hop, params.bridges, result, seg_tx, seg_time
        )
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
        result.lose("fees", float(tgt_taint[tgt_row < 0].sum()))
    if joins.any() and "coinjoin" not in result.flags:
        result.flags.append("coinjoin")
    # Build the next frontier from target tiles that received taint.
    hit = (tgt_taint > 0) & (tgt_row >= 0)
    rows = tgt_row[hit]
    if forward:
        nxt = _next_coins(outs.take(pa.array(rows)), tgt_taint[hit], txs, seg_tx, seg_time)
    else:
        nxt = _prev_coins(dst_tab, rows, tgt_taint[hit], result, seg_time)
    tile_to_coin = np.full(len(tgt.value), -1, dtype=np.int64)
    tile_to_coin[np.flatnonzero(hit)] = np.arange(int(hit.sum()))
    keep_iv = tile_to_coin[out_iv.tile] >= 0 if len(out_iv.tile) else np.zeros(0, bool)
    nxt.intervals = Intervals(
        tile_to_coin[out_iv.tile[keep_iv]], out_iv.start[keep_iv], out_iv.end[keep_iv]
    )
    if model is Model.poison:  # a coin once fully tainted is not tainted again
        keys = list(zip(nxt.tx.tolist(), nxt.n.tolist(), strict=True))
        fresh = np.array([k not in visited for k in keys], bool)
        visited.update(keys)
        nxt = nxt.take(fresh) if len(fresh) else nxt
        hit_tiles = np.flatnonzero(hit)[fresh] if len(fresh) else np.zeros(0, np.int64)
    else:
        hit_tiles = np.flatnonzero(hit)
    edge_rows.append(
        hop_edges(
            src,
            src_taint,
            column(src_tab, "address_id"),
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


def _next_coins(
    outs: pa.Table,
    taint: NDArray[np.float64],
    txs: NDArray[np.int64],
    seg_tx: NDArray[Any],
    seg_time: NDArray[Any],
) -> Coins:
    """Forward: the given output rows of the hop's transactions, with their taint."""
    seg = column(outs, "seg").astype(np.int64)
    value = column(outs, "value").astype(np.int64)
    return Coins(
        txs[seg],
        seg_tx[seg].astype(object),
        column(outs, "n").astype(np.int64),
        column(outs, "address_id").astype(np.int64),
        value,
        column(outs, "link_tx").astype(np.int64),
        seg_time[seg],
        taint,
        whole(value),
    )


def _prev_coins(
    ins: pa.Table,
    rows: NDArray[np.int64],
    taint: NDArray[np.float64],
    result: TraceResult,
    seg_time: NDArray[Any],
) -> Coins:
    """Backward: the coins spent by the given input rows (minted value is recorded apart),
    timed when they were spent: an origin's arrival is when the value left it."""
    sub = ins.take(pa.array(rows))
    prev = column(sub, "link_tx").astype(np.int64)
    minted = prev == NO_LINK
    if minted.any():
        result.hold("(newly minted)", float(taint[minted].sum()))
    n = len(sub)
    none = np.array([None] * n, dtype=object)
    coins = Coins(
        prev,
        none,
        np.nan_to_num(column(sub, "link_n").astype(np.float64), nan=-1).astype(np.int64),
        column(sub, "address_id").astype(np.int64),
        column(sub, "value").astype(np.int64),
        np.full(n, NO_LINK, np.int64),
        seg_time[column(sub, "seg").astype(np.int64)],
        taint,
        Intervals.empty(),
    )
    return coins.take(~minted)
