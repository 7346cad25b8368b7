"""Pages of the tracing index (migration 012): the spend graph packed by runs of ids.

A trace hop needs both sides of a few hundred transactions scattered over the chain. Read
from `trace_coins`, DuckDB scans every row group (~120,000 rows) holding one of them: at
10M transactions a hop cost ~17 ms. Packed `PAGE_TXS` transactions to a row, a hop reads
only the pages it needs (one semi-join on the page number; the payload column is stored
uncompressed so DuckDB reads just the matching rows) and decodes them with NumPy: ~4 ms.

The pages are a snapshot of `trace_coins`/`trace_txs` for the ids below `upto`, and so
are the hash keys of those transactions, kept in key order (`trace_hash_keys`) so that a
seed's transaction is found without a scan of every key. A spend
written in a page counts only when its spending transaction is below `upto` as well; any
other output of a page may have been spent later, which `HopFetch` asks `trace_coins`
about. So the snapshot stays right while blocks are added (they are read from
`trace_coins` until the next rebuild) and after a reorg (pages from the fork on are
dropped). `refresh` rebuilds the whole snapshot once the ids it lacks exceed 1/`REBUILD`
of the index, so a rebuild's cost is spread over at least that much new chain.

Payload of a page of t transactions, c coins (inputs then outputs of each transaction,
each side by n) and h bytes of transaction hashes, native byte order, every field aligned
to its size:
    int64[3] t, c, h | int64 fee[t], time[t] (µs since the epoch) | int64 value[c],
    address_id[c] (-1: none), link_tx[c] | int32 n_in[t], coin_end[t], hash_end[t] (running
    ends within the page), n[c], link_n[c] (-1: none), name_end[c] | uint8 is_coinbase[t] |
    hash bytes, UTF-8, concatenated | address bytes of the outputs, UTF-8, concatenated
    (`name_end`: running ends; inputs add none) | zero padding to a multiple of 8.
The outputs' address strings are there so a trace names the addresses of its edges from
the pages it read; asked of the 16M-row address dictionary, 1,600 scattered ids cost a
scan of every id (~20 ms at 10M transactions).
`link_tx` follows `hop_fetch`: an input's spent coin (NO_LINK for a coinbase input, -1 for
a coin not stored), an output's spending transaction (NO_LINK: unspent when paged).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from chainsleuth.store.db import transaction

PAGE_TXS = 64
STEP_TXS = 1 << 18  # transactions packed per read of trace_coins (a multiple of PAGE_TXS)
REBUILD = 8
READ_PAGES = 2048  # pages fetched per query (~30 MB of payload)
NO_LINK = -2


@dataclass
class Layout:
    """Byte offsets of each field in pages of t transactions, c coins and h hash bytes."""

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
    name_end: NDArray[np.int64]
    is_coinbase: NDArray[np.int64]
    hashes: NDArray[np.int64]
    names: NDArray[np.int64]

    @classmethod
    def of(cls, t: NDArray[np.int64], c: NDArray[np.int64], h: NDArray[np.int64]) -> Layout:
        """The offsets for pages of `t` transactions, `c` coins and `h` hash bytes."""
        offsets: dict[str, NDArray[np.int64]] = {}
        at = np.full(len(t), 24, np.int64)
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
            ("name_end", 4, False),
            ("is_coinbase", 1, True),
        ):
            offsets[name] = at
            at = at + size * (t if per_tx else c)
        return cls(hashes=at, names=at + h, **offsets)


def _scatter(buf: NDArray[np.uint8], pos: NDArray[np.int64], values: NDArray[Any]) -> None:
    """Write `values` at byte positions `pos` (multiples of their size) of `buf`."""
    size = values.dtype.itemsize
    buf.view(values.dtype)[pos // size] = values


def _gather(buf: NDArray[np.uint8], pos: NDArray[np.int64], dtype: Any) -> NDArray[Any]:
    """The values of `dtype` at byte positions `pos` (multiples of its size) of `buf`."""
    dt = np.dtype(dtype)
    return np.asarray(buf[: len(buf) // dt.itemsize * dt.itemsize].view(dt)[pos // dt.itemsize])


def _place(
    buf: NDArray[np.uint8], at: NDArray[np.int64], data: NDArray[np.uint8], runs: NDArray[np.int64]
) -> None:
    """Copy consecutive runs of `data` (lengths `runs`) to byte positions `at` of `buf`."""
    src = np.cumsum(runs) - runs
    for start, first, length in zip(at.tolist(), src.tolist(), runs.tolist(), strict=True):
        buf[start : start + length] = data[first : first + length]


def _strings(buf: NDArray[np.uint8], start: NDArray[np.int64], end: NDArray[np.int64]) -> pa.Array:
    """The strings at byte ranges [start, end) of `buf`."""
    k, rank = _ranks(end - start)
    off = np.concatenate([[0], np.cumsum(end - start)]).astype(np.int32)
    return pa.StringArray.from_buffers(
        len(start), pa.py_buffer(off.tobytes()), pa.py_buffer(buf[start[k] + rank].tobytes())
    )


def _ranks(counts: NDArray[np.int64]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """For runs of `counts` items: each item's run and its rank within the run."""
    run = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
    starts = np.cumsum(counts) - counts
    return run, np.arange(len(run), dtype=np.int64) - starts[run]


