"""One hop of a UTXO trace: the transactions it reaches and the coins on both sides.

A module of its own so `utxo.py` holds the taint step; see `HopFetch`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

if TYPE_CHECKING:
    from chainsleuth.analytics.tracing.utxo import Coins

NO_LINK = -2  # an unspent output; an input that spends no earlier coin (coinbase)


class HopFetch:
    """Fetch the transactions of one hop and the coins on both of their sides.

    One round trip per hop on the tracing index: both sides of the transactions
    (`trace_coins`, inputs then outputs) and their own rows (`trace_txs`) come back as one
    sorted result that is sliced, without copying, into the three tables the taint step
    reads. The frontier is matched to its rows in the same query (`fidx`).
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, chain: str, forward: bool) -> None:
        self.con, self.chain = con, chain
        # forward, the frontier is spent by inputs; backward, it is the outputs themselves
        self.match = (
            "c.side = 0 AND f.tx = c.link_tx AND f.n = c.link_n"
            if forward
            else "c.side = 1 AND f.tx = c.tx_id AND f.n = c.n"
        )

    def fetch(self, txs: NDArray[np.int64], front: Coins) -> dict[str, Any]:
        """Rows of the transactions `txs` (sorted, unique ids), `seg` = position in `txs`."""
        con = self.con
        con.register("_seg", pa.table({"tx_id": txs, "seg": np.arange(len(txs))}))
        con.register(
            "_front", pa.table({"tx": front.tx, "n": front.n, "fidx": np.arange(len(front))})
        )
        try:
            both = con.sql(
                f"""SELECT 0 AS part, s.seg, c.side, c.n, c.value, c.address_id,
                    coalesce(c.link_tx, {NO_LINK}) AS link_tx, c.link_n,
                    coalesce(f.fidx, -1) AS fidx, NULL::VARCHAR AS tx_hash,
                    NULL::TIMESTAMP AS time, NULL::BIGINT AS fee, NULL::BOOLEAN AS is_coinbase
                FROM trace_coins c JOIN _seg s ON s.tx_id = c.tx_id
                LEFT JOIN _front f ON {self.match}
                WHERE c.chain = $chain
                UNION ALL
                SELECT 1, s.seg, NULL, NULL, NULL, NULL, NULL, NULL, NULL, t.tx_hash, t.time,
                    t.fee, t.is_coinbase
                FROM trace_txs t JOIN _seg s ON s.tx_id = t.tx_id
                WHERE t.chain = $chain
                ORDER BY part, side, seg, n""",
                params={"chain": self.chain},
            ).to_arrow_table()
        finally:
            con.unregister("_seg")
            con.unregister("_front")
        side = both.column("side").to_numpy(zero_copy_only=False)
        n_in, n_out = int((side == 0).sum()), int((side == 1).sum())
        coin_cols = ["seg", "n", "value", "address_id", "link_tx", "link_n", "fidx"]
        return {
            "ins": both.slice(0, n_in).select(coin_cols),
            "outs": both.slice(n_in, n_out).select(coin_cols),
            "meta": both.slice(n_in + n_out).select(
                ["seg", "tx_hash", "fee", "time", "is_coinbase"]
            ),
            "txs": txs,
        }
