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

`theft_seeds` gives the same outputs (Bitcoin) or transactions (Ethereum) as trace seeds, so
the incident report traces exactly the value that `verify` counts.
"""

from __future__ import annotations

from typing import Any

import duckdb

from chainsleuth.services.incidents.repository import show_incident
from chainsleuth.store.queries import rows


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


def theft_outputs(
    con: duckdb.DuckDBPyConnection, chain: str, txids: list[str], addresses: list[str]
) -> list[dict[str, Any]]:
    """The stored outputs of the theft transactions `txids` that paid the thief (UTXO chains):
    those paying one of `addresses`, or with none given, those not returning to an address
    the same transaction spends from. Each has tx_hash, n, address and value."""
    return rows(
        con,
        "SELECT o.tx_hash, o.n, a.address, o.value::HUGEINT AS value FROM outputs o"
        " JOIN addresses a ON a.address_id = o.address_id AND a.chain = o.chain"
        " WHERE o.chain = ? AND list_contains(?, o.tx_hash)"
        " AND CASE WHEN len(?) > 0 THEN list_contains(?, a.address)"
        " ELSE o.address_id NOT IN (SELECT i.address_id FROM inputs i WHERE i.chain = o.chain"
        " AND i.tx_hash = o.tx_hash AND i.address_id IS NOT NULL) END"
        " ORDER BY o.tx_hash, o.n",
        [chain, txids, addresses, addresses],
    )


def _bitcoin_paid(
    con: duckdb.DuckDBPyConnection, chain: str, txids: list[str], addresses: list[str]
) -> int:
    return sum(int(o["value"]) for o in theft_outputs(con, chain, txids, addresses))


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


def incident_chains(record: dict[str, Any]) -> list[str]:
    """The chains an incident names in its assets and seeds, in order of first mention."""
    chains = [str(a["chain"]) for a in record["assets"]] + [
        str(s["chain"]) for s in record["seeds"]
    ]
    return list(dict.fromkeys(chains))


def theft_seeds(
    con: duckdb.DuckDBPyConnection, record: dict[str, Any], chain: str
) -> dict[str, Any]:
    """Where to start tracing the incident on `chain`, from the stored chain data.

    Returns `seeds` (strings for `analytics.tracing.run.trace`: `TXID:N` outputs on UTXO
    chains, transaction hashes on Ethereum, or seed addresses when no theft transaction is
    stored), `basis` (what the seeds are: `theft_outputs`, `theft_txs`, `seed_addresses`,
    or `none`), `theft_txs` / `theft_txs_stored`, `addresses_stored`, and `outputs` (the
    theft outputs, UTXO chains).
    """
    txids = _seed_txids(record, chain)
    addresses = _seed_addresses(record, chain)
    found = _stored(con, chain, txids) if txids else 0
    stored_addresses = [
        str(r[0])
        for r in con.execute(
            "SELECT address FROM addresses WHERE chain = ? AND list_contains(?, "
            + ("lower(address))" if chain == "ethereum" else "address)"),
            [chain, addresses],
        ).fetchall()
    ]
    info: dict[str, Any] = {
        "chain": chain,
        "theft_txs": len(txids),
        "theft_txs_stored": found,
        "addresses": len(addresses),
        "addresses_stored": len(stored_addresses),
        "outputs": [],
    }
    if found and chain != "ethereum":
        outputs = theft_outputs(con, chain, txids, addresses)
        if outputs:
            seeds = [f"{o['tx_hash']}:{o['n']}" for o in outputs]
            return {**info, "seeds": seeds, "basis": "theft_outputs", "outputs": outputs}
    if found and chain == "ethereum":
        stored = [
            str(r[0])
            for r in con.execute(
                "SELECT DISTINCT tx_hash FROM transfers WHERE chain = ?"
                " AND list_contains(?, tx_hash) ORDER BY 1",
                [chain, txids],
            ).fetchall()
        ]
        return {**info, "seeds": stored, "basis": "theft_txs"}
    if stored_addresses:
        return {**info, "seeds": sorted(stored_addresses), "basis": "seed_addresses"}
    return {**info, "seeds": [], "basis": "none"}
