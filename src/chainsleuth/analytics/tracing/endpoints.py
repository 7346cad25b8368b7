"""Where a trace stops: entities tagged as services that custody funds.

A freeze request goes to a custodian (exchange, payment processor, custodial wallet,
gambling service, market, OTC desk), so those are a trace's cash-out endpoints. A mixing
service is one too: custodial mixers hold the funds, and a fixed-denomination mixing pool
breaks the link between deposits and withdrawals, so taint entering it is reported there. An
address is an endpoint when it, or any address of its cluster, carries a tag of one of
those categories; the entity's label is its best-supported one (highest confidence, then
most tags, then the first label alphabetically, so the choice is stable).

A trace asks only about the addresses it reaches (`CustodialStops`, one query per hop for
the addresses not seen yet), read from `trace_endpoints` (migration 007: every custodial
address by id, refreshed after tag imports, clustering runs and new addresses) when that is
current: materialising every custodial address of a chain on each trace, or joining the
tags to the addresses by string per hop, costs time in proportion to all tags and addresses.

Where a trace passes but flags: the transactions clustering read as CoinJoins
(`coinjoin_txs`), crossed by value share.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from chainsleuth.analytics.tracing.index import read_only
from chainsleuth.analytics.tracing.result import Endpoint
from chainsleuth.store.db import transaction

CUSTODIAL = (
    "exchange",
    "payment_processor",
    "wallet_service",
    "gambling",
    "market",
    "otc",
    "mixing_service",
)


def _has_table(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    found = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name]
    ).fetchall()
    return bool(found[0][0])


def endpoints_sql(con: duckdb.DuckDBPyConnection, where: str) -> str:
    """SELECT address_id, entity, label, category of the custodial addresses matching `where`.

    `where` is a condition on `addresses a` ("true" for all of them); parameters `$chain`
    and `$cats` (the categories). Only the entities of the matching addresses are read:
    their clusters' members (or the address alone), those members' tags, and the best
    label per entity.
    """
    if _has_table(con, "clusters"):
        ent = f"""SELECT a.address_id, a.address, c.cluster_id,
                coalesce('cluster:' || c.cluster_id::VARCHAR, a.address) AS entity
            FROM addresses a LEFT JOIN clusters c
            ON c.chain = a.chain AND c.address_id = a.address_id
            WHERE a.chain = $chain AND ({where})"""
        # every address of those entities: the matching ones and their clusters' members
        members = """SELECT address, entity FROM ent
            UNION SELECT a.address, 'cluster:' || c.cluster_id::VARCHAR
            FROM clusters c JOIN addresses a ON a.chain = c.chain AND a.address_id = c.address_id
            WHERE c.chain = $chain AND c.cluster_id IN (SELECT cluster_id FROM ent)"""
    else:
        ent = f"""SELECT a.address_id, a.address, a.address AS entity FROM addresses a
            WHERE a.chain = $chain AND ({where})"""
        members = "SELECT address, entity FROM ent"
    return f"""
        WITH ent AS MATERIALIZED ({ent}),
        members AS ({members}),
        tagged AS (
            SELECT m.entity, t.label, t.category, max(t.confidence_level) AS conf, count(*) AS n
            FROM tags t JOIN members m ON m.address = t.address
            WHERE t.chain = $chain AND list_contains($cats, t.category)
            GROUP BY ALL
        ),
        best AS (
            SELECT entity, label, category FROM (
                SELECT *, row_number() OVER (
                    PARTITION BY entity ORDER BY conf DESC, n DESC, label) AS rank
                FROM tagged
            ) WHERE rank = 1
        )
        SELECT e.address_id, b.entity, b.label, b.category
        FROM best b JOIN ent e USING (entity)"""


def _found(rows: list[tuple[Any, ...]]) -> dict[int, Endpoint]:
    return {int(a): Endpoint(str(ent), str(label), str(cat)) for a, ent, label, cat in rows}


def custodial_stops(
    con: duckdb.DuckDBPyConnection, chain: str, categories: tuple[str, ...] = CUSTODIAL
) -> dict[int, Endpoint]:
    """address_id -> Endpoint for every stored address of a custodial entity of `chain`."""
    if not _has_table(con, "tags"):
        return {}
    sql = endpoints_sql(con, "true")
    return _found(con.execute(sql, {"chain": chain, "cats": list(categories)}).fetchall())


def _endpoints_key(con: duckdb.DuckDBPyConnection, chain: str) -> str:
    """What custodial endpoints depend on besides addresses: tags and clustering."""
    found = con.execute(
        """SELECT (SELECT count(*) || ':' || coalesce(max(imported_at)::VARCHAR, '') || ':'
                   || coalesce(sum(tag_count), 0) FROM tag_imports)
           || '|' || (SELECT count(*) FROM tags WHERE chain = $chain)
           || '|' || coalesce((SELECT updated_at::VARCHAR || ':' || clusters
                               FROM cluster_state WHERE chain = $chain), '')""",
        {"chain": chain},
    ).fetchall()
    return str(found[0][0])


def _endpoints_state(con: duckdb.DuckDBPyConnection, chain: str) -> tuple[str, int, str, int]:
    """(indexed key, indexed max address id, current key, current max address id)."""
    state = con.execute(
        "SELECT endpoints_key, max_address_id FROM trace_index_state WHERE chain = ?", [chain]
    ).fetchall()
    top = con.execute(
        "SELECT coalesce(max(address_id), -1) FROM addresses WHERE chain = ?", [chain]
    ).fetchall()[0][0]
    key, done = (str(state[0][0]), int(state[0][1])) if state else ("", -2)
    return key, done, _endpoints_key(con, chain), int(top)


def refresh_endpoints(con: duckdb.DuckDBPyConnection, chain: str) -> bool:
    """Bring `trace_endpoints` of `chain` up to date; return whether it is current.

    New addresses only are looked up while tags and clusters are unchanged (ingestion adds
    addresses every block); a tag import or a clustering run rebuilds the chain's rows.
    Nothing is written on a read-only connection.
    """
    if not _has_table(con, "trace_index_state"):
        return False
    key, done, now_key, top = _endpoints_state(con, chain)
    if key == now_key and done == top:
        return True
    if read_only(con):
        return False
    with transaction(con):
        if key != now_key:
            con.execute("DELETE FROM trace_endpoints WHERE chain = ?", [chain])
            done = -1
        con.execute(
            f"INSERT INTO trace_endpoints SELECT $chain, * FROM"
            f" ({endpoints_sql(con, f'a.address_id > {done}')}) ORDER BY address_id",
            {"chain": chain, "cats": list(CUSTODIAL)},
        )
        con.execute(
            "INSERT OR REPLACE INTO trace_index_state (chain, endpoints_key, max_address_id)"
            " VALUES (?, ?, ?)",
            [chain, now_key, top],
        )
    return True


class CustodialStops:
    """The custodial endpoints of `chain`, looked up for the addresses a trace reaches.

    `resolve` reads a batch of address ids in one query (ids already asked are not asked
    again) from `trace_endpoints` when `categories` are the custodial ones (`indexed`: it is
    brought up to date first, unless the store is read-only), else from the tags
    themselves; `get` answers from what was resolved, asking the store for an id not seen.
    """

    def __init__(
        self, con: duckdb.DuckDBPyConnection, chain: str, categories: tuple[str, ...] = CUSTODIAL
    ) -> None:
        self.con, self.chain, self.categories = con, chain, categories
        self._known: dict[int, Endpoint | None] = {}
        self.indexed = categories == CUSTODIAL and refresh_endpoints(con, chain)
        self._tagged = _has_table(con, "tags")

    def resolve(self, ids: NDArray[np.int64] | list[int]) -> None:
        """Look up, in one query, the endpoints of the `ids` not asked before."""
        asked = np.unique(np.asarray(ids, dtype=np.int64)).tolist()
        new = [i for i in asked if i >= 0 and i not in self._known]
        if not new:
            return
        found: dict[int, Endpoint] = {}
        if self._tagged:
            sql = (
                "SELECT address_id, entity, label, category FROM trace_endpoints a"
                " WHERE chain = $chain AND address_id IN (SELECT address_id FROM _stop_ids)"
                if self.indexed
                else endpoints_sql(self.con, "a.address_id IN (SELECT address_id FROM _stop_ids)")
            )
            params: dict[str, Any] = {"chain": self.chain}
            if not self.indexed:
                params["cats"] = list(self.categories)
            self.con.register("_stop_ids", pa.table({"address_id": np.array(new, np.int64)}))
            try:
                rows = self.con.execute(sql, params).fetchall()
            finally:
                self.con.unregister("_stop_ids")
            found = _found(rows)
        for i in new:
            self._known[i] = found.get(i)

    def get(self, address_id: int, default: Endpoint | None = None) -> Endpoint | None:
        """The endpoint at `address_id`, or `default` when it is not a custodial address."""
        if address_id not in self._known:
            self.resolve([address_id])
        found = self._known.get(address_id)
        return default if found is None else found


Stops = Mapping[int, Endpoint] | CustodialStops


def stops_at(stops: Stops, ids: NDArray[np.int64]) -> list[Endpoint | None]:
    """The endpoint (or None) at each of `ids`, resolved in one batch where `stops` is lazy."""
    if isinstance(stops, CustodialStops):
        stops.resolve(ids)
    return [stops.get(int(i)) for i in ids]


def coinjoin_txs(con: duckdb.DuckDBPyConnection, chain: str) -> frozenset[str]:
    """The transactions of `chain` that clustering read as CoinJoins (none before a
    clustering run): a trace passes them by value share and flags them."""
    found = con.execute("SELECT tx_hash FROM coinjoin_txs WHERE chain = ?", [chain]).fetchall()
    return frozenset(str(r[0]) for r in found)
