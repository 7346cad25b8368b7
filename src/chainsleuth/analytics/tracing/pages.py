"""Pages of the tracing index (migration 012): the spend graph packed by runs of ids.

A trace hop needs both sides of a few hundred transactions scattered over the chain. Read
from `trace_coins`, DuckDB scans every row group (~120,000 rows) holding one of them: at
10M transactions a hop cost ~17 ms. Packed `PAGE_TXS` transactions to a row, a hop reads
only the pages it needs (one semi-join on the page number; the payload column is stored
uncompressed so DuckDB reads just the matching rows) and decodes them with NumPy: ~4 ms.

The pages are a snapshot of `trace_coins`/`trace_txs` for the ids below `upto`. A spend
written in a page counts only when its spending transaction is below `upto` as well; any
other output of a page may have been spent later, which `HopFetch` asks `trace_coins`
about. So the snapshot stays right while blocks are added (they are read from
`trace_coins` until the next rebuild) and after a reorg (pages from the fork on are
dropped). `refresh` rebuilds the whole snapshot once the ids it lacks exceed 1/`REBUILD`
of the index, so a rebuild's cost is spread over at least that much new chain.

Payload of a page of t transactions and c coins (inputs then outputs of each transaction,
each side by n), native byte order, every field aligned to its size:
    int64[2] t, c | int64 fee[t], time[t] (µs since the epoch) | int64 value[c],
    address_id[c] (-1: none), link_tx[c] | int32 n_in[t], coin_end[t], hash_end[t] (running
    ends within the page), n[c], link_n[c] (-1: none) | uint8 is_coinbase[t] | hash bytes,
    UTF-8, concatenated | zero padding to a multiple of 8.
`link_tx` follows `hop_fetch`: an input's spent coin (NO_LINK for a coinbase input, -1 for
a coin not stored), an output's spending transaction (NO_LINK: unspent when paged).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from chainsleuth.store.db import transaction

PAGE_TXS = 64
STEP_TXS = 1 << 18  # transactions packed per read of trace_coins (a multiple of PAGE_TXS)
REBUILD = 8
READ_PAGES = 2048  # pages fetched per query (~30 MB of payload)
NO_LINK = -2


@dataclass
class Layout:
    """Byte offsets of each field in pages of t transactions and c coins (arrays)."""

    fee: NDArray[np.int64]
    time: NDArray[np.int64]
    value: NDArray[np.int64]
    address_id: NDArray[np.int64]
    link_tx: NDArray[np.int64]
    n_in: NDArray[np.int64]
    coin_end: NDArray[np.int64]
    hash_end: NDArray[np.int64]
    n: NDArray[np.int64]
    link_n: NDArray[np.int64]
    is_coinbase: NDArray[np.int64]
    hashes: NDArray[np.int64]

    @classmethod
    def of(cls, t: NDArray[np.int64], c: NDArray[np.int64]) -> Layout:
        """The offsets for pages of `t` transactions and `c` coins."""
        offsets: dict[str, NDArray[np.int64]] = {}
        at = np.full(len(t), 16, np.int64)
        for name, size, per_tx in (
            ("fee", 8, True),
            ("time", 8, True),
            ("value", 8, False),
            ("address_id", 8, False),
            ("link_tx", 8, False),
            ("n_in", 4, True),
            ("coin_end", 4, True),
            ("hash_end", 4, True),
            ("n", 4, False),
            ("link_n", 4, False),
            ("is_coinbase", 1, True),
        ):
            offsets[name] = at
            at = at + size * (t if per_tx else c)
        return cls(hashes=at, **offsets)


def _scatter(buf: NDArray[np.uint8], pos: NDArray[np.int64], values: NDArray[Any]) -> None:
    """Write `values` at byte positions `pos` (multiples of their size) of `buf`."""
    size = values.dtype.itemsize
    buf.view(values.dtype)[pos // size] = values


def _gather(buf: NDArray[np.uint8], pos: NDArray[np.int64], dtype: Any) -> NDArray[Any]:
    """The values of `dtype` at byte positions `pos` (multiples of its size) of `buf`."""
    dt = np.dtype(dtype)
    return np.asarray(buf[: len(buf) // dt.itemsize * dt.itemsize].view(dt)[pos // dt.itemsize])


def _ranks(counts: NDArray[np.int64]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """For runs of `counts` items: each item's run and its rank within the run."""
    run = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
    starts = np.cumsum(counts) - counts
    return run, np.arange(len(run), dtype=np.int64) - starts[run]