def pack(first: int, txs: pa.Table, coins: pa.Table) -> pa.Table:
    """Pages (page, payload) of transactions `txs` (ids from `first`, a page start, in order)
    and their `coins` (in (tx_id, side, n) order, with the outputs' `address` strings:
    empty for inputs and outputs without one); the layout is in the module docstring."""
    tx_id = txs.column("tx_id").to_numpy()
    t_all = len(tx_id)
    if t_all == 0:
        return pa.table({"page": pa.array([], pa.int64()), "payload": pa.array([], pa.binary())})
    local_tx = tx_id - first
    c_tx = coins.column("tx_id").to_numpy() - first
    side = coins.column("side").to_numpy()
    n_in = np.bincount(c_tx[side == 0], minlength=t_all).astype(np.int64)
    per_tx = np.bincount(c_tx, minlength=t_all).astype(np.int64)
    h_bytes, h_off = binary_rows(txs.column("tx_hash"))
    a_bytes, a_off = binary_rows(coins.column("address"))
    h_len, a_len = np.diff(h_off), np.diff(a_off)
    page_of_tx = local_tx // PAGE_TXS
    pages = int(page_of_tx[-1]) + 1
    t = np.bincount(page_of_tx, minlength=pages).astype(np.int64)
    c = np.bincount(page_of_tx, weights=per_tx, minlength=pages).astype(np.int64)
    h = np.bincount(page_of_tx, weights=h_len, minlength=pages).astype(np.int64)
    cp = c_tx // PAGE_TXS
    a = np.bincount(cp, weights=a_len, minlength=pages).astype(np.int64)
    lay = Layout.of(t, c, h)
    size = (lay.names + a + 7) // 8 * 8
    base = np.cumsum(size) - size
    buf = np.zeros(int(size.sum()), np.uint8)
    _scatter(buf, base, t)
    _scatter(buf, base + 8, c)
    _scatter(buf, base + 16, h)

    def put(name: str, values: NDArray[Any], page: NDArray[np.int64], rank: NDArray[Any]) -> None:
        _scatter(buf, base[page] + getattr(lay, name)[page] + rank * values.dtype.itemsize, values)

    p = page_of_tx
    tx_rank = local_tx - p * PAGE_TXS  # the transactions of a page have consecutive ids
    page_first = np.cumsum(t) - t  # row of each page's first transaction
    first_coin = np.cumsum(c) - c  # row of each page's first coin

    def within_page(
        counts: NDArray[np.int64], first: NDArray[np.int64], page: NDArray[np.int64]
    ) -> NDArray[np.int32]:
        """Running ends of `counts` (one per row, rows of `page`, a page's first row at
        `first`), restarting at each page."""
        ends = np.cumsum(counts)
        return np.asarray(ends - (ends - counts)[first][page], np.int32)

    put("fee", txs.column("fee").to_numpy().astype(np.int64), p, tx_rank)
    put("time", txs.column("time").to_numpy().astype(np.int64), p, tx_rank)
    put("n_in", n_in.astype(np.int32), p, tx_rank)
    put("coin_end", within_page(per_tx, page_first, p), p, tx_rank)
    put("hash_end", within_page(h_len, page_first, p), p, tx_rank)
    put("is_coinbase", txs.column("is_coinbase").to_numpy().astype(np.uint8), p, tx_rank)
    c_rank = np.arange(len(c_tx), dtype=np.int64) - first_coin[cp]
    for name in ("value", "address_id", "link_tx", "n", "link_n"):
        dtype = np.int32 if name in ("n", "link_n") else np.int64
        put(name, coins.column(name).to_numpy().astype(dtype), cp, c_rank)
    put("name_end", within_page(a_len, first_coin, cp), cp, c_rank)
    _place(buf, base + lay.hashes, h_bytes, h)  # each page's hashes are one run of bytes
    _place(buf, base + lay.names, a_bytes, a)  # and so are its addresses
    offsets = pa.py_buffer(np.concatenate([base, [buf.size]]).astype(np.int64).tobytes())
    payload = pa.LargeBinaryArray.from_buffers(
        pa.large_binary(), pages, [None, offsets, pa.py_buffer(buf)]
    )
    first_page = first // PAGE_TXS
    return pa.table(
        {"page": np.arange(first_page, first_page + pages, dtype=np.int64), "payload": payload}
    )


