"""Recomputing an incident's stolen amounts from the chain data in the store.

For each asset of the incident with a reported amount, on a chain whose theft transactions
(seed txids) are stored, the verified amount is what those transactions paid to the thief:

- Bitcoin (BTC): the outputs of the theft transactions paying one of the incident's seed
  addresses on that chain; with no seed address, every output that does not return to an
  address the same transaction spends from (change).
- Ethereum: successful transfers of the theft transactions of that asset (`ETH`, or a token
  whose stored symbol is the asset) received by a seed address, or by anyone when the
  incident lists no seed address on that chain.

Each asset gets a status: `verified` (equal to the reported amount), `differs`,
`partial` (some theft transactions are not stored), `no_chain_data`, or `no_amount`.
The incident is `verified` when every asset with an amount is.
"""

from __future__ import annotations

from typing import Any

import duckdb

from chainsleuth.services.incidents.repository import show_incident


def _seed_txids(record: dict[str, Any], chain: str) -> list[str]:
    txids = [
        s["value"].lower() for s in record["seeds"] if s["kind"] == "txid" and s["chain"] == chain
    ]
    if chain == "ethereum":
        return [t if t.startswith("0x") else "0x" + t for t in txids]
    return [t.removeprefix("0x") for t in txids]


def _seed_addresses(record: dict[str, Any], chain: str) -> list[str]:
    found = [s["value"] for s in record["seeds"] if s["kind"] == "address" and s["chain"] == chain]
    return [a.lower() for a in found] if chain == "ethereum" else found


def _stored(con: duckdb.DuckDBPyConnection, chain: str, txids: list[str]) -> int:
    row = con.execute(
        "SELECT count(DISTINCT tx_hash) FROM ("
        " SELECT tx_hash FROM txs WHERE chain = ? AND list_contains(?, tx_hash)"
        " UNION ALL SELECT tx_hash FROM transfers WHERE chain = ? AND list_contains(?, tx_hash))",
        [chain, txids, chain, txids],
    ).fetchone()
    return int(row[0]) if row else 0


def _bitcoin_paid(
    con: duckdb.DuckDBPyConnection, chain: str, txids: list[str], addresses: list[str]
) -> int:
    row = con.execute(
        "SELECT coalesce(sum(o.value), 0)::HUGEINT FROM outputs o"
        " JOIN addresses a ON a.address_id = o.address_id AND a.chain = o.chain"
        " WHERE o.chain = ? AND list_contains(?, o.tx_hash)"
        " AND CASE WHEN len(?) > 0 THEN list_contains(?, a.address)"
        " ELSE o.address_id NOT IN (SELECT i.address_id FROM inputs i WHERE i.chain = o.chain"
        " AND i.tx_hash = o.tx_hash AND i.address_id IS NOT NULL) END",
        [chain, txids, addresses, addresses],
    ).fetchone()
    return int(row[0]) if row else 0


def _ethereum_paid(
    con: duckdb.DuckDBPyConnection, chain: str, txids: list[str], addresses: list[str], asset: str
) -> int:
    row = con.execute(
        "SELECT coalesce(sum(t.amount), 0)::HUGEINT FROM transfers t"
        " JOIN addresses a ON a.address_id = t.to_id AND a.chain = t.chain"
        " WHERE t.chain = ? AND t.success AND list_contains(?, t.tx_hash)"
        " AND (CASE WHEN upper(?) = 'ETH' THEN t.asset = 'ETH' ELSE t.asset IN"
        "  (SELECT contract FROM tokens WHERE chain = ? AND upper(symbol) = upper(?)) END)"
        " AND (len(?) = 0 OR list_contains(?, lower(a.address)))",
        [chain, txids, asset, chain, asset, addresses, addresses],
    ).fetchone()
    return int(row[0]) if row else 0


def _check(
    con: duckdb.DuckDBPyConnection, record: dict[str, Any], asset: dict[str, Any]
) -> dict[str, Any]:
    chain, reported = asset["chain"], asset["amount_base"]
    txids = _seed_txids(record, chain)
    found = _stored(con, chain, txids) if txids else 0
    result: dict[str, Any] = {
        "chain": chain,
        "asset": asset["asset"],
        "reported_base": None if reported is None else int(reported),
        "verified_base": None,
        "difference_base": None,
        "theft_txs": len(txids),
        "theft_txs_stored": found,
    }
    if reported is None:
        return {**result, "status": "no_amount"}
    if not found:
        return {**result, "status": "no_chain_data"}
    addresses = _seed_addresses(record, chain)
    if chain == "ethereum":
        paid = _ethereum_paid(con, chain, txids, addresses, str(asset["asset"]))
    else:
        paid = _bitcoin_paid(con, chain, txids, addresses)
    status = "partial" if found < len(txids) else "verified" if paid == int(reported) else "differs"
    return {
        **result,
        "verified_base": paid,
        "difference_base": paid - int(reported),
        "status": status,
    }


def verify_incident(con: duckdb.DuckDBPyConnection, incident_id: str) -> dict[str, Any]:
    """The incident's reported amounts beside those recomputed from the store."""
    record = show_incident(con, incident_id)
    checks = [_check(con, record, asset) for asset in record["assets"]]
    with_amount = [c for c in checks if c["status"] != "no_amount"]
    if with_amount and all(c["status"] == "verified" for c in with_amount):
        status = "verified"
    elif any(c["status"] in ("differs", "partial") for c in with_amount):
        status = "differs"
    else:
        status = "unverified"
    return {
        "id": record["id"],
        "name": record["name"],
        "usd_value": record["usd_value"],
        "status": status,
        "assets": checks,
    }


def verified_incidents(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Ids of the incidents whose every reported amount is confirmed by stored chain data."""
    candidates = [
        str(row[0])
        for row in con.execute(
            "SELECT DISTINCT incident_id FROM incident_seeds WHERE kind = 'txid' ORDER BY 1"
        ).fetchall()
    ]
    return [i for i in candidates if verify_incident(con, i)["status"] == "verified"]
