"""Change-address heuristics: which output of a payment returns to the payer.

Each links the payer (the smallest input address) to the one output it reads as change,
only in non-CoinJoin, non-coinbase, non-tx0 transactions with exactly two outputs, where no
output pays an input address back (then the change is already known) and exactly one
output qualifies. Each alone is noisy (Möser & Narayanan 2022, "Resurrecting Address
Clustering in Bitcoin", FC '22, §4), so each is measured separately against ground truth
(`bench/RESULTS.md`) and joins the default set only if precision stays at least 0.99.

Every predicate but the fingerprint one looks only at the transaction and the chain before
it, so an incremental run makes the same links as a full one; `change-fingerprint` looks at
how the outputs are spent later, so runs that use it recompute in full.
"""

from __future__ import annotations

from dataclasses import dataclass

from chainsleuth.analytics.clustering.window import Window

ROUND_SAT = 100_000
"""A payment is "round" when it is a multiple of 0.001 BTC."""

_SPENDER_COLUMNS = """CASE WHEN sf.version = tf.version AND sf.lt = tf.lt AND sf.rbf = tf.rbf
                    THEN 1 ELSE 0 END AS fp_match,
               sum(CASE WHEN o.spent_by IS NULL THEN 0 ELSE 1 END)
                   OVER (PARTITION BY o.tx_hash) AS n_spent"""
_SPENDER_JOINS = """LEFT JOIN fp tf ON tf.tx_hash = o.tx_hash
        LEFT JOIN fp sf ON sf.tx_hash = o.spent_by"""


@dataclass(frozen=True)
class ChangeRule:
    """One change heuristic: the SQL predicate (over a candidate output) saying "change"."""

    name: str
    predicate: str
    needs_first_seen: bool = False
    needs_input_types: bool = False
    needs_spenders: bool = False


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
    needs_input_types=True,
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
FINGERPRINT = ChangeRule(
    "change-fingerprint",
    # Möser & Narayanan 2022 §4.2 (wallet fingerprints: version, locktime, RBF), after
    # Kappos et al. 2022, "How to Peel a Million" (USENIX Security): the change is spent
    # later by the same wallet software, so by a transaction with this one's fingerprint,
    # while the payment's spender has another. Both outputs must be spent.
    "c.n_spent = 2 AND c.fp_match = 1",
    needs_spenders=True,
)
RULES = (FRESH, SCRIPT_TYPE, ROUND_PAYMENT, OPTIMAL, FINGERPRINT)


def _first_seen_ctes(w: Window) -> str:
    """CTEs giving, per output address of the window, its first height and whether one
    transaction (1) or more (2) paid it there."""
    return f""",
    first_seen AS (
        SELECT p.address_id, min(p.block_height) AS first_h FROM outputs p
        WHERE {w.chain_rows("p")} AND p.address_id IN (SELECT address_id FROM outs)
        GROUP BY p.address_id
    ), first_txs AS (
        SELECT p.address_id, min(f.first_h) AS first_h,
               CASE WHEN min(p.tx_hash) = max(p.tx_hash) THEN 1 ELSE 2 END AS n_first
        FROM outputs p JOIN first_seen f
          ON f.address_id = p.address_id AND p.block_height = f.first_h
        WHERE {w.chain_rows("p")}
        GROUP BY p.address_id
    )"""


def _input_types_cte(w: Window) -> str:
    """CTE `input_types`: whether a transaction spends one script type (1) or more (2), and
    one of them."""
    return f""", input_types AS (
        SELECT s.spent_by AS tx_hash,
               CASE WHEN min(s.script_type) = max(s.script_type) THEN 1 ELSE 2 END AS in_types,
               min(s.script_type) AS in_type
        FROM outputs s WHERE {w.rows("spent_height", "s")} GROUP BY s.spent_by
    )"""