def binary_rows(column: pa.ChunkedArray) -> tuple[NDArray[np.uint8], NDArray[np.int64]]:
    """The bytes of a binary or string column and the row bounds in them (n + 1 offsets;
    the first row starts at 0, on an 8-byte boundary, so fields inside stay aligned)."""
    arr = column.combine_chunks()
    wide = pa.types.is_large_binary(arr.type) or pa.types.is_large_string(arr.type)
    raw = np.frombuffer(arr.buffers()[1], np.int64 if wide else np.int32)
    offsets: NDArray[np.int64] = raw[arr.offset : arr.offset + len(arr) + 1].astype(np.int64)
    data = arr.buffers()[2]
    buf = np.frombuffer(data, np.uint8) if data is not None else np.zeros(0, np.uint8)
    if offsets[0] or buf.ctypes.data % 8:
        buf = buf[offsets[0] : offsets[-1]].copy()
        offsets = offsets - offsets[0]
    return buf[: offsets[-1]], offsets


def read(
    con: duckdb.DuckDBPyConnection, chain: str, txs: NDArray[np.int64], first_seg: int = 0
) -> dict[str, pa.Table]:
    """Both sides and the own fields of the paged transactions `txs` (sorted, unique).

    `ins` and `outs` (columns seg, n, value, address_id, link_tx, link_n, and for outputs
    `address`, the string, empty if none; by seg then n) and `meta` (seg, tx_hash, fee,
    time, is_coinbase), where seg is `first_seg` plus the position in `txs`. Spends are as
    paged (see `upto` for which ones count). Read READ_PAGES pages at a time, so the
    payloads held at once stay small whatever is asked (an exchange's address as a seed:
    100,000 transactions on 60,000 pages).
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
    buf, bounds = binary_rows(got.column("payload"))
    base_of = bounds[:-1]
    order = np.argsort(page)
    r = order[np.searchsorted(page, wanted_page, sorter=order)]
    if not np.array_equal(page[r], wanted_page):
        raise LookupError(f"tracing pages of {chain} miss transactions the index holds")
    base = base_of[r]
    lay = Layout.of(*(_gather(buf, base + 8 * i, np.int64) for i in range(3)))
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

    def side(start: NDArray[np.int64], count: NDArray[np.int64], named: bool) -> pa.Table:
        k, rank = _ranks(count)
        coin = start[k] + rank
        b = base[k]

        def field(name: str, dtype: Any, row: NDArray[np.int64] = coin) -> NDArray[np.int64]:
            pos = b + getattr(lay, name)[k] + row * np.dtype(dtype).itemsize
            return _gather(buf, pos, dtype).astype(np.int64)

        columns: dict[str, Any] = {
            "seg": segs[k],
            "n": field("n", np.int32),
            "value": field("value", np.int64),
            "address_id": field("address_id", np.int64),
            "link_tx": field("link_tx", np.int64),
            "link_n": field("link_n", np.int32),
        }
        if named:
            end = field("name_end", np.int32)
            begin = np.where(coin > 0, field("name_end", np.int32, np.maximum(coin - 1, 0)), 0)
            columns["address"] = _strings(buf, b + lay.names[k] + begin, b + lay.names[k] + end)
        return pa.table(columns)

    h_start, h_end = ends("hash_end")
    meta = pa.table(
        {
            "seg": segs,
            "tx_hash": _strings(buf, base + lay.hashes + h_start, base + lay.hashes + h_end),
            "fee": at("fee", local, np.int64),
            "time": pa.array(at("time", local, np.int64), pa.timestamp("us")),
            "is_coinbase": at("is_coinbase", local, np.uint8).astype(bool),
        }
    )
    return {
        "ins": side(c_start, n_in, named=False),
        "outs": side(c_start + n_in, c_end - c_start - n_in, named=True),
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


class _Names:
    """The address dictionary of a chain held in memory while its pages are written (one
    read of it; joined to each step's outputs instead, DuckDB read every address string
    once per step: 0.65 s instead of 0.15 s a step at 10M transactions)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, chain: str) -> None:
        got = con.sql(
            "SELECT address_id, address FROM addresses WHERE chain = $chain",
            params={"chain": chain},
        ).to_arrow_table()
        ids = got.column("address_id").to_numpy()
        self.row = np.full(int(ids.max(initial=-1)) + 1, -1, np.int64)  # by id, -1: none
        self.row[ids] = np.arange(len(ids))
        self.strings = got.column("address")

    def of(self, address_id: pa.ChunkedArray, named: NDArray[np.bool_]) -> pa.ChunkedArray:
        """The strings of the `named` rows' `address_id`s; empty for the others."""
        ids = address_id.to_numpy()
        known = named & (ids >= 0) & (ids < len(self.row))
        row = np.where(known, self.row[np.where(known, ids, 0)], -1)
        taken = self.strings.take(pa.array(row, mask=row < 0))
        return pc.fill_null(taken, "")


