"""Where a trace stops: entities tagged as services that custody funds.

A freeze request goes to a custodian (exchange, payment processor, custodial wallet,
gambling service, market, OTC desk), so those are a trace's cash-out endpoints. A mixing
service is one too: custodial mixers hold the funds, and a fixed-denomination mixing pool
breaks the link between deposits and withdrawals, so taint entering it is reported there. An
address is an endpoint when it, or any address of its cluster, carries a tag of one of
those categories; the entity's label is its best-supported one (highest confidence, then
most tags, then the first label alphabetically, so the choice is stable).

A trace asks only about the addresses it reaches (`CustodialStops`: per hop, for the
addresses not seen yet, their bits in `trace_endpoint_bits`, read once per trace; at the
end, the entities of those that are custodial), read from `trace_endpoints` (migration
007: every custodial address by id, refreshed after tag imports, clustering runs and new
addresses) when that is current: materialising every custodial address of a chain on each
trace, or joining the tags to the addresses by string per hop, costs time in proportion to
all tags and addresses.

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
from chainsleuth.analytics.tracing.pages import binary_rows
from chainsleuth.analytics.tracing.result import Arrival, Endpoint
from chainsleuth.errors import StoreError
from chainsleuth.store.db import transaction

BITS_BLOCK = 1 << 15  # address ids per row of trace_endpoint_bits (migration 013)
PENDING = Endpoint("(pending)", "", "")
"""The endpoint of an address the bits say is custodial, named when the trace ends
(`CustodialStops.name`)."""

CUSTODIAL = (
    "exchange",
    "payment_processor",
    "wallet_service",
    "gambling",
    "market",
    "otc",
    "mixing_service",
)


def endpoints_sql(where: str) -> str:
    """SELECT address_id, entity, label, category of the custodial addresses matching `where`.

    `where` is a condition on `addresses a` ("true" for all of them); parameters `$chain`
    and `$cats` (the categories). Only the entities of the matching addresses are read:
    their clusters' members (or the address alone), those members' tags, and the best
    label per entity.
    """
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
    sql = endpoints_sql("true")
    return _found(con.execute(sql, {"chain": chain, "cats": list(categories)}).fetchall())


_KEY_SQL = """(SELECT count(*) || ':' || coalesce(max(imported_at)::VARCHAR, '') || ':'
                   || coalesce(sum(tag_count), 0) FROM tag_imports)
           || '|' || (SELECT count(*) FROM tags WHERE chain = $chain)
           || '|' || coalesce((SELECT updated_at::VARCHAR || ':' || clusters
                               FROM cluster_state WHERE chain = $chain), '')"""
"""What custodial endpoints depend on besides addresses: tags and clustering."""


def _endpoints_state(con: duckdb.DuckDBPyConnection, chain: str) -> tuple[str, int, str, int]:
    """(indexed key, indexed max address id, current key, current max address id)."""
    found = con.execute(
        f"""SELECT (SELECT endpoints_key FROM trace_index_state WHERE chain = $chain),
            (SELECT max_address_id FROM trace_index_state WHERE chain = $chain),
            {_KEY_SQL},
            (SELECT coalesce(max(address_id), -1) FROM addresses WHERE chain = $chain)""",
        {"chain": chain},
    ).fetchall()[0]
    key, done = ("", -2) if found[0] is None else (str(found[0]), int(found[1]))
    return key, done, str(found[2]), int(found[3])


def refresh_endpoints(con: duckdb.DuckDBPyConnection, chain: str) -> bool:
    """Bring `trace_endpoints` of `chain` up to date; return whether it is current.

    New addresses only are looked up while tags and clusters are unchanged (ingestion adds
    addresses every block); a tag import or a clustering run rebuilds the chain's rows.
    Nothing is written on a read-only connection.
    """
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
            f" ({endpoints_sql(f'a.address_id > {done}')}) ORDER BY address_id",
            {"chain": chain, "cats": list(CUSTODIAL)},
        )
        _write_bits(con, chain, done + 1)
        con.execute(
            "INSERT OR REPLACE INTO trace_index_state (chain, endpoints_key, max_address_id)"
            " VALUES (?, ?, ?)",
            [chain, now_key, top],
        )
    return True


def _write_bits(con: duckdb.DuckDBPyConnection, chain: str, from_id: int) -> None:
    """Rewrite `trace_endpoint_bits` of `chain` from the block holding `from_id` on."""
    first = max(from_id, 0) // BITS_BLOCK
    con.execute("DELETE FROM trace_endpoint_bits WHERE chain = ? AND block >= ?", [chain, first])
    ids = con.sql(
        "SELECT address_id FROM trace_endpoints WHERE chain = $chain AND address_id >= $lo",
        params={"chain": chain, "lo": first * BITS_BLOCK},
    ).fetchnumpy()["address_id"]
    if not len(ids):
        return
    local = np.asarray(ids, np.int64) - first * BITS_BLOCK
    blocks = int(local.max()) // BITS_BLOCK + 1
    bits = np.zeros(blocks * BITS_BLOCK // 8, np.uint8)
    np.bitwise_or.at(bits, local >> 3, np.left_shift(1, local & 7).astype(np.uint8))
    rows = bits.reshape(blocks, BITS_BLOCK // 8)
    used = np.flatnonzero(rows.any(axis=1))
    con.register(
        "_bits",
        pa.table(
            {
                "block": used + first,
                "bits": pa.array([rows[b].tobytes() for b in used], pa.binary()),
            }
        ),
    )
    try:
        con.execute("INSERT INTO trace_endpoint_bits SELECT ?, block, bits FROM _bits", [chain])
    finally:
        con.unregister("_bits")


class _Bits:
    """The custodial bits of `chain`: one bit per address id, read in one query when first
    asked (2 MB for 16 million addresses)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, chain: str) -> None:
        self.con, self.chain = con, chain
        self.bits: NDArray[np.uint8] | None = None

    def _read(self) -> NDArray[np.uint8]:
        got = self.con.sql(
            "SELECT block, bits FROM trace_endpoint_bits WHERE chain = $chain",
            params={"chain": self.chain},
        ).to_arrow_table()
        block = got.column("block").to_numpy()
        size = BITS_BLOCK // 8
        bits = np.zeros((int(block.max()) + 1 if len(block) else 0) * size, np.uint8)
        if len(block):
            data, bounds = binary_rows(got.column("bits"))
            if (np.diff(bounds) != size).any():
                raise StoreError(f"trace_endpoint_bits of {self.chain}: a row is not {size} bytes")
            bits.reshape(-1, size)[block] = data.reshape(-1, size)  # rows of `size`, in order
        return bits

    def test(self, ids: NDArray[np.int64]) -> NDArray[np.bool_]:
        """Whether each of `ids` (>= 0) is a custodial address."""
        if self.bits is None:
            self.bits = self._read()
        byte = ids >> 3
        inside = byte < len(self.bits)
        found = np.zeros(len(ids), bool)
        found[inside] = (self.bits[byte[inside]] >> (ids[inside] & 7)) & 1 == 1
        return found


