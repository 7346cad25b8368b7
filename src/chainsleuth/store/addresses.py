"""The address dictionary: address strings to integer ids, so analytics run on integers.

Ids are global (unique across chains), assigned once and never reused or changed, so a
cluster or a tag that cites an id stays valid as the store grows.
"""

from __future__ import annotations

import duckdb


def map_addresses(con: duckdb.DuckDBPyConnection, chain: str, source_sql: str, into: str) -> int:
    """Create temp table `into` (address, address_id, …) for every address of `source_sql`.

    `source_sql` yields `address` and `seen`, an integer distinct per row that orders the
    rows deterministically (from row ids, say). Addresses not yet known get new ids in the
    order they are first seen, so the same input gives the same ids and ids grow with the
    chain (sorting integers, not the address strings). Writers join their rows to this per-batch map
    rather than to the whole dictionary, which grows with the chain. Returns the number of
    new addresses. Runs in the caller's transaction.
    """
    p = {"chain": chain}
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {into} AS
        SELECT s.address, s.seen, a.address_id
        FROM (SELECT address, min(seen) AS seen FROM ({source_sql})
              WHERE address IS NOT NULL GROUP BY address) s
        LEFT JOIN addresses a ON a.chain = $chain AND a.address = s.address
        """,
        p,
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _new_addresses AS"
        " SELECT address, nextval('address_id_seq') AS address_id"
        f" FROM (SELECT address FROM {into} WHERE address_id IS NULL ORDER BY seen)"
    )
    added = int(con.execute("SELECT count(*) FROM _new_addresses").fetchall()[0][0])
    if added:
        con.execute(
            "INSERT INTO addresses SELECT $chain, address, address_id FROM _new_addresses", p
        )
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {into} AS"
            f" SELECT address, address_id FROM {into} WHERE address_id IS NOT NULL"
            " UNION ALL SELECT * FROM _new_addresses"
        )
    con.execute("DROP TABLE _new_addresses")
    return added


def address_id(con: duckdb.DuckDBPyConnection, chain: str, address: str) -> int | None:
    """The id of one address, or None if the store has never seen it."""
    found = con.execute(
        "SELECT address_id FROM addresses WHERE chain = ? AND address = ?", [chain, address]
    ).fetchall()
    return int(found[0][0]) if found else None
