"""One hop of a UTXO trace: the transactions it reaches and the coins on both sides.

A module of its own so `utxo.py` holds the taint step; see `HopFetch`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from chainsleuth.analytics.tracing import index, pages
from chainsleuth.analytics.tracing.edges import address_names
from chainsleuth.analytics.tracing.pages import NO_LINK

if TYPE_CHECKING:
    from chainsleuth.analytics.tracing.coins import Coins

COIN_COLUMNS = ("seg", "n", "value", "address_id", "link_tx", "link_n")
_COIN_SCHEMA = pa.schema([(c, pa.int64()) for c in COIN_COLUMNS])
_META_SCHEMA = pa.schema(
    [
        ("seg", pa.int64()),
        ("tx_hash", pa.string()),
        ("fee", pa.int64()),
        ("time", pa.timestamp("us")),
        ("is_coinbase", pa.bool_()),
    ]
)


SCAN_SHARE = 50
"""Transactions on more than 1/SCAN_SHARE of the pages are read by one scan of the index
instead (at 10M transactions: 3,000 pages, ~0.15 s either way; a hop needs ~200)."""


def _key(tx: NDArray[np.int64], n: NDArray[np.int64]) -> NDArray[np.int64]:
    """One integer per coin (transaction id, output index; a transaction has far fewer
    than 2^24 outputs)."""
    return (tx << 24) + n


class HopFetch:
    """A trace's reader: the transactions of each hop, the coins on both of their sides,
    and the names of the addresses it met.

    Transactions below the pages' `upto` are read from `trace_pages` (`pages.py`), later
    ones from `trace_coins`/`trace_txs` (one query), and all of them from there when they
    are spread over too many pages (SCAN_SHARE); a paged output whose spend is not in its
    page is looked up among the inputs of the later transactions. The result is
    `ins`, `outs` (by seg, then n) and `meta` (one row per seg, the position in `txs`),
    with `fidx`: the frontier coin each row continues, or -1. The address strings of the
    paged outputs read are kept for `address_names`.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, chain: str) -> None:
        self.con, self.chain = con, chain
        self.names: list[pa.Table] = []  # (address_id, address) of the paged outputs read
        self.upto = pages.upto(con, chain)
        later = con.execute(
            "SELECT count(*) FROM trace_txs WHERE chain = ? AND tx_id >= ?", [chain, self.upto]
        ).fetchall()
        self.tail = bool(later[0][0])  # transactions indexed but not paged

    @classmethod
    def current(cls, con: duckdb.DuckDBPyConnection, chain: str) -> HopFetch:
        """The reader of the tracing index of `chain`, brought up to date first
        (`index.ensure`): what a trace starts with."""
        index.ensure(con, chain)
        return cls(con, chain)

    def rows(self, txs: NDArray[np.int64]) -> dict[str, pa.Table]:
        """`ins`, `outs` and `meta` of the transactions `txs` (sorted, unique ids); outputs'
        `link_tx` is their spending transaction (NO_LINK: unspent)."""
        paged = int(np.searchsorted(txs, self.upto))
        if len(np.unique(txs[:paged] // pages.PAGE_TXS)) * SCAN_SHARE > self.upto // pages.PAGE_TXS:
            paged = 0  # so many pages that one scan of trace_coins costs less
        parts = []
        if paged:
            part = pages.read(self.con, self.chain, txs[:paged])
            self.names.append(part["outs"].select(["address_id", "address"]))
            part["outs"] = self._later_spends(part["outs"].drop_columns(["address"]), txs)
            parts.append(part)
        if paged < len(txs):
            parts.append(self._unpaged(txs[paged:], paged))
        return {
            name: pa.concat_tables([p[name].cast(schema) for p in parts] or [schema.empty_table()])
            for name, schema in (
                ("ins", _COIN_SCHEMA),
                ("outs", _COIN_SCHEMA),
                ("meta", _META_SCHEMA),
            )
        }

    def fetch(self, txs: NDArray[np.int64], front: Coins, forward: bool) -> dict[str, Any]:
        """Rows of the transactions `txs` (sorted, unique ids) and the frontier's place."""
        got: dict[str, Any] = self.rows(txs)
        # forward, the frontier is spent by inputs; backward, it is the outputs themselves
        side = got["ins"] if forward else got["outs"]
        seg = side.column("seg").to_numpy()
        if forward:
            keys = _key(side.column("link_tx").to_numpy(), side.column("link_n").to_numpy())
        else:
            keys = _key(txs[seg], side.column("n").to_numpy())
        front_keys = _key(front.tx, front.n)
        order = np.argsort(front_keys)
        at = np.minimum(np.searchsorted(front_keys, keys, sorter=order), len(order) - 1)
        fidx = np.where(front_keys[order[at]] == keys, order[at], -1) if len(order) else -1
        side = side.append_column("fidx", pa.array(np.broadcast_to(fidx, len(seg)), pa.int64()))
        got["ins" if forward else "outs"] = side
        other = "outs" if forward else "ins"
        got[other] = got[other].append_column("fidx", pa.array(np.full(len(got[other]), -1)))
        got["txs"] = txs
        return got

    def address_names(self, ids: set[int]) -> dict[int, str]:
        """Address strings by id: from the outputs read off pages, the rest from the
        address dictionary (one scan of it, only if some are missing)."""
        names: dict[int, str] = {}
        if self.names and ids:
            seen = pa.concat_tables(self.names)
            got = seen.column("address_id").to_numpy()
            wanted = np.isin(got, np.fromiter(ids, np.int64))
            named = pc.not_equal(seen.column("address"), "").to_numpy()  # "": no address
            hit = seen.filter(wanted & named)
            names = dict(
                zip(
                    hit.column("address_id").to_pylist(),
                    hit.column("address").to_pylist(),
                    strict=True,
                )
            )
        return names | address_names(self.con, self.chain, ids - names.keys())

    def _later_spends(self, outs: pa.Table, txs: NDArray[np.int64]) -> pa.Table:
        """Paged outputs with their spends by transactions not paged (any spend from `upto`
        on was unknown, or may be stale after a reorg, when the page was written)."""
        link = outs.column("link_tx").to_numpy().copy()
        unknown = (link == NO_LINK) | (link >= self.upto)
        link[unknown] = NO_LINK
        if self.tail and unknown.any():
            rows = np.flatnonzero(unknown)
            tx = txs[outs.column("seg").to_numpy()[rows]]
            n = outs.column("n").to_numpy()[rows]
            self.con.register("_unknown", pa.table({"tx": tx, "n": n, "row": rows}))
            try:
                found = self.con.execute(
                    """SELECT u.row, c.tx_id FROM trace_coins c
                    JOIN _unknown u ON c.link_tx = u.tx AND c.link_n = u.n
                    WHERE c.chain = ? AND c.side = 0 AND c.tx_id >= ?""",
                    [self.chain, self.upto],
                ).fetchall()
            finally:
                self.con.unregister("_unknown")
            for row, spender in found:
                link[row] = spender
        return outs.set_column(
            outs.schema.get_field_index("link_tx"), "link_tx", pa.array(link, pa.int64())
        )

    def _unpaged(self, txs: NDArray[np.int64], first_seg: int) -> dict[str, pa.Table]:
        """Like `pages.read`, from trace_coins/trace_txs (transactions from `upto` on)."""
        con = self.con
        con.register("_seg", pa.table({"tx_id": txs, "seg": np.arange(len(txs)) + first_seg}))
        try:
            both = con.sql(
                f"""SELECT 0 AS part, s.seg, c.side, c.n, c.value, c.address_id,
                    coalesce(c.link_tx, {NO_LINK}) AS link_tx, coalesce(c.link_n, -1) AS link_n,
                    NULL::VARCHAR AS tx_hash, NULL::TIMESTAMP AS time, NULL::BIGINT AS fee,
                    NULL::BOOLEAN AS is_coinbase
                FROM trace_coins c JOIN _seg s ON s.tx_id = c.tx_id
                WHERE c.chain = $chain
                UNION ALL
                SELECT 1, s.seg, NULL, NULL, NULL, NULL, NULL, NULL, t.tx_hash, t.time,
                    t.fee, t.is_coinbase
                FROM trace_txs t JOIN _seg s ON s.tx_id = t.tx_id
                WHERE t.chain = $chain
                ORDER BY part, side, seg, n""",
                params={"chain": self.chain},
            ).to_arrow_table()
        finally:
            con.unregister("_seg")
        side = both.column("side").to_numpy(zero_copy_only=False)
        n_in, n_out = int((side == 0).sum()), int((side == 1).sum())
        return {
            "ins": both.slice(0, n_in).select(list(COIN_COLUMNS)),
            "outs": both.slice(n_in, n_out).select(list(COIN_COLUMNS)),
            "meta": both.slice(n_in + n_out).select(list(_META_SCHEMA.names)),
        }
