"""Read views over account-chain (Ethereum) value flows, for the CLI, the API and reports.

Amounts come back as Python ints in base units (wei, token units), summed exactly in SQL
over the uint256 rule (`amount` HUGEINT or `amount_raw` decimal text, as DuckDB BIGNUM).
Only successful flows count in balances and totals; failed ones are listed with
`success: false`. The ETH balance also subtracts the fees the address paid as sender
(fee recipients' tips and consensus-layer withdrawals are not transfers: see schema.md).
"""

from __future__ import annotations

from typing import Any

import duckdb

from chainsleuth.chains.ethereum.address import normalize
from chainsleuth.errors import InputError, NotFoundError
from chainsleuth.store.addresses import address_id
from chainsleuth.store.queries import rows

CHAIN = "ethereum"
EXACT_SUM = "sum(coalesce(t.amount::BIGNUM, t.amount_raw::BIGNUM))::VARCHAR"
EXACT_AMOUNT = "coalesce(t.amount::VARCHAR, t.amount_raw)"
# Flows of a transaction in order: native, internal (by trace address), token (by log index).
FLOW_ORDER = (
    "CASE t.kind WHEN 'native' THEN 0 WHEN 'internal' THEN 1 ELSE 2 END,"
    " list_transform(regexp_extract_all(t.position, '[0-9]+'), lambda x: x::INTEGER)"
)


def _int(value: Any) -> int:
    """An exact integer from a SQL result (BIGNUM and raw amounts arrive as text)."""
    return 0 if value is None else int(value)


def eth_address_view(
    con: duckdb.DuckDBPyConnection, address: str, *, limit: int = 50
) -> dict[str, Any]:
    """Balances per asset, in/out flows, counterparties and recent flows of one address.

    `address` may be typed in any case; a mixed-case one must pass its EIP-55 checksum.
    """
    stored = normalize(address)
    aid = address_id(con, CHAIN, stored)
    if aid is None:
        raise NotFoundError(f"{CHAIN} address {stored} is not in the store")
    p: dict[str, Any] = {"chain": CHAIN, "aid": aid}
    pl = {**p, "limit": limit}
    activity = account_activity(con, "SELECT $aid AS address_id", p)
    counterparties = rows(
        con,
        f"""
        WITH t AS (
            SELECT asset, amount, amount_raw,
                   CASE WHEN to_id = $aid THEN from_id ELSE to_id END AS other,
                   CASE WHEN to_id = $aid THEN 'in' ELSE 'out' END AS direction
            FROM transfers WHERE chain = $chain AND success AND (from_id = $aid OR to_id = $aid)
        )
        SELECT a.address, t.asset, t.direction, count(*) AS transfers, {EXACT_SUM} AS amount
        FROM t LEFT JOIN addresses a ON a.address_id = t.other
        GROUP BY ALL ORDER BY transfers DESC, a.address, t.asset, t.direction LIMIT $limit
        """,
        pl,
    )
    recent = rows(
        con,
        f"""
        SELECT t.block_height, t.time, t.tx_hash, t.position, t.kind, t.asset,
               f.address AS from_address, o.address AS to_address,
               {EXACT_AMOUNT} AS amount, t.token_id, t.success
        FROM transfers t
        LEFT JOIN addresses f ON f.address_id = t.from_id
        LEFT JOIN addresses o ON o.address_id = t.to_id
        WHERE t.chain = $chain AND (t.from_id = $aid OR t.to_id = $aid)
        ORDER BY t.block_height DESC, t.tx_hash, {FLOW_ORDER} LIMIT $limit
        """,
        pl,
    )
    contract = rows(
        con,
        "SELECT count(*) AS n FROM contracts WHERE chain = $chain AND address_id = $aid",
        p,
    )[0]
    return {
        "chain": CHAIN,
        "address": stored,
        "address_id": aid,
        "is_contract": bool(contract["n"]),
        **activity,
        "counterparties": [{**c, "amount": _int(c["amount"])} for c in counterparties],
        "transfers": [{**r, "amount": _int(r["amount"])} for r in recent],
    }


