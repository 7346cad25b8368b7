"""Alerts: watched funds moving, or a risky deposit reaching a watched custodial service
(exchange, ...) — scored by its senders' exposure; signed
webhook deliveries with retries that stay visible until they succeed or give up.

Every webhook POST carries `X-Chainsleuth-Signature: sha256=<hex>`, the HMAC-SHA256 of the
exact body under the watchlist's secret, so receivers can verify the sender.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from typing import Any

import duckdb
import httpx

from chainsleuth.analytics.tracing.endpoints import custodial_stops
from chainsleuth.interfaces.output import to_jsonable
from chainsleuth.services.screening.engine import Screener
from chainsleuth.services.screening.watchlists import watched_address_ids
from chainsleuth.store.queries import rows

MAX_ATTEMPTS = 8
BACKOFF_SECONDS = 30.0
HIGH_LEVELS = ("high", "severe")


def sign(secret: str, body: bytes) -> str:
    """The signature header value for `body`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _new_alert(
    con: duckdb.DuckDBPyConnection,
    wid: int,
    chain: str,
    height: int,
    tx: str,
    kind: str,
    detail: dict[str, Any],
) -> bool:
    exists = con.execute(
        "SELECT count(*) FROM alerts WHERE watchlist_id = ? AND chain = ? AND tx_hash = ?"
        " AND kind = ?",
        [wid, chain, tx, kind],
    ).fetchall()[0][0]
    if exists:
        return False
    aid = int(con.execute("SELECT nextval('alert_seq')").fetchall()[0][0])
    con.execute(
        "INSERT INTO alerts (alert_id, watchlist_id, chain, block_height, tx_hash, kind,"
        " detail) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [aid, wid, chain, height, tx, kind, json.dumps(to_jsonable(detail))],
    )
    for (url,) in con.execute(
        "SELECT unnest(webhooks) FROM watchlists WHERE watchlist_id = ?", [wid]
    ).fetchall():
        con.execute(
            "INSERT INTO alert_deliveries (alert_id, url, status, next_try)"
            " VALUES (?, ?, 'pending', current_timestamp)",
            [aid, url],
        )
    return True


def scan(
    con: duckdb.DuckDBPyConnection,
    chain: str,
    from_height: int,
    to_height: int,
    screener: Screener | None = None,
) -> int:
    """Create alerts for blocks from_height..to_height of a UTXO chain; returns how many."""
    watched = watched_address_ids(con, chain)
    if not watched:
        return 0
    con.execute("CREATE OR REPLACE TEMP TABLE _watched (address_id BIGINT)")
    con.executemany("INSERT INTO _watched VALUES (?)", [(a,) for a in watched])
    moves = con.execute(
        """
        SELECT 'watched-outflow' AS kind, i.block_height, i.tx_hash, i.address_id,
               sum(i.value) AS value
        FROM inputs i JOIN _watched USING (address_id)
        WHERE i.chain = $chain AND i.block_height BETWEEN $lo AND $hi GROUP BY ALL
        UNION ALL
        SELECT 'watched-inflow', o.block_height, o.tx_hash, o.address_id, sum(o.value)
        FROM outputs o JOIN _watched USING (address_id)
        WHERE o.chain = $chain AND o.block_height BETWEEN $lo AND $hi GROUP BY ALL
        ORDER BY 2, 3
        """,
        {"chain": chain, "lo": from_height, "hi": to_height},
    ).fetchall()
    created = 0
    custodial = custodial_stops(con, chain) if screener is not None else {}
    names = dict(
        con.execute(
            "SELECT address_id, address FROM addresses WHERE address_id IN"
            " (SELECT address_id FROM _watched)"
        ).fetchall()
    )
    for kind, height, tx, aid, value in moves:
        detail: dict[str, Any] = {"address": names.get(aid), "value": int(value or 0)}
        if kind == "watched-inflow" and screener is not None and aid in custodial:
            senders = screener.screen_tx(chain, tx, "deposit")
            if senders["level"] in HIGH_LEVELS:
                kind = "high-exposure-deposit"
                detail["deposit_risk"] = {"score": senders["score"], "level": senders["level"]}
        for wid in watched[aid]:
            created += _new_alert(con, wid, chain, height, tx, kind, detail)
    con.execute("DROP TABLE _watched")
    return created


