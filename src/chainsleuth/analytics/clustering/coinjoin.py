"""CoinJoin detection: transactions whose inputs belong to several owners.

A CoinJoin breaks the multi-input heuristic: one undetected mix merges every participant
into one entity. Detection is on each transaction's shape alone (portable SQL, one pass):

- Whirlpool mix (Samourai, 2019): 5 to 8 inputs and as many outputs, all of one pool
  denomination (0.001, 0.01, 0.05, 0.5 BTC).
- Whirlpool tx0: one user's inputs split into premix outputs (pool denomination plus the
  mix's miner fee) with an OP_RETURN and a coordinator fee. One owner, so not a CoinJoin,
  but its outputs are not change (recorded in `premix_txs`).
- Wasabi 2.0 (WabiSabi, Ficsór et al. 2021): 50+ inputs, outputs in many standard
  denominations, several of each.
- Wasabi 1.0/1.1 (ZeroLink, Ficsór 2017): 10+ equal outputs near 0.1 BTC from 5+ input
  addresses (1.1 adds mixing levels at doubled values, so a participant may take several
  equal outputs), a coordinator fee output.
- JoinMarket (Belcher 2015; Möser & Narayanan 2022 §5): 3+ equal outputs, at least as many
  input addresses as equal outputs, at most one change output per participant.
- Any other transaction with 2+ equal outputs and at least as many distinct input
  addresses as equal outputs, or 10+ equal outputs from 5+ input addresses (one
  participant may take several), as `equal-outputs`, the generic rule of Möser & Narayanan:
  a false alarm only costs recall, a miss can merge hundreds of owners.
"""

from __future__ import annotations

from chainsleuth.analytics.clustering.window import Window

WHIRLPOOL_POOLS_SAT = (100_000, 1_000_000, 5_000_000, 50_000_000)
TX0 = "whirlpool-tx0"
KINDS = ("whirlpool-mix", "wasabi2", "wasabi1", "joinmarket", "equal-outputs", TX0)


def _premix_value(column: str) -> str:
    """A predicate: `column` is a pool denomination plus at most 1% (the mix's miner fee)."""
    return " OR ".join(
        f"({column} > {d} AND {column} <= {d + d // 100})" for d in WHIRLPOOL_POOLS_SAT
    )


def detection_sql(w: Window) -> str:
    """Rows (block_height, tx_hash, kind) for every CoinJoin or tx0 of the window."""
    pools = ", ".join(str(p) for p in WHIRLPOOL_POOLS_SAT)
    return f"""
    WITH ins AS (
        SELECT tx_hash, min(block_height) AS block_height, count(*) AS n_in,
               count(DISTINCT address_id) AS n_in_addr
        FROM inputs WHERE {w.rows()} AND prev_tx_hash IS NOT NULL
        GROUP BY tx_hash
    ), vals AS (
        SELECT tx_hash, value, count(*) AS k
        FROM outputs WHERE {w.rows()} AND script_type <> 'nulldata'
        GROUP BY tx_hash, value
    ), outs AS (
        SELECT tx_hash, sum(k) AS n_out, max(k) AS max_eq,
               sum(CASE WHEN k >= 2 THEN 1 ELSE 0 END) AS eq_groups
        FROM vals GROUP BY tx_hash
    ), top AS (
        SELECT v.tx_hash, max(v.value) AS eq_value
        FROM vals v JOIN outs o ON o.tx_hash = v.tx_hash AND v.k = o.max_eq
        GROUP BY v.tx_hash
    ), nulls AS (
        SELECT DISTINCT tx_hash FROM outputs WHERE {w.rows()} AND script_type = 'nulldata'
    ), shaped AS (
        SELECT i.block_height, i.tx_hash,
          CASE
            WHEN i.n_in = o.n_out AND o.n_out BETWEEN 5 AND 8 AND o.max_eq = o.n_out
                 AND t.eq_value IN ({pools}) THEN 'whirlpool-mix'
            WHEN i.n_in >= 50 AND o.eq_groups >= 5 THEN 'wasabi2'
            WHEN o.max_eq >= 10 AND i.n_in_addr >= 5
                 AND t.eq_value BETWEEN 5000000 AND 20000000 THEN 'wasabi1'
            WHEN o.max_eq >= 2 AND n.tx_hash IS NOT NULL
                 AND ({_premix_value("t.eq_value")}) THEN '{TX0}'
            WHEN o.max_eq >= 3 AND i.n_in_addr >= o.max_eq
                 AND o.n_out <= 2 * o.max_eq THEN 'joinmarket'
            WHEN o.max_eq >= 2 AND i.n_in_addr >= o.max_eq THEN 'equal-outputs'
            WHEN o.max_eq >= 10 AND i.n_in_addr >= 5 THEN 'equal-outputs'
          END AS kind
        FROM ins i JOIN outs o ON o.tx_hash = i.tx_hash JOIN top t ON t.tx_hash = i.tx_hash
        LEFT JOIN nulls n ON n.tx_hash = i.tx_hash
    )
    SELECT block_height, tx_hash, kind FROM shaped WHERE kind IS NOT NULL
    """