def account_activity(
    con: duckdb.DuckDBPyConnection, members: str, params: dict[str, Any]
) -> dict[str, Any]:
    """Balances per asset, fees, transaction count and first/last activity of a set of
    addresses (`members`: a query of `address_id`, with `$chain` among `params`): of one
    address, or of an entity. Only flows crossing the set's boundary count as received or
    sent (an entity moving coins between its own addresses neither receives nor sends)."""
    with_members = f"""
        WITH m AS ({members}),
        t AS (
            SELECT *, from_id IN (SELECT address_id FROM m) AS from_in,
                   to_id IN (SELECT address_id FROM m) AS to_in
            FROM transfers WHERE chain = $chain
              AND (from_id IN (SELECT address_id FROM m) OR to_id IN (SELECT address_id FROM m))
        )"""
    assets = rows(
        con,
        f"""
        {with_members},
             io AS (
                SELECT asset, 'in' AS dir, count(*) AS n, {EXACT_SUM} AS total
                FROM t WHERE success AND to_in AND NOT from_in GROUP BY asset
                UNION ALL
                SELECT asset, 'out', count(*), {EXACT_SUM} FROM t
                WHERE success AND from_in AND NOT to_in GROUP BY asset)
        SELECT io.asset, k.symbol, k.decimals, k.standard,
               max(io.n) FILTER (WHERE dir = 'in') AS transfers_in,
               max(io.total) FILTER (WHERE dir = 'in') AS received,
               max(io.n) FILTER (WHERE dir = 'out') AS transfers_out,
               max(io.total) FILTER (WHERE dir = 'out') AS sent
        FROM io LEFT JOIN tokens k ON k.chain = $chain AND k.contract = io.asset
        GROUP BY io.asset, k.symbol, k.decimals, k.standard
        ORDER BY io.asset = 'ETH' DESC, io.asset
        """,
        params,
    )
    fees = rows(
        con,
        f"WITH m AS ({members}) SELECT count(*) AS n, sum(fee::BIGNUM)::VARCHAR AS total"
        " FROM eth_txs WHERE chain = $chain AND from_id IN (SELECT address_id FROM m)",
        params,
    )[0]
    balances = []
    for a in assets:
        received, sent = _int(a["received"]), _int(a["sent"])
        fee = _int(fees["total"]) if a["asset"] == "ETH" else 0
        balances.append(
            {
                "asset": a["asset"],
                "symbol": "ETH" if a["asset"] == "ETH" else a["symbol"],
                "decimals": 18 if a["asset"] == "ETH" else a["decimals"],
                "standard": a["standard"],
                "balance": received - sent - fee,
                "received": received,
                "sent": sent,
                "fees_paid": fee,
                "transfers_in": _int(a["transfers_in"]),
                "transfers_out": _int(a["transfers_out"]),
            }
        )
    span = rows(
        con,
        f"""
        {with_members}, touched AS (
            SELECT tx_hash, block_height, time FROM t
            UNION
            SELECT x.tx_hash, x.block_height, s.time FROM eth_txs x
            JOIN txs s ON s.chain = x.chain AND s.tx_hash = x.tx_hash
            WHERE x.chain = $chain AND x.from_id IN (SELECT address_id FROM m)
        )
        SELECT count(DISTINCT t.tx_hash) AS tx_count, min(t.time) AS first_seen,
               max(t.time) AS last_seen,
               count(DISTINCT t.block_height)
                   FILTER (WHERE NOT coalesce(b.internal_available, false))
                   AS blocks_without_internal
        FROM touched t
        LEFT JOIN eth_blocks b ON b.chain = $chain AND b.height = t.block_height
        """,
        params,
    )[0]
    return {
        "tx_count": _int(span["tx_count"]),
        "first_seen": span["first_seen"],
        "last_seen": span["last_seen"],
        "fees_paid": _int(fees["total"]),
        "txs_sent": _int(fees["n"]),
        "internal_transfers_complete": _int(span["blocks_without_internal"]) == 0,
        "balances": balances,
    }


def eth_tx_view(con: duckdb.DuckDBPyConnection, tx_hash: str) -> dict[str, Any]:
    """One transaction with every value flow in it, decoded, and each address's net change.

    `net` nets the successful flows per address and asset (the sender's ETH also loses
    the fee); it sums to zero per asset except for mints/burns (the zero address) and fees.
    """
    h = tx_hash.strip().lower()
    if len(h) != 66 or not h.startswith("0x"):
        raise InputError(f"{tx_hash!r} is not an Ethereum transaction hash (0x + 64 hex)")
    found = rows(
        con,
        """
        SELECT x.tx_hash, x.block_height, t.position, t.time, f.address AS from_address,
               o.address AS to_address, x.value::VARCHAR AS value, x.nonce, x.gas,
               x.gas_used, x.gas_price::VARCHAR AS gas_price,
               x.effective_gas_price::VARCHAR AS effective_gas_price,
               x.fee::VARCHAR AS fee, x.tx_type, x.method_id, x.status, x.success,
               c.address AS contract_created, b.internal_available, b.internal_source
        FROM eth_txs x
        JOIN txs t ON t.chain = x.chain AND t.tx_hash = x.tx_hash
        LEFT JOIN eth_blocks b ON b.chain = x.chain AND b.height = x.block_height
        LEFT JOIN addresses f ON f.address_id = x.from_id
        LEFT JOIN addresses o ON o.address_id = x.to_id
        LEFT JOIN addresses c ON c.address_id = x.contract_id
        WHERE x.chain = $chain AND x.tx_hash = $h
        """,
        {"chain": CHAIN, "h": h},
    )
    if not found:
        raise NotFoundError(f"{CHAIN} transaction {h} is not in the store")
    tx = found[0]
    for key in ("value", "gas_price", "effective_gas_price", "fee"):
        tx[key] = None if tx[key] is None else int(tx[key])
    flows = rows(
        con,
        f"""
        SELECT t.position, t.kind, t.asset, k.symbol, k.decimals, k.standard,
               f.address AS from_address, o.address AS to_address,
               {EXACT_AMOUNT} AS amount, t.token_id, t.success
        FROM transfers t
        LEFT JOIN tokens k ON k.chain = t.chain AND k.contract = t.asset
        LEFT JOIN addresses f ON f.address_id = t.from_id
        LEFT JOIN addresses o ON o.address_id = t.to_id
        WHERE t.chain = $chain AND t.tx_hash = $h
        ORDER BY {FLOW_ORDER}
        """,
        {"chain": CHAIN, "h": h},
    )
    net: dict[tuple[str, str], int] = {}
    for flow in flows:
        flow["amount"] = int(flow["amount"])
        if flow["asset"] == "ETH":
            flow["symbol"], flow["decimals"] = "ETH", 18
        if not flow["success"]:
            continue
        for who, sign in ((flow["from_address"], -1), (flow["to_address"], 1)):
            if who is not None:
                pair = (who, flow["asset"])
                net[pair] = net.get(pair, 0) + sign * flow["amount"]
    if tx["fee"]:
        payer = (tx["from_address"], "ETH")
        net[payer] = net.get(payer, 0) - tx["fee"]
    return {
        "chain": CHAIN,
        **tx,
        "transfers": flows,
        "net": [
            {"address": who, "asset": asset, "delta": delta}
            for (who, asset), delta in sorted(net.items())
            if delta != 0
        ],
    }