def list_alerts(con: duckdb.DuckDBPyConnection, limit: int = 100) -> list[dict[str, Any]]:
    """Newest alerts with their delivery state."""
    found = rows(
        con,
        """
        SELECT a.alert_id, a.watchlist_id, a.chain, a.block_height, a.tx_hash, a.kind,
               a.detail, a.created_at,
               coalesce(list({'url': d.url, 'status': d.status, 'attempts': d.attempts,
                     'last_error': d.last_error} ORDER BY d.url) FILTER (WHERE d.url IS NOT NULL),
                     []) AS deliveries
        FROM alerts a LEFT JOIN alert_deliveries d USING (alert_id)
        GROUP BY ALL ORDER BY a.alert_id DESC LIMIT ?
        """,
        [limit],
    )
    return [{**r, "detail": json.loads(r["detail"])} for r in found]


def deliver_pending(
    con: duckdb.DuckDBPyConnection,
    client: httpx.Client | None = None,
    now: dt.datetime | None = None,
) -> dict[str, int]:
    """POST every due delivery once; failures back off exponentially, then give up."""
    now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    due = con.execute(
        """
        SELECT d.alert_id, d.url, d.attempts, w.secret, a.chain, a.block_height, a.tx_hash,
               a.kind, a.detail, a.watchlist_id, w.name
        FROM alert_deliveries d JOIN alerts a USING (alert_id)
        JOIN watchlists w ON w.watchlist_id = a.watchlist_id
        WHERE d.status = 'pending' AND d.next_try <= ? ORDER BY d.alert_id
        """,
        [now],
    ).fetchall()
    counts = {"delivered": 0, "retry": 0, "failed": 0}
    if not due:
        # the service asks every 30 s: an idle call must not build a client (loading the
        # CA bundle for TLS takes a fraction of a second with the interpreter lock held)
        return counts
    own = client is None
    http = client or httpx.Client(timeout=10.0)
    try:
        for alert_id, url, attempts, secret, chain, height, tx, kind, detail, wid, wname in due:
            body = json.dumps(
                {
                    "alert_id": alert_id,
                    "watchlist_id": wid,
                    "watchlist": wname,
                    "chain": chain,
                    "block_height": height,
                    "tx_hash": tx,
                    "kind": kind,
                    "detail": json.loads(detail),
                }
            ).encode()
            error = None
            try:
                resp = http.post(
                    url,
                    content=body,
                    headers={
                        "Content-Type": "application/json",
                        "X-Chainsleuth-Signature": sign(secret, body),
                    },
                )
                if resp.status_code >= 300:
                    error = f"HTTP {resp.status_code}"
            except httpx.HTTPError as exc:
                error = type(exc).__name__
            tries = attempts + 1
            if error is None:
                con.execute(
                    "UPDATE alert_deliveries SET status = 'delivered', attempts = ?,"
                    " delivered_at = ?, last_error = NULL WHERE alert_id = ? AND url = ?",
                    [tries, now, alert_id, url],
                )
                counts["delivered"] += 1
                continue
            final = tries >= MAX_ATTEMPTS
            retry_at = now + dt.timedelta(seconds=BACKOFF_SECONDS * 2 ** (tries - 1))
            con.execute(
                "UPDATE alert_deliveries SET status = ?, attempts = ?, last_error = ?,"
                " next_try = ? WHERE alert_id = ? AND url = ?",
                ["failed" if final else "pending", tries, error, retry_at, alert_id, url],
            )
            counts["failed" if final else "retry"] += 1
    finally:
        if own:
            http.close()
    return counts
