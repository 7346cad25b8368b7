"""Ethereum heuristics (Victor 2020): deposit addresses, airdrop multi-participation and
self-authorization.

Friedhelm Victor, "Address Clustering Heuristics for Ethereum", Financial Cryptography 2020.

§3.1, deposit addresses: an exchange gives each customer a deposit address, an externally
owned account that forwards what it receives to the exchange's hot wallet soon after. So
- `deposit-address`: each deposit address belongs to the hot wallet's entity (the
  exchange); evidence: its first forwarding transaction;
- `deposit-reuse`: every address that sends to one deposit address is one customer;
  evidence: each sender's first deposit transaction. An address that pays two or more
  deposit addresses of one exchange is not a customer (a customer has one; a funder,
  payroll or another exchange paying many customers does that) and joins no one.
A deposit address here: not a contract (contracts are known from creation transactions
and traces, `contracts`); every successful outgoing transfer (ETH, internal or token) goes
to one address, the hot wallet, within `FORWARD_BLOCKS` of an incoming transfer from
someone else; the hot wallet collects from at least two such addresses. An address that
also pays anyone else is not a deposit address. Contracts, hot wallets and other deposit
addresses never join a customer cluster (an exchange withdrawing straight into another
exchange's deposit address is not that customer).

§3.2, `airdrop-participation`: one user collects an airdrop with several addresses and
gathers the tokens in one. Only the unambiguous case is linked: an airdrop is one
transaction paying one token from one sender to at least `AIRDROP_MIN_RECIPIENTS`
distinct addresses, the same amount each (a batch distribution); a participant sends the
token, after receiving it, only ever to one address G; G gathers from at least two
participants of that airdrop and receives the token from nobody else (a buyer or a service
taking it from anyone is not one user); neither side is a contract, a hot wallet or a
deposit address (a farmer paying into his exchange deposit address is that exchange's
address, not his). Links: G to each participant; evidence: the participant's first
transfer to G.

§3.3, `self-authorization`: an ERC-20 holder authorizes another of its addresses to move
its tokens (`approve`), and that address then does. Evidence read from the store: the
holder sent an `approve` call (selector 0x095ea7b3) to the token, and later an externally
owned address called the token's `transferFrom` (0x23b872dd) itself (not through a
contract such as a DEX router) and the token's transfer event moved the holder's tokens.
Linked only one to one: the spender spends for no other holder, and no other address
spends for the holder (a drainer that empties many approving victims, the approval
phishing of the theft reports, is not its victims' owner). Off by default: one victim
approving one phisher's address looks the same (`bench/RESULTS.md`).

Not clustered on Ethereum, and why: there is no multi-input or change on an account chain
(one sender per transaction); Merkle-claim airdrops (each claimant in its own transaction,
different amounts) are not read as airdrops, since a DEX or a bridge paying many addresses
looks the same; approvals given by signature (EIP-2612 `permit`) and transfers through
contracts (routers, mixers, bridges, smart-contract wallets) link nobody; gas funding
(one address paying the first ETH of many) is common to exchanges and faucets, so it is
not a heuristic. Deposit detection looks at an address's whole history (a later payment
elsewhere undoes it), so Ethereum runs recompute in full.
"""

from __future__ import annotations

from chainsleuth.analytics.clustering.window import Window

FORWARD_BLOCKS = 3200
"""Longest delay between receipt and forwarding (about 12 hours; Victor 2020 §4)."""
AIRDROP_MIN_RECIPIENTS = 10
"""Distinct recipients of one token transfer batch that make it an airdrop."""
APPROVE = "0x095ea7b3"
"""Selector of ERC-20 `approve(address,uint256)`."""
TRANSFER_FROM = "0x23b872dd"
"""Selector of ERC-20 `transferFrom(address,address,uint256)`."""


