"""Change-address heuristics: which output of a payment returns to the payer.

Each links the payer (the smallest input address) to the one output it reads as change,
only in non-CoinJoin, non-coinbase, non-tx0 transactions with exactly two outputs, where no
output pays an input address back (then the change is already known) and exactly one
output qualifies. Each alone is noisy (Möser & Narayanan 2022, "Resurrecting Address
Clustering in Bitcoin", FC '22, §4), so each is measured separately against ground truth
(`bench/RESULTS.md`) and joins the default set only if precision stays at least 0.99.

Every predicate looks only at the transaction and the chain before it, so an incremental
run makes the same links as a full one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from chainsleuth.analytics.clustering.window import Window

ROUND_SAT = 100_000
"""A payment is "round" when it is a multiple of 0.001 BTC."""


@dataclass(frozen=True)
class ChangeRule:
    """One change heuristic: the SQL predicate (over a candidate output) saying "change"."""

    name: str
    predicate: str
    needs_first_seen: bool = False


FRESH = ChangeRule(
    "change-fresh",
    # Meiklejohn et al. 2013, Heuristic 2 (one-time change address); Androulaki et al.
    # 2013, "Evaluating User Privacy in Bitcoin" (FC '13), shadow addresses: the change
    # address appears on chain for the first time in this transaction.
    "c.first_h = c.block_height AND c.n_first = 1",
    needs_first_seen=True,
)
SCRIPT_TYPE = ChangeRule(
    "change-type",
    # Möser & Narayanan 2022 §4.2 (address-type match); Ermilov et al. 2017, "Automatic
    # Bitcoin Address Clustering" (ICMLA): wallets send change to their own script type.
    "c.in_types = 1 AND c.script_type = c.in_type",
)
ROUND_PAYMENT = ChangeRule(
    "change-round",
    # Androulaki et al. 2013 §4 and Möser & Narayanan 2022 §4.2 (round-number payment):
    # the payment is a round amount, so the change is the non-round output.
    f"c.value % {ROUND_SAT} <> 0",
)
OPTIMAL = ChangeRule(
    "change-optimal",
    # Nick 2015, "Data-Driven De-Anonymization in Bitcoin" (ETH Zürich), optimal change;
    # Möser & Narayanan 2022 §4.2 (unnecessary input): a wallet that selects inputs
    # sensibly returns change smaller than every input it spent.
    "c.value < c.min_in",
)
RULES = (FRESH, SCRIPT_TYPE, ROUND_PAYMENT, OPTIMAL)


def _first_seen_ctes(w: Window) -> str:
    """CTEs giving, per output address of the window, its first height and txs there."""
    return f""",
    first_seen AS (
        SELECT p.address_id, min(p.block_height) AS first_h FROM outputs p
        WHERE {w.chain_rows("p")} AND p.address_id IN (SELECT address_id FROM outs)
        GROUP BY p.address_id
    ), first_txs AS (
        SELECT p.address_id, min(f.first_h) AS first_h, count(DISTINCT p.tx_hash) AS n_first
        FROM outputs p JOIN first_seen f
          ON f.address_id = p.address_id AND p.block_height = f.first_h
        WHERE {w.chain_rows("p")}
        GROUP BY p.address_id
    )"""


def change_sql(rule: ChangeRule, w: Window) -> str:
    """Links (address_id_a, address_id_b, tx_hash, block_height) that `rule` makes."""
    first = _first_seen_ctes(w) if rule.needs_first_seen else ""
    first_cols = ", ft.first_h, ft.n_first" if rule.needs_first_seen else ""
    first_join = (
        " LEFT JOIN first_txs ft ON ft.address_id = o.address_id" if rule.needs_first_seen else ""
    )
    return f"""
    WITH tx AS (
        SELECT t.tx_hash FROM txs t
        WHERE {w.rows(alias="t")} AND NOT t.is_coinbase AND t.output_count = 2
          AND {w.not_flagged(w.coinjoins, "t.tx_hash")}
          AND {w.not_flagged(w.premixes, "t.tx_hash")}
    ), spent AS (
        SELECT s.spent_by AS tx_hash, min(s.address_id) AS root, min(s.value) AS min_in,
               count(DISTINCT s.script_type) AS in_types, min(s.script_type) AS in_type
        FROM outputs s WHERE {w.rows("spent_height", "s")}
        GROUP BY s.spent_by HAVING count(s.address_id) = count(*)
    ), spent_pairs AS (
        SELECT DISTINCT s.spent_by AS tx_hash, s.address_id FROM outputs s
        WHERE {w.rows("spent_height", "s")} AND s.address_id IS NOT NULL
    ), outs AS (
        SELECT o.tx_hash, o.block_height, o.address_id, o.value, o.script_type
        FROM outputs o JOIN tx ON tx.tx_hash = o.tx_hash
        WHERE {w.rows(alias="o")}
    ){first}, cand AS (
        SELECT o.*, s.root, s.min_in, s.in_types, s.in_type{first_cols},
               CASE WHEN sp.address_id IS NULL THEN 0 ELSE 1 END AS reused
        FROM outs o JOIN spent s ON s.tx_hash = o.tx_hash
        LEFT JOIN spent_pairs sp ON sp.tx_hash = o.tx_hash AND sp.address_id = o.address_id
        {first_join}
    ), flagged AS (
        SELECT c.*, CASE WHEN {rule.predicate} THEN 1 ELSE 0 END AS is_change FROM cand c
    ), picked AS (
        SELECT tx_hash FROM flagged GROUP BY tx_hash
        HAVING count(address_id) = 2 AND count(DISTINCT address_id) = 2
           AND sum(reused) = 0 AND sum(is_change) = 1
    )
    SELECT f.root AS address_id_a, f.address_id AS address_id_b, f.tx_hash, f.block_height
    FROM flagged f JOIN picked p ON p.tx_hash = f.tx_hash
    WHERE f.is_change = 1
    """


def change_heuristic(rule: ChangeRule) -> Callable[[Window], str]:
    """The SQL builder of one change rule."""
    return lambda w: change_sql(rule, w)
