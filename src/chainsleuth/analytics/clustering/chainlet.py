"""A window of the Bitcoin chain read into integer arrays, for the array heuristics.

Transactions are numbered in chain order and keyed by DuckDB's 64-bit
`hash(tx_hash, salt)`; the salt is raised until the window's transactions have distinct
keys, so the keys are exact row identities. Rows of `inputs`/`outputs` find their
transaction once per run of equal keys (the store keeps a transaction's rows together):
by a guess from the run's place in its block, checked against the key, else by binary
search over the sorted keys (`Chainlet.tx_of`). Also here: the sorting helpers the
heuristics share, and `first_paid`, each address's first paid height, read once per
clustering run.
"""

from __future__ import annotations

import functools
from concurrent.futures import Future

import duckdb
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from chainsleuth.analytics.clustering.window import Window

I64 = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]
Paid = npt.NDArray[np.int32]
"""Each address id's first paid height (`first_paid`)."""
NO_ADDRESS = -1
MAX_SALTS = 8
FIRST_PAID_BATCH = 1 << 22
"""Outputs read per Arrow batch by `first_paid`."""
SEQUENCE_FINAL = 4294967294
"""An input with a lower nSequence signals replace-by-fee (BIP 125)."""


def col(table: pa.Table, name: str, null: int = NO_ADDRESS) -> I64:
    """An integer column as int64, NULL read as `null`."""
    column = table.column(name)
    if column.null_count:
        column = pc.fill_null(column, null)
    found: I64 = column.to_numpy().astype(np.int64, copy=False)
    return found


def flag(table: pa.Table, name: str) -> Bools:
    """A boolean column, NULL read as false."""
    column = table.column(name)
    if column.null_count:
        column = pc.fill_null(column, False)
    found: Bools = column.to_numpy(zero_copy_only=False).astype(np.bool_, copy=False)
    return found


class Chainlet:
    """The window's transactions, inputs and outputs as arrays keyed by dense tx index."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        w: Window,
        *,
        fingerprint: bool,
        types: bool,
        paid: Future[Paid] | None = None,
    ) -> None:
        """Read the window; `fingerprint` and `types` add what those change rules need;
        `paid` is `first_paid` of a window holding this one, if being read already."""
        self.con, self.w = con, w
        self.first_paid = paid
        extra = ", version, locktime" if fingerprint else ""
        for salt in range(MAX_SALTS):
            txs = con.sql(
                f"SELECT hash(tx_hash, {salt}) AS k, block_height, position, is_coinbase,"
                f" output_count{extra} FROM txs WHERE {w.rows()} ORDER BY block_height, position"
            ).to_arrow_table()
            keys = txs.column("k").to_numpy()
            by_key = np.argsort(keys)
            ordered = keys[by_key]
            if not np.any(ordered[1:] == ordered[:-1]):
                break
        else:  # pragma: no cover - 2^-64 per pair, eight times over
            raise RuntimeError("transaction hash keys collide under every salt")
        self.salt = salt
        self.keys = keys
        """The transactions' keys in chain order."""
        self.sorted_keys, self.by_key = ordered, by_key
        """The transactions' keys sorted, and the transaction (numbered in chain order) of each."""
        self.n = int(keys.size)
        self.height = col(txs, "block_height")
        self.position = col(txs, "position")
        """Each transaction's (height, position): the evidence stored with its links."""
        self.coinbase = flag(txs, "is_coinbase")
        self.output_count = col(txs, "output_count", 0)
        if fingerprint:
            self.version = col(txs, "version", -1)
            self.version_known = ~np.asarray(txs.column("version").is_null())
            self.locktime_set = col(txs, "locktime", 0) > 0
        seq = ", sequence" if fingerprint else ""
        ins = con.sql(
            f"SELECT hash(tx_hash, {salt}) AS k, block_height, address_id, value,"
            f" prev_tx_hash IS NOT NULL AS has_prev{seq} FROM inputs WHERE {w.rows()}"
        ).to_arrow_table()
        self.in_tx = self.tx_of(ins.column("k").to_numpy(), col(ins, "block_height"))
        self.in_addr = col(ins, "address_id")
        self.in_value_known = ~np.asarray(ins.column("value").is_null())
        self.in_value = col(ins, "value", 0)
        self.in_prev = flag(ins, "has_prev")
        if fingerprint:
            sequence = col(ins, "sequence", SEQUENCE_FINAL)
            self.in_rbf = (sequence < SEQUENCE_FINAL) & ~np.asarray(
                ins.column("sequence").is_null()
            )
        spender = (
            f", CASE WHEN spent_by IS NOT NULL THEN hash(spent_by, {salt}) END AS spender"
            if fingerprint
            else ""
        )
        script = ", script_type" if types else ""
        outs = con.sql(
            f"SELECT hash(tx_hash, {salt}) AS k, block_height, address_id, value,"
            f" script_type = 'nulldata' AS nulldata{spender}{script}"
            f" FROM outputs WHERE {w.rows()}"
        ).to_arrow_table()
        self.out_tx = self.tx_of(outs.column("k").to_numpy(), col(outs, "block_height"))
        self.out_addr = col(outs, "address_id")
        self.out_value = col(outs, "value", 0)
        self.out_null = flag(outs, "nulldata")
        if fingerprint:
            spent = ~np.asarray(outs.column("spender").is_null())
            spenders = pc.fill_null(outs.column("spender"), 0).to_numpy()
            self.out_spender = np.full(self.out_tx.size, -1, dtype=np.int64)
            self.out_spender[spent] = self.tx_of(spenders[spent])
        if types:
            self.out_type = outs.column("script_type")
        high = max(int(self.in_addr.max(initial=0)), int(self.out_addr.max(initial=0)))
        self.pair_base = high + 1
        """Multiplier making (tx, address) one int64 key."""

    def tx_of(self, keys: npt.NDArray[np.uint64], heights: I64 | None = None) -> I64:
        """The dense index of each row's transaction (-1 if not in the window). Rows come
        in runs per transaction; given the rows' `heights`, each run is first guessed from
        its place among its block's runs (how ingestion stores them: by position, perhaps
        without the coinbase's input), and only runs guessed wrong are searched."""
        if not keys.size:
            return np.empty(0, dtype=np.int64)
        heads = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
        wanted = keys[heads]
        found = np.full(wanted.size, -1, dtype=np.int64)
        if heights is not None and self.n:
            self._guess(wanted, heights[heads], found)
        missed = np.flatnonzero(found < 0)
        if missed.size:
            probes = wanted[missed]
            order = np.argsort(probes)  # sorted probes: cache friendly
            at = np.empty(probes.size, dtype=np.int64)
            at[order] = np.searchsorted(self.sorted_keys, probes[order])
            at[at >= self.n] = 0
            found[missed] = np.where(self.sorted_keys[at] == probes, self.by_key[at], -1)
        return np.repeat(found, np.diff(np.append(heads, keys.size)))

    def _guess(self, wanted: npt.NDArray[np.uint64], height: I64, found: I64) -> None:
        """Fill `found` where the run's key is the transaction at its rank among the runs of
        its block (or the next one: a coinbase without an input row); keys are distinct in
        the window, so a key that matches is the transaction."""
        segments = np.flatnonzero(runs(height))
        lengths = np.diff(np.append(segments, height.size))
        first = np.searchsorted(self.height, height[segments])
        guess = np.repeat(first - segments, lengths) + np.arange(height.size)
        for shift in (0, 1):
            at = np.minimum(guess + shift, self.n - 1)
            hit = (found < 0) & (self.keys[at] == wanted)
            found[hit] = at[hit]

    def pairs(self, tx: I64, addr: I64) -> I64:
        """Sorted distinct (tx, address) keys."""
        return distinct(tx * self.pair_base + addr, in_runs=True)

    @functools.cached_property
    def input_pairs(self) -> I64:
        """Sorted distinct (tx, address) keys of the inputs with a known address."""
        known = self.in_addr != NO_ADDRESS
        return self.pairs(self.in_tx[known], self.in_addr[known])