def refresh(con: duckdb.DuckDBPyConnection, chain: str) -> None:
    """Rebuild the pages of `chain` when the index has outgrown them by 1/REBUILD."""
    indexed = _indexed(con, chain)
    if (indexed - upto(con, chain)) * REBUILD > indexed:
        rebuild(con, chain)


def rebuild(con: duckdb.DuckDBPyConnection, chain: str, until: int | None = None) -> None:
    """Page the index of `chain` from scratch, up to transaction `until` (default: all),
    with the hash keys of the paged transactions in key order (`trace_hash_keys`).

    Pages are written in steps of STEP_TXS transactions, each committed; `upto` and the
    keys in one last transaction: an interrupted rebuild leaves no pages in use.
    """
    end = _indexed(con, chain) if until is None else until
    names = _Names(con, chain)
    with transaction(con):
        _set_upto(con, chain, 0)
        con.execute("DELETE FROM trace_pages WHERE chain = ?", [chain])
        con.execute("DELETE FROM trace_hash_keys WHERE chain = ?", [chain])
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
        output = coins.column("side").to_numpy() == 1
        coins = coins.append_column("address", names.of(coins.column("address_id"), output))
        con.register("_paged", pack(start, txs, coins))
        try:
            with transaction(con):
                con.execute("INSERT INTO trace_pages SELECT ?, page, payload FROM _paged", [chain])
        finally:
            con.unregister("_paged")
    with transaction(con):
        con.execute(
            """INSERT INTO trace_hash_keys SELECT chain, hash_key, tx_id FROM trace_txs
            WHERE chain = ? AND tx_id < ? ORDER BY hash_key""",
            [chain, end],
        )
        _set_upto(con, chain, end)


def cut(con: duckdb.DuckDBPyConnection, chain: str, first: int) -> None:
    """Drop the pages holding transaction `first` or later, and the hash keys from the
    first of those pages on (the index is cut back to `first`)."""
    page = first // PAGE_TXS
    con.execute("DELETE FROM trace_pages WHERE chain = ? AND page >= ?", [chain, page])
    con.execute(
        "DELETE FROM trace_hash_keys WHERE chain = ? AND tx_id >= ?", [chain, page * PAGE_TXS]
    )
    _set_upto(con, chain, min(upto(con, chain), page * PAGE_TXS))
