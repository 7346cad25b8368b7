"""Taint arithmetic for one hop through many transactions at once (pure NumPy).

A transaction is seen as two tilings of the same span of value: the *source side* (the
coins taint arrives on) and the *target side* (the coins it leaves on). Forward, the source
side is the inputs in order and the target side the outputs in order followed by the fee;
backward, the source side is the outputs and the target side the inputs. Every model is a
rule for moving taint from source tiles to target tiles:

- **poison** — any taint on the source side taints every target tile entirely
  (the "poison" model of Möser, Böhme & Breuker 2014, "Towards Risk Scoring of Bitcoin
  Transactions").
- **haircut** — the tainted share of the source side is applied to every target tile:
  taint is diluted, never lost (Möser et al. 2014).
- **fifo** / **lifo** — value keeps its order: the first satoshi in is the first out
  (Anderson, Shumailov, Ryan & Stajano 2016, "Bitcoin Redux", after Clayton's Case, 1816);
  LIFO reads the source side in reverse. Taint is a set of intervals within each coin, so
  a precise path through many hops is kept, not an average.

Source and target tiles are given as flat arrays grouped by transaction segment
(`seg`, sorted ascending); taint is either an amount per tile (poison/haircut) or a list of
intervals (tile index, start, end) relative to the tile (fifo/lifo).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from numpy.typing import NDArray

I64 = NDArray[np.int64]
F64 = NDArray[np.float64]


class Model(StrEnum):
    """The selectable taint models."""

    poison = "poison"
    haircut = "haircut"
    fifo = "fifo"
    lifo = "lifo"


@dataclass(frozen=True)
class Tiles:
    """Coins of one side of many transactions: segment (transaction) and value, in order."""

    seg: I64
    value: I64

    def offsets(self, n_segments: int, reverse: bool = False) -> I64:
        """Start of each tile within its segment's span (reverse: counted from the end)."""
        starts = np.cumsum(self.value) - self.value
        rel = starts - starts[np.searchsorted(self.seg, self.seg, side="left")]
        if not reverse:
            return rel
        totals = np.bincount(self.seg, weights=self.value, minlength=n_segments).astype(np.int64)
        return totals[self.seg] - rel - self.value


@dataclass(frozen=True)
class Intervals:
    """Tainted intervals [start, end) within tiles, tile-relative."""

    tile: I64
    start: I64
    end: I64

    @staticmethod
    def empty() -> Intervals:
        """No taint."""
        z = np.zeros(0, dtype=np.int64)
        return Intervals(z, z, z)

    def amount_per_tile(self, n_tiles: int) -> I64:
        """Tainted amount on each tile."""
        return np.bincount(self.tile, weights=self.end - self.start, minlength=n_tiles).astype(
            np.int64
        )


def proportional(model: Model, src: Tiles, taint: F64, dst: Tiles, n_segments: int) -> F64:
    """Poison or haircut: the taint each target tile receives, given taint per source tile."""
    seg_taint = np.bincount(src.seg, weights=taint, minlength=n_segments).astype(np.float64)
    if model is Model.poison:
        return np.where(seg_taint[dst.seg] > 0, dst.value, 0).astype(np.float64)
    if model is not Model.haircut:
        raise ValueError(f"{model} is not a proportional model")
    seg_total = np.bincount(dst.seg, weights=dst.value, minlength=n_segments).astype(np.float64)
    share = np.divide(seg_taint, seg_total, out=np.zeros_like(seg_taint), where=seg_total > 0)
    return np.asarray(dst.value * share[dst.seg], dtype=np.float64)


def ordered(
    src: Tiles, taint: Intervals, dst: Tiles, n_segments: int, *, reverse: bool = False
) -> Intervals:
    """FIFO (or LIFO with `reverse`): map source intervals onto the target tiles they cover.

    Source value beyond the target side's span (impossible forward, where the fee is a
    target tile) is dropped.
    """
    if len(taint.tile) == 0:
        return Intervals.empty()
    seg_span = np.bincount(dst.seg, weights=dst.value, minlength=n_segments).astype(np.int64)
    base = np.cumsum(seg_span) - seg_span  # each segment's start on one global axis
    src_off = src.offsets(n_segments, reverse=reverse)
    src_seg = src.seg[taint.tile]
    if reverse:  # reading the tile backwards flips the interval inside it
        t_len = src.value[taint.tile]
        a = base[src_seg] + src_off[taint.tile] + (t_len - taint.end)
        b = base[src_seg] + src_off[taint.tile] + (t_len - taint.start)
    else:
        a = base[src_seg] + src_off[taint.tile] + taint.start
        b = base[src_seg] + src_off[taint.tile] + taint.end
    seg_end = base[src_seg] + seg_span[src_seg]
    b = np.minimum(b, seg_end)
    keep = b > a
    a, b = a[keep], b[keep]
    dst_start = base[dst.seg] + dst.offsets(n_segments)
    dst_end = dst_start + dst.value
    nonempty = np.flatnonzero(dst.value > 0)
    starts_ne = dst_start[nonempty]
    first = np.searchsorted(starts_ne, a, side="right") - 1
    last = np.searchsorted(starts_ne, b, side="left") - 1
    counts = last - first + 1
    piece_of = np.repeat(np.arange(len(a)), counts)
    within = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
    tile = nonempty[first[piece_of] + within]
    lo = np.maximum(a[piece_of], dst_start[tile]) - dst_start[tile]
    hi = np.minimum(b[piece_of], dst_end[tile]) - dst_start[tile]
    ok = hi > lo
    return Intervals(tile[ok].astype(np.int64), lo[ok].astype(np.int64), hi[ok].astype(np.int64))