def member(values: I64, members: I64, bound: int) -> Bools:
    """Whether each of `values` (non-negative ids below `bound`) is one of `members`: a
    byte per possible id, cheaper than sorting or hashing millions of values."""
    mask = np.zeros(bound, dtype=np.bool_)
    mask[members] = True
    return mask[values]


def distinct(values: I64, *, in_runs: bool = False) -> I64:
    """Sorted distinct values (`np.unique` hashes first, several times slower here).
    `in_runs`: the values come in long ascending runs (keys led by the transaction number,
    rows read in chain order), which a merge sort finds: several times faster then."""
    ordered = np.sort(values, kind="stable" if in_runs else "quicksort")
    return ordered[runs(ordered)]


def runs(*columns: I64) -> Bools:
    """True where a row starts a new run of equal values of all `columns` (sorted rows)."""
    start = np.zeros(columns[0].size, dtype=np.bool_)
    start[:1] = True
    for c in columns:
        start[1:] |= c[1:] != c[:-1]
    return start


def first_paid(con: duckdb.DuckDBPyConnection, w: Window) -> Paid:
    """Each address id's first height paid on the chain up to the window's end (int32 max
    where never, or beyond the ids seen): `change-fresh` asks of every chunk whether its
    candidates were paid before the chunk, and one read of the outputs per run answers all
    chunks (a query per chunk would read every earlier output again)."""
    never = np.iinfo(np.int32).max
    first = np.full(0, never, dtype=np.int32)
    rows = con.sql(
        f"SELECT address_id, block_height FROM outputs WHERE {w.chain_rows()}"
        f" AND block_height <= {int(w.hi)} AND address_id IS NOT NULL"
    ).to_arrow_reader(FIRST_PAID_BATCH)
    for batch in rows:
        addr = batch.column(0).to_numpy()
        if addr.size and int(addr.max()) >= first.size:
            grown = np.full(int(addr.max()) + 1, never, dtype=np.int32)
            grown[: first.size] = first
            first = grown
        np.minimum.at(first, addr, batch.column(1).to_numpy().astype(np.int32))
    return first
