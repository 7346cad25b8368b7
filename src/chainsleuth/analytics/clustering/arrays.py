"""The Bitcoin heuristics of the embedded engine, over integer arrays.

The same rules as the portable SQL of `coinjoin`, `multiinput` and `change` (which the
Spark job runs; the papers are cited there), computed in NumPy on the window's columns:
grouping and joining on 64-character transaction hashes was what made the SQL cost about
20 µs per transaction, and sorting integer arrays costs a fraction of that. Both give the
same links and CoinJoins (`tests/test_cluster_arrays.py` checks it on random chains).

`links.make_links` hands this module one chunk of whole blocks at a time (what an
incremental run reads), so the arrays stay bounded by the chunk.

The window is read by `chainlet.Chainlet`; links and CoinJoins go back to the store with
their evidence hash, read once with the window's transactions.

What is read: every input and output of the window (key, address, value), the window's
transactions (coinbase flag, output count, height); for `change-fresh` in an incremental
run also whether a candidate address was paid before the window; `change-type` reads the
script types of the outputs the window spends; `change-fingerprint` each transaction's
version, locktime and input sequences and each output's spender (so it needs the whole
chain in the window: it never runs incrementally).
"""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass

import duckdb
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from chainsleuth.analytics.clustering.chainlet import (
    I64,
    NO_ADDRESS,
    Bools,
    Chainlet,
    Paid,
    distinct,
    first_paid,
    member,
    runs,
)
from chainsleuth.analytics.clustering.change import ROUND_SAT, RULES
from chainsleuth.analytics.clustering.coinjoin import KINDS, TX0, WHIRLPOOL_POOLS_SAT
from chainsleuth.analytics.clustering.window import Window


@dataclass
class Links:
    """Links made in a window: endpoints (address ids), transaction index, heuristic index."""

    a: I64
    b: I64
    tx: I64
    heuristic: npt.NDArray[np.int8]
    names: list[str]

    @classmethod
    def concat(cls, parts: list[Links], names: list[str]) -> Links:
        """One table of every part (each part's heuristic indexes `names`)."""
        return cls(
            np.concatenate([p.a for p in parts] or [np.empty(0, np.int64)]),
            np.concatenate([p.b for p in parts] or [np.empty(0, np.int64)]),
            np.concatenate([p.tx for p in parts] or [np.empty(0, np.int64)]),
            np.concatenate([p.heuristic for p in parts] or [np.empty(0, np.int8)]),
            names,
        )


def _equal_values(tx: I64, value: I64, n: int) -> tuple[I64, I64, I64]:
    """The runs of equal (transaction, value) among output rows, by transaction: each run's
    transaction, value and length. One sort of an int64 holding the transaction number
    above the value (above the value's rank among the distinct values in the rare window
    whose values need more bits than the transaction number leaves)."""
    bits = 63 - max(n, 1).bit_length()
    ranked = bool(value.size) and int(value.max()) >> bits > 0
    values = distinct(value) if ranked else value
    code = np.searchsorted(values, value) if ranked else value
    grouped = np.sort(tx << bits | code, kind="stable")  # in runs: see `distinct`
    heads = np.flatnonzero(runs(grouped))
    head_code = grouped[heads] & ((1 << bits) - 1)
    return (
        grouped[heads] >> bits,
        values[head_code] if ranked else head_code,
        np.diff(np.append(heads, grouped.size)),
    )