def pack(first: int, txs: pa.Table, coins: pa.Table) -> pa.Table:
    """Pages (page, payload) of transactions `txs` (ids from `first`, a page start, in order)
    and their `coins` (in (tx_id, side, n) order); the layout is in the module docstring."""
    tx_id = txs.column("tx_id").to_numpy()
    t_all = len(tx_id)
    if t_all == 0:
        return pa.table({"page": pa.array([], pa.int64()), "payload": pa.array([], pa.binary())})
    local_tx = tx_id - first
    c_tx = coins.column("tx_id").to_numpy() - first
    side = coins.column("side").to_numpy()
    n_in = np.bincount(c_tx[side == 0], minlength=t_all).astype(np.int64)
    per_tx = np.bincount(c_tx, minlength=t_all).astype(np.int64)
    hashes = txs.column("tx_hash").combine_chunks().cast(pa.binary())
    h_off = np.frombuffer(hashes.buffers()[1], np.int32)[hashes.offset : hashes.offset + t_all + 1]
    h_bytes = np.frombuffer(hashes.buffers()[2], np.uint8)[h_off[0] : h_off[-1]]
    h_len = np.diff(h_off).astype(np.int64)
    page_of_tx = local_tx // PAGE_TXS
    pages = int(page_of_tx[-1]) + 1
    t = np.bincount(page_of_tx, minlength=pages).astype(np.int64)
    c = np.bincount(page_of_tx, weights=per_tx, minlength=pages).astype(np.int64)
    h = np.bincount(page_of_tx, weights=h_len, minlength=pages).astype(np.int64)
    lay = Layout.of(t, c)
    size = (lay.hashes + h + 7) // 8 * 8
    base = np.cumsum(size) - size
    buf = np.zeros(int(size.sum()), np.uint8)
    _scatter(buf, base, t)
    _scatter(buf, base + 8, c)

    def put(name: str, values: NDArray[Any], page: NDArray[np.int64], rank: NDArray[Any]) -> None:
        _scatter(buf, base[page] + getattr(lay, name)[page] + rank * values.dtype.itemsize, values)

    p = page_of_tx
    tx_rank = local_tx - p * PAGE_TXS  # the transactions of a page have consecutive ids
    page_first = np.cumsum(t) - t  # row of each page's first transaction

    def within_page(counts: NDArray[np.int64]) -> NDArray[np.int32]:
        """Running ends of `counts` (one per transaction), restarting at each page."""
        ends = np.cumsum(counts)
        return np.asarray(ends - (ends - counts)[page_first][p], np.int32)

    put("fee", txs.column("fee").to_numpy().astype(np.int64), p, tx_rank)
    put("time", txs.column("time").to_numpy().astype(np.int64), p, tx_rank)
    put("n_in", n_in.astype(np.int32), p, tx_rank)
    put("coin_end", within_page(per_tx), p, tx_rank)
    put("hash_end", within_page(h_len), p, tx_rank)
    put("is_coinbase", txs.column("is_coinbase").to_numpy().astype(np.uint8), p, tx_rank)
    cp = c_tx // PAGE_TXS
    c_rank = np.arange(len(c_tx), dtype=np.int64) - (np.cumsum(c) - c)[cp]
    for name in ("value", "address_id", "link_tx", "n", "link_n"):
        dtype = np.int32 if name in ("n", "link_n") else np.int64
        put(name, coins.column(name).to_numpy().astype(dtype), cp, c_rank)
    h_from = np.cumsum(h) - h  # each page's hashes are one run of the hash bytes
    for at, src, length in zip(
        (base + lay.hashes).tolist(), h_from.tolist(), h.tolist(), strict=True
    ):
        buf[at : at + length] = h_bytes[src : src + length]
    offsets = pa.py_buffer(np.concatenate([base, [buf.size]]).astype(np.int64).tobytes())
    payload = pa.LargeBinaryArray.from_buffers(
        pa.large_binary(), pages, [None, offsets, pa.py_buffer(buf)]
    )
    first_page = first // PAGE_TXS
    return pa.table(
        {"page": np.arange(first_page, first_page + pages, dtype=np.int64), "payload": payload}
    )


