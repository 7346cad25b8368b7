"""Ethereum: the deposit-address heuristic (Victor 2020).

Friedhelm Victor, "Address Clustering Heuristics for Ethereum", Financial Cryptography 2020,
§3.1: an exchange gives each customer a deposit address, an externally owned account that
forwards what it receives to the exchange's hot wallet soon after. So
- `deposit-address`: each deposit address belongs to the hot wallet's entity (the
  exchange); evidence: its first forwarding transaction;
- `deposit-reuse`: every address that sends to one deposit address is one customer;
  evidence: each sender's first deposit transaction.

A deposit address here: not a contract (contracts are known from creation transactions
and traces, `contracts`); every successful outgoing transfer (ETH, internal or token) goes
to one address, the hot wallet, within `FORWARD_BLOCKS` of an incoming transfer from
someone else; the hot wallet collects from at least two such addresses. An address that
also pays anyone else is not a deposit address. Contracts, hot wallets and other deposit
addresses never join a customer cluster (an exchange withdrawing straight into another
exchange's deposit address is not that customer).

Not clustered on Ethereum, and why: there is no multi-input or change on an account chain
(one sender per transaction); airdrop multi-participation and self-authorization (Victor
§3.2-3.3) need token-approval and airdrop-claim events that the store does not keep, and
are ambiguous without them; smart-contract wallets and transfers through contracts
(DEX routers, mixers, bridges) link nobody. Deposit detection looks at an address's whole
history (a later payment elsewhere undoes it), so Ethereum runs recompute in full.
"""

from __future__ import annotations

from chainsleuth.analytics.clustering.window import Window

FORWARD_BLOCKS = 3200
"""Longest delay between receipt and forwarding (about 12 hours; Victor 2020 §4)."""


def _deposits_ctes(w: Window) -> str:
    """CTEs: successful transfers `t`, contracts, and `deposits` (deposit, hot wallet)."""
    return f"""
    WITH t AS (
        SELECT tx_hash, block_height, from_id, to_id FROM transfers
        WHERE {w.rows()} AND success AND from_id IS NOT NULL AND to_id IS NOT NULL
          AND from_id <> to_id
    ), contract AS (
        SELECT DISTINCT address_id FROM contracts WHERE {w.chain_rows()}
    ), single AS (
        SELECT from_id AS d, min(to_id) AS hot FROM t
        GROUP BY from_id HAVING min(to_id) = max(to_id)
    ), outgoing AS (
        SELECT s.d, s.hot, x.tx_hash, x.block_height FROM single s JOIN t x ON x.from_id = s.d
    ), forwarded AS (
        SELECT o.d, o.tx_hash, o.block_height FROM outgoing o
        WHERE EXISTS (
            SELECT 1 FROM t y WHERE y.to_id = o.d AND y.from_id <> o.hot
              AND y.block_height BETWEEN o.block_height - {FORWARD_BLOCKS} AND o.block_height
        )
    ), candidate AS (
        SELECT s.d, s.hot FROM single s
        WHERE s.d NOT IN (SELECT address_id FROM contract)
          AND (SELECT count(*) FROM outgoing o WHERE o.d = s.d)
            = (SELECT count(*) FROM forwarded f WHERE f.d = s.d)
    ), hot AS (
        SELECT hot FROM candidate GROUP BY hot HAVING count(*) >= 2
    ), deposits AS (
        SELECT c.d, c.hot FROM candidate c JOIN hot h ON h.hot = c.hot
        WHERE c.d NOT IN (SELECT hot FROM hot)
    )"""


def deposit_sql(w: Window, names: list[str]) -> str:
    """Links (address_id_a, address_id_b, tx_hash, block_height, heuristic) of the chosen
    `deposit-address` / `deposit-reuse` rules."""
    parts = []
    if "deposit-address" in names:
        parts.append("SELECT *, 'deposit-address' AS heuristic FROM exchange_links")
    if "deposit-reuse" in names:
        parts.append("SELECT *, 'deposit-reuse' AS heuristic FROM customer_links")
    union = "\n    UNION ALL\n    ".join(parts)
    return f"""{_deposits_ctes(w)},{_exchange_ctes()},{_customer_ctes()}
    {union}
    """


def _exchange_ctes() -> str:
    """CTE `exchange_links`: deposit address -> hot wallet (the exchange's entity)."""
    return """
    first_forward AS (
        SELECT d.d, d.hot, min(x.block_height) AS block_height
        FROM deposits d JOIN t x ON x.from_id = d.d GROUP BY d.d, d.hot
    ), exchange_links AS (
        SELECT f.hot AS address_id_a, f.d AS address_id_b, min(x.tx_hash) AS tx_hash,
               f.block_height
        FROM first_forward f JOIN t x ON x.from_id = f.d AND x.block_height = f.block_height
        GROUP BY f.hot, f.d, f.block_height
    )"""


def _customer_ctes() -> str:
    """CTE `customer_links`: between the senders of one deposit address (one customer)."""
    return """
    senders AS (
        SELECT y.to_id AS d, y.from_id AS s, min(y.block_height) AS block_height
        FROM t y JOIN deposits dd ON dd.d = y.to_id
        WHERE y.from_id <> dd.hot
          AND y.from_id NOT IN (SELECT address_id FROM contract)
          AND y.from_id NOT IN (SELECT hot FROM hot)
          AND y.from_id NOT IN (SELECT d FROM deposits)
        GROUP BY y.to_id, y.from_id
    ), roots AS (
        SELECT d, min(s) AS root FROM senders GROUP BY d HAVING count(*) >= 2
    ), customer_links AS (
        SELECT r.root AS address_id_a, s.s AS address_id_b, min(y.tx_hash) AS tx_hash,
               s.block_height
        FROM senders s JOIN roots r ON r.d = s.d
        JOIN t y ON y.to_id = s.d AND y.from_id = s.s AND y.block_height = s.block_height
        WHERE s.s <> r.root
        GROUP BY r.root, s.s, s.block_height
    )"""