def _deposits_ctes(w: Window) -> str:
    """CTEs: successful transfers `t`, contracts, and `deposits` (deposit, hot wallet)."""
    return f"""
    WITH t AS (
        SELECT tx_hash, block_height, from_id, to_id FROM transfers
        WHERE {w.rows()} AND success AND from_id IS NOT NULL AND to_id IS NOT NULL
          AND from_id <> to_id
    ), contract AS (
        SELECT DISTINCT address_id FROM contracts WHERE {w.chain_rows()}
    ), pays_one AS (
        SELECT from_id AS d, min(to_id) AS hot FROM t
        GROUP BY from_id HAVING min(to_id) = max(to_id)
    ), outgoing AS (
        SELECT s.d, s.hot, x.tx_hash, x.block_height FROM pays_one s JOIN t x ON x.from_id = s.d
    ), forwarded AS (
        SELECT o.d, o.tx_hash, o.block_height FROM outgoing o
        WHERE EXISTS (
            SELECT 1 FROM t y WHERE y.to_id = o.d AND y.from_id <> o.hot
              AND y.block_height BETWEEN o.block_height - {FORWARD_BLOCKS} AND o.block_height
        )
    ), candidate AS (
        SELECT s.d, s.hot FROM pays_one s
        WHERE s.d NOT IN (SELECT address_id FROM contract)
          AND (SELECT count(*) FROM outgoing o WHERE o.d = s.d)
            = (SELECT count(*) FROM forwarded f WHERE f.d = s.d)
    ), hot AS (
        SELECT hot FROM candidate GROUP BY hot HAVING count(*) >= 2
    ), deposits AS (
        SELECT c.d, c.hot FROM candidate c JOIN hot h ON h.hot = c.hot
        WHERE c.d NOT IN (SELECT hot FROM hot)
    )"""