def detect(c: Chainlet) -> npt.NDArray[np.int8]:
    """Each transaction's CoinJoin kind (index into `coinjoin.KINDS`), -1 for none: the
    shapes of Wasabi 1/2 (Ficsór 2017, 2021), Whirlpool mix and tx0 (Samourai 2019),
    JoinMarket (Belcher 2015) and the generic equal-output rule of Möser & Narayanan 2022
    §5, in `coinjoin.detection_sql`'s order."""
    n = c.n
    prev = c.in_prev
    n_in = np.bincount(c.in_tx[prev], minlength=n)
    addressed = c.in_addr != NO_ADDRESS
    if np.any(addressed & ~prev):  # an address without a spent output: not counted here
        spenders = c.pairs(c.in_tx[addressed & prev], c.in_addr[addressed & prev])
    else:
        spenders = c.input_pairs
    n_in_addr = np.bincount(spenders // c.pair_base, minlength=n)
    paying = ~c.out_null
    g_tx, g_value, k = _equal_values(c.out_tx[paying], c.out_value[paying], n)
    n_out = np.bincount(g_tx, weights=k, minlength=n).astype(np.int64)
    max_eq = np.zeros(n, dtype=np.int64)
    if g_tx.size:
        starts = np.flatnonzero(runs(g_tx))
        max_eq[g_tx[starts]] = np.maximum.reduceat(k, starts)
    eq_groups = np.bincount(g_tx[k >= 2], minlength=n)
    top = np.flatnonzero(k == max_eq[g_tx])
    last = top[np.append(g_tx[top][1:] != g_tx[top][:-1], True)] if top.size else top
    eq_value = np.zeros(n, dtype=np.int64)
    eq_value[g_tx[last]] = g_value[last]
    has_null = np.zeros(n, dtype=np.bool_)
    has_null[c.out_tx[c.out_null]] = True
    premix = np.zeros(n, dtype=np.bool_)
    for d in WHIRLPOOL_POOLS_SAT:
        premix |= (eq_value > d) & (eq_value <= d + d // 100)
    conditions = [
        (n_in == n_out)
        & (n_out >= 5)
        & (n_out <= 8)
        & (max_eq == n_out)
        & np.isin(eq_value, WHIRLPOOL_POOLS_SAT),
        (n_in >= 50) & (eq_groups >= 5),
        (max_eq >= 10) & (n_in_addr >= 5) & (eq_value >= 5_000_000) & (eq_value <= 20_000_000),
        (max_eq >= 2) & has_null & premix,
        (max_eq >= 3) & (n_in_addr >= max_eq) & (n_out <= 2 * max_eq),
        ((max_eq >= 2) & (n_in_addr >= max_eq)) | ((max_eq >= 10) & (n_in_addr >= 5)),
    ]
    order = ("whirlpool-mix", "wasabi2", "wasabi1", TX0, "joinmarket", "equal-outputs")
    kind = np.select(conditions, [np.int8(KINDS.index(k)) for k in order], np.int8(-1))
    kind[(n_in == 0) | (n_out == 0)] = -1
    return kind.astype(np.int8)


def multi_input(c: Chainlet, coinjoin: Bools) -> tuple[I64, I64, I64]:
    """(root, other input address, tx) per co-spent address of a non-CoinJoin transaction:
    common-input ownership (Meiklejohn et al. 2013, Heuristic 1), as a star from the
    smallest input address."""
    tx, addr = c.input_pairs // c.pair_base, c.input_pairs % c.pair_base
    keep = ~coinjoin[tx]
    tx, addr = tx[keep], addr[keep]
    head = runs(tx)
    root = addr[np.flatnonzero(head)][np.cumsum(head) - 1]
    return root[~head], addr[~head], tx[~head]


def _paid_in_window(c: Chainlet, addresses: I64) -> tuple[I64, I64]:
    """For each of the sorted distinct `addresses`: the first height it is paid in the
    window, and whether one transaction (1) or more (2) paid it there."""
    known = c.out_addr != NO_ADDRESS
    rows = np.flatnonzero(known)[member(c.out_addr[known], addresses, c.pair_base)]
    # Transactions are numbered in chain order, so (address, tx) orders by height too.
    paid = distinct(c.out_addr[rows] * c.n + c.out_tx[rows])
    addr, tx = paid // c.n, paid % c.n
    heads = np.flatnonzero(runs(addr))
    following = np.minimum(heads + 1, addr.size - 1)
    alone = (following == heads) | (addr[following] != addr[heads])
    single = alone | (c.height[tx[following]] != c.height[tx[heads]])
    at = np.searchsorted(addresses, addr[heads])
    first = np.full(addresses.size, -1, dtype=np.int64)
    n_first = np.full(addresses.size, 2, dtype=np.int64)
    first[at] = c.height[tx[heads]]
    n_first[at] = np.where(single, 1, 2)
    return first, n_first


def _paid_before(c: Chainlet, addresses: I64) -> Bools:
    """Whether each of the sorted `addresses` was paid in a block before the window."""
    paid = c.first_paid.result() if c.first_paid is not None else first_paid(c.con, c.w)
    known = addresses < paid.size
    before = np.zeros(addresses.size, dtype=np.bool_)
    before[known] = paid[addresses[known]] < c.w.lo
    return before


def _input_types(c: Chainlet, out_rows: I64) -> tuple[Bools, I64, I64]:
    """Per transaction: whether the outputs it spends share one script type, that type's
    code, and the code of each output in `out_rows` (codes shared by both reads)."""
    spent = c.con.sql(
        f"SELECT hash(spent_by, {c.salt}) AS spender, script_type FROM outputs"
        f" WHERE {c.w.rows('spent_height')} AND spent_by IS NOT NULL"
    ).to_arrow_table()
    mine = c.out_type
    types = pc.unique(pa.chunked_array(spent.column(1).chunks + mine.chunks))
    spent_code = pc.index_in(spent.column(1), value_set=types).to_numpy().astype(np.int64)
    out_code = pc.index_in(mine, value_set=types).to_numpy().astype(np.int64)[out_rows]
    spender = c.tx_of(spent.column(0).to_numpy())
    inside = spender >= 0
    spender, spent_code = spender[inside], spent_code[inside]
    low = np.full(c.n, np.iinfo(np.int64).max, dtype=np.int64)
    high = np.full(c.n, -1, dtype=np.int64)
    np.minimum.at(low, spender, spent_code)
    np.maximum.at(high, spender, spent_code)
    return low == high, low, out_code


def _fingerprints(c: Chainlet) -> tuple[Bools, I64]:
    """Per transaction: whether it has a wallet fingerprint, and the fingerprint as one code
    (version, locktime set, RBF signalled)."""
    has_inputs = np.bincount(c.in_tx, minlength=c.n) > 0
    rbf = np.zeros(c.n, dtype=np.bool_)
    rbf[c.in_tx[c.in_rbf]] = True
    code = c.version * 4 + c.locktime_set.astype(np.int64) * 2 + rbf.astype(np.int64)
    return has_inputs & ~c.coinbase & c.version_known, code


def change(c: Chainlet, names: list[str], kinds: npt.NDArray[np.int8]) -> list[tuple[str, I64]]:
    """For each chosen change rule, (rule, output rows it reads as change): the one output
    of a two-output payment that the rule singles out (fresh address: Meiklejohn et al.
    2013, Androulaki et al. 2013; script type, round payment, optimal change, wallet
    fingerprint: Möser & Narayanan 2022 §4.2, Nick 2015, Kappos et al. 2022), as in
    `change.change_sql`."""
    rules = [r for r in RULES if r.name in names]
    if not rules:
        return []
    tx0 = kinds == KINDS.index(TX0)
    eligible = ~c.coinbase & (c.output_count == 2) & (kinds == -1)
    eligible &= ~tx0
    prev = c.in_prev
    n_prev = np.bincount(c.in_tx[prev], minlength=c.n)
    n_prev_addr = np.bincount(c.in_tx[prev & (c.in_addr != NO_ADDRESS)], minlength=c.n)
    eligible &= (n_prev > 0) & (n_prev_addr == n_prev)
    rows = np.flatnonzero(eligible[c.out_tx])
    rows = rows[np.argsort(c.out_tx[rows], kind="stable")]
    tx, addr = c.out_tx[rows], c.out_addr[rows]
    per_tx = np.bincount(tx, minlength=c.n)
    keep = (per_tx[tx] == 2) & (addr != NO_ADDRESS)
    both = np.bincount(tx[keep], minlength=c.n) == 2
    pair = np.flatnonzero(both[tx])
    rows, tx, addr = rows[pair], tx[pair], addr[pair]
    spent_pairs = c.input_pairs
    key = tx * c.pair_base + addr
    at = np.minimum(np.searchsorted(spent_pairs, key), max(spent_pairs.size - 1, 0))
    reused = (spent_pairs[at] == key) if spent_pairs.size else np.zeros(key.size, np.bool_)
    two = addr.reshape(-1, 2)
    ok = (two[:, 0] != two[:, 1]) & ~reused.reshape(-1, 2).any(axis=1)
    ok = np.repeat(ok, 2)
    rows, tx, addr = rows[ok], tx[ok], addr[ok]
    value = c.out_value[rows]
    flags: dict[str, Bools] = {}
    for rule in rules:
        if rule.name == "change-fresh":
            wanted = distinct(addr)
            first, n_first = _paid_in_window(c, wanted)
            if c.w.lo > 0:
                first[_paid_before(c, wanted)] = -1
            # By address id; only `wanted` entries are written, and only they are read.
            fresh = np.empty(c.pair_base, dtype=np.int32)
            fresh[wanted] = np.where(n_first == 1, first, -1)
            flags[rule.name] = fresh[addr] == c.height[tx]
        elif rule.name == "change-type":
            uniform, in_type, code = _input_types(c, rows)
            flags[rule.name] = uniform[tx] & (code == in_type[tx])
        elif rule.name == "change-round":
            flags[rule.name] = value % ROUND_SAT != 0
        elif rule.name == "change-optimal":
            known = prev & c.in_value_known
            min_in = np.full(c.n, np.iinfo(np.int64).max, dtype=np.int64)
            np.minimum.at(min_in, c.in_tx[known], c.in_value[known])
            has_value = np.bincount(c.in_tx[known], minlength=c.n) > 0
            flags[rule.name] = has_value[tx] & (value < min_in[tx])
        elif rule.name == "change-fingerprint":
            has_fp, fp = _fingerprints(c)
            spender = c.out_spender[rows]
            spent = spender >= 0
            n_spent = spent.reshape(-1, 2).sum(axis=1).repeat(2)
            s = np.where(spent, spender, 0)
            match = spent & has_fp[tx] & has_fp[s] & (fp[tx] == fp[s])
            flags[rule.name] = (n_spent == 2) & match
    picked = []
    for rule in rules:
        f = flags[rule.name]
        once = f.reshape(-1, 2).sum(axis=1).repeat(2) == 1
        picked.append((rule.name, rows[f & once]))
    return picked


@dataclass
class Found:
    """What `make` found: links, and the CoinJoins and tx0s of the window."""

    links: Links
    kinds: npt.NDArray[np.int8]
    chainlet: Chainlet


def make(
    con: duckdb.DuckDBPyConnection,
    w: Window,
    names: list[str],
    *,
    detect_coinjoins: bool = True,
    paid: Future[Paid] | None = None,
) -> Found:
    """The links of the Bitcoin heuristics `names` in window `w` (CoinJoins skipped unless
    `detect_coinjoins` is false, which measures what a missed CoinJoin costs); `paid` is
    `first_paid` of a window holding `w`, shared by a run's chunks (read here if None)."""
    c = Chainlet(
        con,
        w,
        fingerprint="change-fingerprint" in names,
        types="change-type" in names,
        paid=paid,
    )
    kinds = detect(c) if detect_coinjoins else np.full(c.n, -1, dtype=np.int8)
    coinjoin = (kinds >= 0) & (kinds != KINDS.index(TX0))
    chosen = [n for n in ("multi-input", *(r.name for r in RULES)) if n in names]
    parts: list[Links] = []
    if "multi-input" in names:
        a, b, tx = multi_input(c, coinjoin)
        code = np.full(a.size, chosen.index("multi-input"), dtype=np.int8)
        parts.append(Links(a, b, tx, code, chosen))
    root = np.full(c.n, np.iinfo(np.int64).max, dtype=np.int64)
    spent = c.in_prev & (c.in_addr != NO_ADDRESS)
    np.minimum.at(root, c.in_tx[spent], c.in_addr[spent])
    for name, rows in change(c, names, kinds):
        tx = c.out_tx[rows]
        code = np.full(rows.size, chosen.index(name), dtype=np.int8)
        parts.append(Links(root[tx], c.out_addr[rows], tx, code, chosen))
    return Found(Links.concat(parts, chosen), kinds, c)


def store(
    con: duckdb.DuckDBPyConnection, made: Found, target: str, coinjoins: str, premixes: str
) -> int:
    """Insert the links into `target`, each with its evidence transaction's place (height,
    position), and the CoinJoins/tx0s into their tables by hash, through `con` (the run's
    transaction, which may not be the connection that read the chunk); return the number
    of CoinJoins."""
    c, links = made.chainlet, made.links
    w = c.w
    heuristic = pa.DictionaryArray.from_arrays(
        pa.array(links.heuristic, type=pa.int8()), pa.array(links.names, type=pa.string())
    )
    con.register(
        "_made_links",
        pa.table(
            {
                "a": links.a,
                "b": links.b,
                "h": c.height[links.tx],
                "p": c.position[links.tx],
                "heuristic": heuristic,
            }
        ),
    )
    con.execute(
        f"INSERT INTO {target} (chain, address_id_a, address_id_b, heuristic, block_height,"
        f" tx_position) SELECT '{w.chain}', a, b, heuristic::VARCHAR, h, p FROM _made_links"
    )
    con.unregister("_made_links")
    found = np.flatnonzero(made.kinds >= 0)
    if found.size:
        _store_kinds(con, c, made.kinds[found], found, coinjoins, premixes)
    return int(np.count_nonzero((made.kinds >= 0) & (made.kinds != KINDS.index(TX0))))


def _store_kinds(
    con: duckdb.DuckDBPyConnection,
    c: Chainlet,
    kinds: npt.NDArray[np.int8],
    txs: I64,
    coinjoins: str,
    premixes: str,
) -> None:
    """Insert the CoinJoins and tx0s `txs` (with their `kinds`) by hash: a join of these few
    transactions' places with the window's `txs` rows."""
    kind = pa.DictionaryArray.from_arrays(
        pa.array(kinds, type=pa.int8()), pa.array(list(KINDS), type=pa.string())
    )
    con.register("_made_kinds", pa.table({"h": c.height[txs], "p": c.position[txs], "kind": kind}))
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _made_kinds_hashed AS SELECT k.h, t.tx_hash,"
        f" k.kind::VARCHAR AS kind FROM _made_kinds k JOIN txs t ON {c.w.rows(alias='t')}"
        " AND t.block_height = k.h AND t.position = k.p"
    )
    con.unregister("_made_kinds")
    con.execute(
        f"INSERT INTO {coinjoins} (chain, block_height, tx_hash, kind)"
        f" SELECT '{c.w.chain}', h, tx_hash, kind FROM _made_kinds_hashed WHERE kind <> '{TX0}'"
    )
    con.execute(
        f"INSERT INTO {premixes} (chain, block_height, tx_hash)"
        f" SELECT '{c.w.chain}', h, tx_hash FROM _made_kinds_hashed WHERE kind = '{TX0}'"
    )
    con.execute("DROP TABLE _made_kinds_hashed")
