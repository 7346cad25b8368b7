"""Taint arithmetic against hand-worked examples and conservation laws."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from chainsleuth.analytics.tracing.taint import Intervals, Model, Tiles, ordered, proportional


def tiles(seg: list[int], value: list[int]) -> Tiles:
    return Tiles(np.array(seg, dtype=np.int64), np.array(value, dtype=np.int64))


# One transaction: inputs 10 (clean), 5 (tainted); outputs 8, 6; fee 1 (as the last tile).
SRC = tiles([0, 0], [10, 5])
DST = tiles([0, 0, 0], [8, 6, 1])


def test_poison_taints_every_output() -> None:
    got = proportional(Model.poison, SRC, np.array([0.0, 5.0]), DST, 1)
    assert got.tolist() == [8.0, 6.0, 1.0]


def test_haircut_shares_by_value() -> None:
    got = proportional(Model.haircut, SRC, np.array([0.0, 5.0]), DST, 1)
    assert np.allclose(got, [8 * 5 / 15, 6 * 5 / 15, 1 * 5 / 15])


def test_fifo_follows_order() -> None:
    # Input coins 0..10 clean, 10..15 tainted: output 0 takes 0..8, output 1 takes 8..14
    # (tainted 10..14 -> 2..6 within it), the fee takes 14..15 (tainted).
    got = ordered(SRC, Intervals(np.array([1]), np.array([0]), np.array([5])), DST, 1)
    assert list(zip(got.tile.tolist(), got.start.tolist(), got.end.tolist(), strict=True)) == [
        (1, 2, 6),
        (2, 0, 1),
    ]


def test_lifo_reads_inputs_backwards() -> None:
    # Reversed, the tainted input's 5 coins come first: all into output 0 at 0..5.
    got = ordered(SRC, Intervals(np.array([1]), np.array([0]), np.array([5])), DST, 1, reverse=True)
    assert list(zip(got.tile.tolist(), got.start.tolist(), got.end.tolist(), strict=True)) == [
        (0, 0, 5)
    ]


@st.composite
def hop(draw: st.DrawFn) -> tuple[Tiles, Tiles, Intervals, int]:
    n_seg = draw(st.integers(1, 4))
    src_seg, src_val, dst_seg, dst_val = [], [], [], []
    for s in range(n_seg):
        ins = draw(st.lists(st.integers(1, 50), min_size=1, max_size=4))
        total = sum(ins)
        cuts = sorted(draw(st.lists(st.integers(0, total), min_size=0, max_size=3)))
        outs = [b - a for a, b in zip([0, *cuts], [*cuts, total], strict=True)]
        src_seg += [s] * len(ins)
        src_val += ins
        dst_seg += [s] * len(outs)
        dst_val += outs
    src, dst = tiles(src_seg, src_val), tiles(dst_seg, dst_val)
    iv_tile, iv_start, iv_end = [], [], []
    for i, v in enumerate(src_val):
        if draw(st.booleans()):
            a = draw(st.integers(0, v - 1))
            iv_tile.append(i)
            iv_start.append(a)
            iv_end.append(draw(st.integers(a + 1, v)))
    iv = Intervals(
        np.array(iv_tile, dtype=np.int64),
        np.array(iv_start, dtype=np.int64),
        np.array(iv_end, dtype=np.int64),
    )
    return src, dst, iv, n_seg


@settings(max_examples=200, deadline=None)
@given(hop(), st.booleans())
def test_ordered_conserves_taint_and_stays_in_tiles(case: tuple, reverse: bool) -> None:
    src, dst, iv, n_seg = case
    got = ordered(src, iv, dst, n_seg, reverse=reverse)
    assert int((got.end - got.start).sum()) == int((iv.end - iv.start).sum())
    assert np.all(got.start >= 0) and np.all(got.end <= dst.value[got.tile])
    # taint never crosses transactions
    src_by_seg = np.bincount(src.seg[iv.tile], weights=iv.end - iv.start, minlength=n_seg)
    dst_by_seg = np.bincount(dst.seg[got.tile], weights=got.end - got.start, minlength=n_seg)
    assert np.array_equal(src_by_seg, dst_by_seg)


@settings(max_examples=200, deadline=None)
@given(hop())
def test_haircut_conserves_taint(case: tuple) -> None:
    src, dst, iv, n_seg = case
    amounts = iv.amount_per_tile(len(src.value)).astype(np.float64)
    got = proportional(Model.haircut, src, amounts, dst, n_seg)
    assert np.isclose(got.sum(), amounts.sum())
