"""`eval clustering`: score heuristic sets against ground truth on the store's chain.

Links of every heuristic are made once (into temporary tables, leaving the store's own
clusters alone); each set is then a union-find over its subset of links, scored by
`evaluate.pairwise` on the addresses the truth file names.

Truth file (the simulator's `truth.json`): `addresses` maps each address to its owner
(or is a list of `{"address", "owner"}` records); `coinjoins` lists the true CoinJoin
txids. Owners may be strings or integers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from chainsleuth.analytics.clustering.dense import DenseIndex
from chainsleuth.analytics.clustering.engine import chain_span
from chainsleuth.analytics.clustering.evaluate import detection, pairwise
from chainsleuth.analytics.clustering.heuristics import available, defaults
from chainsleuth.analytics.clustering.links import make_links
from chainsleuth.analytics.clustering.unionfind import DisjointSets
from chainsleuth.analytics.clustering.window import Window
from chainsleuth.errors import InputError, ParseError


@dataclass(frozen=True)
class Truth:
    """Owner of each address, and the true CoinJoin txids."""

    addresses: list[str]
    owners: list[str]
    coinjoins: set[str]


def load_truth(path: Path) -> Truth:
    """Read a truth file (see the module docstring)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"--truth: cannot read {path}: {exc.strerror}") from exc
    except json.JSONDecodeError as exc:
        raise ParseError(f"{path}: line {exc.lineno} column {exc.colno}: {exc.msg}") from exc
    raw = data.get("addresses") if isinstance(data, dict) else None
    if isinstance(raw, dict):
        pairs = [(str(a), str(o)) for a, o in raw.items()]
    elif isinstance(raw, list):
        try:
            pairs = [(str(r["address"]), str(r.get("owner", r.get("entity")))) for r in raw]
        except (KeyError, TypeError, AttributeError) as exc:
            raise ParseError(f"{path}: `addresses` records need `address` and `owner`") from exc
    else:
        raise ParseError(f"{path}: no `addresses` mapping of address to owner")
    coinjoins = {str(t).lower() for t in data.get("coinjoins", []) or []}
    return Truth([a for a, _ in pairs], [o for _, o in pairs], coinjoins)


def standard_sets(chain: str) -> list[list[str]]:
    """Multi-input alone, with each other heuristic, the default set and all together."""
    names = available(chain)
    base = ["multi-input"] if "multi-input" in names else []
    sets = [base] if base else []
    sets += [sorted({*base, n}) for n in names if n not in base]
    sets += [defaults(chain), names]
    unique: list[list[str]] = []
    for s in sets:
        if s and s not in unique:
            unique.append(s)
    return unique


def _truth_nodes(
    con: duckdb.DuckDBPyConnection, chain: str, truth: Truth, index: DenseIndex
) -> tuple[np.ndarray[Any, np.dtype[np.int64]], np.ndarray[Any, np.dtype[np.int64]]]:
    """(node, owner code) of every truth address present in the store."""
    _, owner_codes = np.unique(np.array(truth.owners, dtype=object), return_inverse=True)
    table = pa.table({"address": truth.addresses, "owner": owner_codes.astype(np.int64)})
    con.register("_truth", table)
    found = con.sql(
        "SELECT a.address_id, t.owner FROM _truth t JOIN addresses a"
        " ON a.chain = ? AND a.address = t.address ORDER BY a.address_id",
        params=[chain],
    ).to_arrow_table()
    con.unregister("_truth")
    if not found.num_rows:
        raise InputError(f"--truth: none of its addresses is a stored {chain} address")
    nodes = index.nodes(found.column(0).to_numpy().astype(np.int64))
    return nodes, found.column(1).to_numpy().astype(np.int64)


def evaluate_store(
    con: duckdb.DuckDBPyConnection,
    chain: str,
    truth: Truth,
    sets: list[list[str]],
    *,
    coinjoin_detection: bool = True,
) -> dict[str, Any]:
    """Scores of every heuristic set, plus CoinJoin detection, on the stored chain.

    `coinjoin_detection=False` measures what the heuristics do without it (what one
    missed CoinJoin costs)."""
    first, tip, _ = chain_span(con, chain)
    w = Window(chain, first, tip, coinjoins="_eval_coinjoins", premixes="_eval_premixes")
    for temp, like in (
        ("_eval_coinjoins", "coinjoin_txs"),
        ("_eval_premixes", "premix_txs"),
        ("_eval_links", "cluster_links"),
    ):
        con.execute(f"CREATE OR REPLACE TEMP TABLE {temp} AS SELECT * FROM {like} LIMIT 0")
    everything = sorted({n for s in sets for n in s})
    for _ in make_links(
        con, w, everything, target="_eval_links", detect_coinjoins=coinjoin_detection
    ):
        pass  # the sets read the links back from `_eval_links`
    index = DenseIndex.of_chain(con, chain)
    nodes, owners = _truth_nodes(con, chain, truth, index)
    results = []
    for names in sets:
        listed = ", ".join(f"'{n}'" for n in names)
        edges = con.sql(
            f"SELECT address_id_a, address_id_b FROM _eval_links WHERE heuristic IN ({listed})"
        ).to_arrow_table()
        sets_ = DisjointSets.singletons(len(index))
        sets_.union(
            index.nodes(edges.column(0).to_numpy().astype(np.int64)),
            index.nodes(edges.column(1).to_numpy().astype(np.int64)),
        )
        scores = pairwise(sets_.labels[nodes].astype(np.int64), owners)
        results.append({"heuristics": ",".join(names), "links": edges.num_rows, **scores.as_dict()})
    flagged = {str(r[0]) for r in con.execute("SELECT tx_hash FROM _eval_coinjoins").fetchall()}
    for temp in ("_eval_coinjoins", "_eval_premixes", "_eval_links"):
        con.execute(f"DROP TABLE {temp}")
    return {
        "chain": chain,
        "truth_addresses": len(truth.addresses),
        "scored_addresses": int(nodes.size),
        "coinjoin_detection": detection(flagged, truth.coinjoins),
        "sets": results,
    }
