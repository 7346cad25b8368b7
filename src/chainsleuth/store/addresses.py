"""The address dictionary: address strings to integer ids, so analytics run on integers.

Ids are global (unique across chains), assigned once and never reused or changed, so a
cluster or a tag that cites an id stays valid as the store grows.
"""

from __future__ import annotations

import duckdb


def intern_addresses(con: duckdb.DuckDBPyConnection, chain: str, source_sql: str) -> int:
    """Give an id to every address of `source_sql` (a query with column `address`) not yet known.

    Returns the number of new addresses. Runs in the caller's transaction.
    """
    added = map_addresses(con, chain, source_sql, "_interned_addresses")
    con.execute("DROP TABLE _interned_addresses")
    return added


def map_addresses(con: duckdb.DuckDBPyConnection, chain: str, source_sql: str, into: str) -> int:
    """Create temp table `into` (address, address_id) for every address of `source_sql`.

    Addresses not yet known get new ids first, in address order (same input, same ids).
    Writers join their rows to this per-batch map rather than to the whole dictionary,
    which grows with the chain. Returns the number of new addresses. Runs in the caller's
    transaction.
    """
    p = {"chain": chain}
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE {into} AS
        SELECT s.address, a.address_id
        FROM (SELECT DISTINCT address FROM ({source_sql}) WHERE address IS NOT NULL) s
        LEFT JOIN addresses a ON a.chain = $chain AND a.address = s.address
        """,
        p,
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _new_addresses AS"
        " SELECT address, nextval('address_id_seq') AS address_id"
        f" FROM (SELECT address FROM {into} WHERE address_id IS NULL ORDER BY address)"
    )
    added = int(con.execute("SELECT count(*) FROM _new_addresses").fetchall()[0][0])
    if added:
        con.execute(
            "INSERT INTO addresses SELECT $chain, address, address_id FROM _new_addresses", p
        )
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {into} AS"
            f" SELECT * FROM {into} WHERE address_id IS NOT NULL"
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