def ethereum_sql(w: Window, names: list[str]) -> str:
    """Links (address_id_a, address_id_b, tx_hash, block_height, heuristic) of the chosen
    Ethereum heuristics (see the module docstring)."""
    parts = [
        f"SELECT *, '{name}' AS heuristic FROM {cte}"
        for name, cte in (
            ("deposit-address", "exchange_links"),
            ("deposit-reuse", "customer_links"),
            ("airdrop-participation", "airdrop_links"),
            ("self-authorization", "authorization_links"),
        )
        if name in names
    ]
    union = "\n    UNION ALL\n    ".join(parts)
    return f"""{_deposits_ctes(w)},{_exchange_ctes()},{_customer_ctes()},{_service_ctes()},
    {_airdrop_ctes(w)},{_authorization_ctes(w)}
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
    deposited AS (
        SELECT y.to_id AS d, dd.hot, y.from_id AS s, min(y.block_height) AS block_height
        FROM t y JOIN deposits dd ON dd.d = y.to_id
        WHERE y.from_id <> dd.hot
          AND y.from_id NOT IN (SELECT address_id FROM contract)
          AND y.from_id NOT IN (SELECT hot FROM hot)
          AND y.from_id NOT IN (SELECT d FROM deposits)
        GROUP BY y.to_id, dd.hot, y.from_id
    ), payers AS (
        SELECT s FROM deposited GROUP BY s, hot HAVING count(*) >= 2
    ), senders AS (
        SELECT d, s, block_height FROM deposited WHERE s NOT IN (SELECT s FROM payers)
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


def _service_ctes() -> str:
    """CTE `service`: contracts, hot wallets and deposit addresses (never a user's own)."""
    return """
    service AS (
        SELECT address_id FROM contract UNION SELECT hot FROM hot UNION SELECT d FROM deposits
    )"""


def _airdrop_ctes(w: Window) -> str:
    """CTE `airdrop_links`: gathering address -> each participant of one airdrop."""
    return f"""
    tok AS (
        SELECT tx_hash, block_height, asset, from_id, to_id, amount FROM transfers
        WHERE {w.rows()} AND success AND kind = 'token' AND from_id IS NOT NULL
          AND to_id IS NOT NULL AND from_id <> to_id
    ), drops AS (
        SELECT tx_hash, asset, min(from_id) AS distributor FROM tok GROUP BY tx_hash, asset
        HAVING min(from_id) = max(from_id) AND count(DISTINCT to_id) >= {AIRDROP_MIN_RECIPIENTS}
           AND count(amount) = count(*) AND min(amount) = max(amount)
    ), received AS (
        SELECT x.to_id AS r, x.asset, x.tx_hash AS drop_tx, min(x.block_height) AS h
        FROM tok x JOIN drops d ON d.tx_hash = x.tx_hash AND d.asset = x.asset
        WHERE x.to_id NOT IN (SELECT address_id FROM service)
        GROUP BY x.to_id, x.asset, x.tx_hash
    ), sent_on AS (
        SELECT r.r, r.asset, r.drop_tx, min(y.to_id) AS g FROM received r
        JOIN tok y ON y.from_id = r.r AND y.asset = r.asset AND y.block_height >= r.h
        GROUP BY r.r, r.asset, r.drop_tx HAVING min(y.to_id) = max(y.to_id)
    ), gathered AS (
        SELECT g, asset, drop_tx FROM sent_on GROUP BY g, asset, drop_tx HAVING count(*) >= 2
    ), outsiders AS (
        SELECT DISTINCT a.g, a.asset, a.drop_tx FROM gathered a
        JOIN tok z ON z.to_id = a.g AND z.asset = a.asset AND z.tx_hash <> a.drop_tx
        LEFT JOIN sent_on s
          ON s.g = a.g AND s.asset = a.asset AND s.drop_tx = a.drop_tx AND s.r = z.from_id
        WHERE s.r IS NULL
    ), gatherers AS (
        SELECT a.g, a.asset, a.drop_tx FROM gathered a
        LEFT JOIN outsiders o ON o.g = a.g AND o.asset = a.asset AND o.drop_tx = a.drop_tx
        WHERE o.g IS NULL
          AND a.g NOT IN (SELECT address_id FROM service)
          AND a.g NOT IN (SELECT distributor FROM drops)
    ), first_sends AS (
        SELECT s.g, s.r, min(y.block_height) AS block_height
        FROM sent_on s JOIN gatherers a
          ON a.g = s.g AND a.asset = s.asset AND a.drop_tx = s.drop_tx
        JOIN tok y ON y.from_id = s.r AND y.to_id = s.g AND y.asset = s.asset
        GROUP BY s.g, s.r
    ), airdrop_links AS (
        SELECT f.g AS address_id_a, f.r AS address_id_b, min(y.tx_hash) AS tx_hash,
               f.block_height
        FROM first_sends f JOIN tok y
          ON y.from_id = f.r AND y.to_id = f.g AND y.block_height = f.block_height
        GROUP BY f.g, f.r, f.block_height
    )"""


def _authorization_ctes(w: Window) -> str:
    """CTE `authorization_links`: holder -> the one address it authorized (and that used it)."""
    return f"""
    approvals AS (
        SELECT from_id AS holder, to_id AS token_id, min(block_height) AS h FROM eth_txs
        WHERE {w.rows()} AND success AND method_id = '{APPROVE}' AND to_id IS NOT NULL
        GROUP BY from_id, to_id
    ), spends AS (
        SELECT e.from_id AS spender, x.from_id AS holder, e.tx_hash, e.block_height
        FROM eth_txs e
        JOIN addresses k ON k.chain = '{w.chain}' AND k.address_id = e.to_id
        JOIN tok x ON x.tx_hash = e.tx_hash AND x.asset = k.address
        JOIN approvals p ON p.holder = x.from_id AND p.token_id = e.to_id
          AND p.h <= e.block_height
        WHERE {w.rows("block_height", "e")} AND e.success AND e.method_id = '{TRANSFER_FROM}'
          AND x.from_id <> e.from_id
    ), one_holder AS (
        SELECT spender, min(holder) AS holder FROM spends GROUP BY spender
        HAVING min(holder) = max(holder)
    ), one_spender AS (
        SELECT holder, min(spender) AS spender FROM spends GROUP BY holder
        HAVING min(spender) = max(spender)
    ), authorized AS (
        SELECT o.holder, o.spender FROM one_holder o
        JOIN one_spender p ON p.holder = o.holder AND p.spender = o.spender
        WHERE o.holder NOT IN (SELECT address_id FROM service)
          AND o.spender NOT IN (SELECT address_id FROM service)
    ), first_spend AS (
        SELECT a.holder, a.spender, min(s.block_height) AS block_height
        FROM authorized a JOIN spends s ON s.holder = a.holder AND s.spender = a.spender
        GROUP BY a.holder, a.spender
    ), authorization_links AS (
        SELECT f.holder AS address_id_a, f.spender AS address_id_b, min(s.tx_hash) AS tx_hash,
               f.block_height
        FROM first_spend f JOIN spends s
          ON s.holder = f.holder AND s.spender = f.spender AND s.block_height = f.block_height
        GROUP BY f.holder, f.spender, f.block_height
    )"""