def _payloads(column: pa.ChunkedArray) -> tuple[NDArray[np.uint8], NDArray[np.int64]]:
    """The bytes of a binary column and each row's start in them."""
    arr = column.combine_chunks()
    wide = pa.types.is_large_binary(arr.type)
    raw = np.frombuffer(arr.buffers()[1], np.int64 if wide else np.int32)
    offsets: NDArray[np.int64] = raw[arr.offset : arr.offset + len(arr) + 1].astype(np.int64)
    data = arr.buffers()[2]
    buf = np.frombuffer(data, np.uint8) if data is not None else np.zeros(0, np.uint8)
    if offsets[0] % 8 or buf.ctypes.data % 8:  # keep the fields aligned to their size
        buf = buf[offsets[0] : offsets[-1]].copy()
        offsets = offsets - offsets[0]
    return buf, offsets[:-1]


def read(
    con: duckdb.DuckDBPyConnection, chain: str, txs: NDArray[np.int64], first_seg: int = 0
) -> dict[str, pa.Table]:
    """Both sides and the own fields of the paged transactions `txs` (sorted, unique).

    `ins` and `outs` (columns seg, n, value, address_id, link_tx, link_n; by seg then n)
    and `meta` (seg, tx_hash, fee, time, is_coinbase), where seg is `first_seg` plus the
    position in `txs`. Spends are as paged (see `upto` for which ones count). Read
    READ_PAGES pages at a time, so the payloads held at once stay small whatever is asked
    (an exchange's address as a seed: 100,000 transactions on 60,000 pages).
    """
    cuts = np.searchsorted(txs // PAGE_TXS, np.unique(txs // PAGE_TXS)[READ_PAGES::READ_PAGES])
    parts = [
        _read(con, chain, part, first_seg + int(start))
        for part, start in zip(np.split(txs, cuts), [0, *cuts.tolist()], strict=True)
    ]
    return {name: pa.concat_tables([p[name] for p in parts]) for name in parts[0]}


def _read(
    con: duckdb.DuckDBPyConnection, chain: str, txs: NDArray[np.int64], first_seg: int
) -> dict[str, pa.Table]:
    """`read` of transactions on at most READ_PAGES pages."""
    wanted_page = txs // PAGE_TXS
    got = con.sql(
        "SELECT p.page, p.payload FROM trace_pages p"
        " SEMI JOIN (SELECT unnest($pages) AS page) USING (page) WHERE p.chain = $chain",
        params={"chain": chain, "pages": np.unique(wanted_page).tolist()},
    ).to_arrow_table()
    page = got.column("page").to_numpy()
    buf, base_of = _payloads(got.column("payload"))
    order = np.argsort(page)
    r = order[np.searchsorted(page, wanted_page, sorter=order)]
    if not np.array_equal(page[r], wanted_page):
        raise LookupError(f"tracing pages of {chain} miss transactions the index holds")
    base = base_of[r]
    lay = Layout.of(_gather(buf, base, np.int64), _gather(buf, base + 8, np.int64))
    local = txs - wanted_page * PAGE_TXS
    prev = np.maximum(local - 1, 0)

    def at(name: str, row: NDArray[np.int64], dtype: Any) -> NDArray[Any]:
        return _gather(buf, base + getattr(lay, name) + row * np.dtype(dtype).itemsize, dtype)

    def ends(name: str) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        end = at(name, local, np.int32).astype(np.int64)
        return np.where(local > 0, at(name, prev, np.int32), 0).astype(np.int64), end

    c_start, c_end = ends("coin_end")
    n_in = at("n_in", local, np.int32).astype(np.int64)
    segs = np.arange(first_seg, first_seg + len(txs), dtype=np.int64)

    def side(start: NDArray[np.int64], count: NDArray[np.int64]) -> pa.Table:
        k, rank = _ranks(count)
        coin = start[k] + rank
        b = base[k]

        def field(name: str, dtype: Any) -> NDArray[np.int64]:
            pos = b + getattr(lay, name)[k] + coin * np.dtype(dtype).itemsize
            return _gather(buf, pos, dtype).astype(np.int64)

        return pa.table(
            {
                "seg": segs[k],
                "n": field("n", np.int32),
                "value": field("value", np.int64),
                "address_id": field("address_id", np.int64),
                "link_tx": field("link_tx", np.int64),
                "link_n": field("link_n", np.int32),
            }
        )

    h_start, h_end = ends("hash_end")
    k, rank = _ranks(h_end - h_start)
    h_bytes = buf[base[k] + lay.hashes[k] + h_start[k] + rank]
    h_off = np.concatenate([[0], np.cumsum(h_end - h_start)]).astype(np.int32)
    tx_hash = pa.StringArray.from_buffers(
        len(txs), pa.py_buffer(h_off.tobytes()), pa.py_buffer(h_bytes.tobytes())
    )
    meta = pa.table(
        {
            "seg": segs,
            "tx_hash": tx_hash,
            "fee": at("fee", local, np.int64),
            "time": pa.array(at("time", local, np.int64), pa.timestamp("us")),
            "is_coinbase": at("is_coinbase", local, np.uint8).astype(bool),
        }
    )
    return {
        "ins": side(c_start, n_in),
        "outs": side(c_start + n_in, c_end - c_start - n_in),
        "meta": meta,
    }


def upto(con: duckdb.DuckDBPyConnection, chain: str) -> int:
    """Transactions below this id are paged (0: none)."""
    found = con.execute(
        "SELECT upto FROM trace_pages_state WHERE chain = ? AND page_txs = ?", [chain, PAGE_TXS]
    ).fetchall()
    return int(found[0][0]) if found else 0


def _indexed(con: duckdb.DuckDBPyConnection, chain: str) -> int:
    found = con.execute(
        "SELECT coalesce(max(tx_id), -1) + 1 FROM trace_txs WHERE chain = ?", [chain]
    ).fetchall()
    return int(found[0][0])


def _set_upto(con: duckdb.DuckDBPyConnection, chain: str, value: int) -> None:
    con.execute(
        "INSERT OR REPLACE INTO trace_pages_state (chain, page_txs, upto) VALUES (?, ?, ?)",
        [chain, PAGE_TXS, value],
    )


def refresh(con: duckdb.DuckDBPyConnection, chain: str) -> None:
    """Rebuild the pages of `chain` when the index has outgrown them by 1/REBUILD."""
    indexed = _indexed(con, chain)
    if (indexed - upto(con, chain)) * REBUILD > indexed:
        rebuild(con, chain)


def rebuild(con: duckdb.DuckDBPyConnection, chain: str, until: int | None = None) -> None:
    """Page the index of `chain` from scratch, up to transaction `until` (default: all).

    In steps of STEP_TXS transactions, each committed with the `upto` it reaches: an
    interrupted rebuild leaves fewer pages, never wrong ones.
    """
    end = _indexed(con, chain) if until is None else until
    with transaction(con):
        con.execute("DELETE FROM trace_pages WHERE chain = ?", [chain])
        _set_upto(con, chain, 0)
    con.execute("CHECKPOINT")  # the old pages' space is reused by the new ones
    for start in range(0, end, STEP_TXS):
        stop = min(start + STEP_TXS, end)
        span = {"chain": chain, "start": start, "stop": stop}
        txs = con.sql(
            """SELECT tx_id, tx_hash, fee, epoch_us(time) AS time, is_coinbase FROM trace_txs
            WHERE chain = $chain AND tx_id >= $start AND tx_id < $stop ORDER BY tx_id""",
            params=span,
        ).to_arrow_table()
        coins = con.sql(
            f"""SELECT tx_id, side, n, value, address_id,
                coalesce(link_tx, {NO_LINK}) AS link_tx,
                coalesce(link_n, -1) AS link_n
            FROM trace_coins WHERE chain = $chain AND tx_id >= $start AND tx_id < $stop
            ORDER BY tx_id, side, n""",
            params=span,
        ).to_arrow_table()
        con.register("_paged", pack(start, txs, coins))
        try:
            with transaction(con):
                con.execute("INSERT INTO trace_pages SELECT ?, page, payload FROM _paged", [chain])
                _set_upto(con, chain, stop)
        finally:
            con.unregister("_paged")


def cut(con: duckdb.DuckDBPyConnection, chain: str, first: int) -> None:
    """Drop the pages holding transaction `first` or later (the index is cut back there)."""
    page = first // PAGE_TXS
    con.execute("DELETE FROM trace_pages WHERE chain = ? AND page >= ?", [chain, page])
    _set_upto(con, chain, min(upto(con, chain), page * PAGE_TXS))