def _fingerprint_cte(w: Window) -> str:
    """CTE `fp`: each transaction's wallet fingerprint (version, locktime set, RBF signalled)."""
    return f""", fp AS (
        SELECT t.tx_hash, t.version, CASE WHEN t.locktime > 0 THEN 1 ELSE 0 END AS lt,
               max(CASE WHEN i.sequence < 4294967294 THEN 1 ELSE 0 END) AS rbf
        FROM txs t JOIN inputs i ON i.tx_hash = t.tx_hash
        WHERE {w.chain_rows("t")} AND {w.chain_rows("i")} AND NOT t.is_coinbase
        GROUP BY t.tx_hash, t.version, t.locktime
    )"""


def change_sql(w: Window, names: list[str]) -> str:
    """Links (address_id_a, address_id_b, tx_hash, block_height, heuristic) of the rules
    named in `names`, all from one pass over the candidate transactions."""
    rules = [r for r in RULES if r.name in names]
    first = any(r.needs_first_seen for r in rules)
    types = any(r.needs_input_types for r in rules)
    spenders = any(r.needs_spenders for r in rules)
    flags = ", ".join(
        f"CASE WHEN {r.predicate} THEN 1 ELSE 0 END AS f{k}" for k, r in enumerate(rules)
    )
    counts = ", ".join(f"sum(f{k}) AS n{k}" for k in range(len(rules)))
    picks = "\n    UNION ALL\n".join(
        f"    SELECT root AS address_id_a, address_id AS address_id_b, tx_hash, block_height,"
        f" '{r.name}' AS heuristic FROM joined WHERE n{k} = 1 AND f{k} = 1"
        for k, r in enumerate(rules)
    )
    return f"""
    WITH tx AS (
        SELECT t.tx_hash FROM txs t
        WHERE {w.rows(alias="t")} AND NOT t.is_coinbase AND t.output_count = 2
          AND {w.not_flagged(w.coinjoins, "t.tx_hash")}
          AND {w.not_flagged(w.premixes, "t.tx_hash")}
    ), spent AS (
        SELECT i.tx_hash, min(i.address_id) AS root, min(i.value) AS min_in
        FROM inputs i WHERE {w.rows(alias="i")} AND i.prev_tx_hash IS NOT NULL
        GROUP BY i.tx_hash HAVING count(i.address_id) = count(*)
    ), spent_pairs AS (
        SELECT DISTINCT i.tx_hash, i.address_id FROM inputs i
        WHERE {w.rows(alias="i")} AND i.address_id IS NOT NULL
    ){_input_types_cte(w) if types else ""}, outs AS (
        SELECT o.tx_hash, o.block_height, o.address_id, o.value, o.script_type, o.spent_by
        FROM outputs o JOIN tx ON tx.tx_hash = o.tx_hash
        WHERE {w.rows(alias="o")}
    ){_first_seen_ctes(w) if first else ""}{_fingerprint_cte(w) if spenders else ""}, cand AS (
        SELECT o.*, s.root, s.min_in,
               {"it.in_types, it.in_type" if types else "NULL AS in_types, NULL AS in_type"},
               {"ft.first_h, ft.n_first" if first else "NULL AS first_h, NULL AS n_first"},
               {_SPENDER_COLUMNS if spenders else "NULL AS fp_match, NULL AS n_spent"},
               CASE WHEN sp.address_id IS NULL THEN 0 ELSE 1 END AS reused
        FROM outs o JOIN spent s ON s.tx_hash = o.tx_hash
        LEFT JOIN spent_pairs sp ON sp.tx_hash = o.tx_hash AND sp.address_id = o.address_id
        {"LEFT JOIN first_txs ft ON ft.address_id = o.address_id" if first else ""}
        {"LEFT JOIN input_types it ON it.tx_hash = o.tx_hash" if types else ""}
        {_SPENDER_JOINS if spenders else ""}
    ), flagged AS (
        SELECT c.*, {flags} FROM cand c
    ), per_tx AS (
        SELECT tx_hash, {counts} FROM flagged GROUP BY tx_hash
        HAVING count(address_id) = 2 AND min(address_id) < max(address_id) AND sum(reused) = 0
    ), joined AS (
        SELECT f.*, {", ".join(f"p.n{k}" for k in range(len(rules)))}
        FROM flagged f JOIN per_tx p ON p.tx_hash = f.tx_hash
    )
{picks}
    """