class CustodialStops:
    """The custodial endpoints of `chain`, looked up for the addresses a trace reaches.

    When `categories` are the custodial ones, `trace_endpoints` is brought up to date
    first (unless the store is read-only) and is then `indexed`: `resolve` tells custodial
    addresses by their bits (`trace_endpoint_bits`, read at the first hop) and leaves
    their endpoint PENDING until `name` reads the entity and label of all of them at the end
    of the trace (one query, where one per hop scanned `trace_endpoints` each time).
    Otherwise `resolve` reads a batch of address ids from the tags themselves in one query.
    Ids already asked are not asked again; `get` answers from what was resolved, asking the
    store for an id not seen.
    """

    def __init__(
        self, con: duckdb.DuckDBPyConnection, chain: str, categories: tuple[str, ...] = CUSTODIAL
    ) -> None:
        self.con, self.chain, self.categories = con, chain, categories
        self._known: dict[int, Endpoint | None] = {}
        self.indexed = categories == CUSTODIAL and refresh_endpoints(con, chain)
        self._bits = _Bits(con, chain)

    def resolve(self, ids: NDArray[np.int64] | list[int]) -> None:
        """Look up, in one query, the endpoints of the `ids` not asked before."""
        asked = np.unique(np.asarray(ids, dtype=np.int64)).tolist()
        new = [i for i in asked if i >= 0 and i not in self._known]
        if not new:
            return
        if self.indexed:
            custodial = self._bits.test(np.array(new, np.int64)).tolist()
            for i, hit in zip(new, custodial, strict=True):
                self._known[i] = PENDING if hit else None
            return
        found = self._lookup(new)
        for i in new:
            self._known[i] = found.get(i)

    def _lookup(self, ids: list[int]) -> dict[int, Endpoint]:
        """The endpoints at `ids` (those that are custodial), in one query."""
        sql = (
            "SELECT a.address_id, entity, label, category FROM trace_endpoints a"
            " SEMI JOIN (SELECT unnest($ids) AS address_id) USING (address_id)"
            " WHERE a.chain = $chain"
            if self.indexed
            else endpoints_sql("a.address_id IN (SELECT unnest($ids))")
        )
        params: dict[str, Any] = {"chain": self.chain, "ids": ids}
        if not self.indexed:
            params["cats"] = list(self.categories)
        return _found(self.con.execute(sql, params).fetchall())

    def name(self, arrivals: list[Arrival]) -> None:
        """Give the arrivals at PENDING endpoints their entity and label (one query)."""
        ids = sorted({int(a.address) for a in arrivals if a.endpoint is PENDING})
        if not ids:
            return
        found = self._lookup(ids)
        for a in arrivals:
            if a.endpoint is PENDING:
                a.endpoint = found[int(a.address)]

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


def name_arrivals(stops: Stops, arrivals: list[Arrival]) -> None:
    """At the end of a trace: name the endpoints `stops` left PENDING."""
    if isinstance(stops, CustodialStops):
        stops.name(arrivals)


def coinjoin_txs(con: duckdb.DuckDBPyConnection, chain: str) -> frozenset[str]:
    """The transactions of `chain` that clustering read as CoinJoins (none before a
    clustering run): a trace passes them by value share and flags them."""
    found = con.execute("SELECT tx_hash FROM coinjoin_txs WHERE chain = ?", [chain]).fetchall()
    return frozenset(str(r[0]) for r in found)
