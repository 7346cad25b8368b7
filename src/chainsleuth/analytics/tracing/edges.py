"""The flow graph of a trace: edges between addresses and the names of those addresses.

Per hop, `hop_edges` splits each target coin's taint among the transaction's tainted
source addresses in proportion to what each brought; `finish_edges` turns the collected
tables into `Edge` objects and address ids into the address strings users read.
"""

from __future__ import annotations

from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from chainsleuth.analytics.tracing.result import Edge, TraceResult
from chainsleuth.analytics.tracing.taint import Tiles


def hop_edges(
    con: duckdb.DuckDBPyConnection,
    src: Tiles,
    src_taint: NDArray[np.float64],
    src_addr: NDArray[Any],
    tgt: Tiles,
    tgt_taint: NDArray[np.float64],
    hit_tiles: NDArray[np.int64],
    tgt_addr: NDArray[np.int64],
    seg_tx: NDArray[Any],
    seg_time: NDArray[Any],
    joins: NDArray[np.bool_],
    hop: int,
) -> pa.Table:
    """Edges source address -> target address per transaction, split by source share."""
    s = np.flatnonzero(src_taint > 0)
    sources = pa.table({"seg": src.seg[s], "src": src_addr[s].astype(np.int64), "t": src_taint[s]})
    targets = pa.table(
        {
            "seg": tgt.seg[hit_tiles],
            "dst": tgt_addr.astype(np.int64),
            "amount": tgt_taint[hit_tiles],
        }
    )
    segs = pa.table(
        {"seg": np.arange(len(seg_tx)), "tx_hash": seg_tx, "time": seg_time, "coinjoin": joins}
    )
    names = {"_e_sources": sources, "_e_targets": targets, "_e_segs": segs}
    for name, table in names.items():
        con.register(name, table)
    try:
        return con.sql(
            f"""WITH s AS (SELECT seg, src, sum(t) AS t FROM _e_sources GROUP BY ALL),
                     st AS (SELECT seg, sum(t) AS total FROM s GROUP BY seg)
                SELECT {hop} AS hop, g.tx_hash, s.src, d.dst,
                       sum(d.amount * s.t / st.total) AS amount,
                       any_value(g.time) AS time, any_value(g.coinjoin) AS coinjoin
                FROM _e_targets d JOIN s USING (seg) JOIN st USING (seg) JOIN _e_segs g USING (seg)
                GROUP BY ALL ORDER BY g.tx_hash, s.src, d.dst"""
        ).to_arrow_table()
    finally:
        for name in names:
            con.unregister(name)


def finish_edges(
    con: duckdb.DuckDBPyConnection, chain: str, result: TraceResult, edge_rows: list[pa.Table]
) -> None:
    """Turn edge tables into Edge objects and address ids into address strings."""
    ids: set[int] = set()
    tables = [t for t in edge_rows if t.num_rows]
    for t in tables:
        ids.update(int(x) for x in t.column("src").to_pylist())
        ids.update(int(x) for x in t.column("dst").to_pylist())
    ids.update(int(k) for k in result.held if k.lstrip("-").isdigit())
    ids.update(int(a.address) for a in result.arrivals)
    names = address_names(con, chain, ids)
    rule = {
        "poison": "poison: whole output tainted",
        "haircut": "haircut: value share",
        "fifo": "fifo: first in, first out",
        "lifo": "lifo: last in, first out",
    }[result.model]
    for t in tables:
        for r in t.to_pylist():
            flags = ("coinjoin",) if r["coinjoin"] else ()
            result.edges.append(
                Edge(
                    r["hop"],
                    r["tx_hash"],
                    names.get(r["src"], "?"),
                    names.get(r["dst"], "?"),
                    result.asset,
                    r["amount"],
                    r["time"],
                    "coinjoin: value share" if flags else rule,
                    flags,
                )
            )
    result.held = {
        names.get(int(k), k) if k.lstrip("-").isdigit() else k: v for k, v in result.held.items()
    }
    for a in result.arrivals:
        a.address = names.get(int(a.address), a.address)


def address_names(con: duckdb.DuckDBPyConnection, chain: str, ids: set[int]) -> dict[int, str]:
    """Address strings of `chain` by id (-1, an output without address, is named too)."""
    if not ids:
        return {}
    con.register("_ids", pa.table({"address_id": sorted(i for i in ids if i >= 0)}))
    found = con.execute(
        "SELECT a.address_id, a.address FROM addresses a JOIN _ids USING (address_id)"
        " WHERE a.chain = ?",
        [chain],
    ).fetchall()
    con.unregister("_ids")
    names = {int(i): str(a) for i, a in found}
    names[-1] = "(no address)"
    return names
