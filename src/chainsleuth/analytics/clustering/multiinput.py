"""The multi-input (common-input-ownership) heuristic.

Meiklejohn et al. 2013, "A Fistful of Bitcoins: Characterizing Payments Among Men with No
Names" (IMC '13), Heuristic 1, after Nakamoto 2008 §10: the inputs of one transaction are
signed by one owner. CoinJoins (see `coinjoin`) violate that and are skipped.

Each qualifying transaction links its smallest input address to every other input address
(a star: n-1 links for n addresses, enough for the same connected component).
"""

from __future__ import annotations

from chainsleuth.analytics.clustering.window import Window


def multi_input_sql(w: Window, names: list[str]) -> str:
    """Links (address_id_a, address_id_b, tx_hash, block_height, heuristic) of the window."""
    del names  # one heuristic in this family
    return f"""
    WITH ins AS (
        SELECT i.tx_hash, i.block_height, i.address_id FROM inputs i
        WHERE {w.rows(alias="i")} AND i.address_id IS NOT NULL
          AND {w.not_flagged(w.coinjoins, "i.tx_hash")}
    ), roots AS (
        SELECT tx_hash, min(address_id) AS root FROM ins
        GROUP BY tx_hash HAVING min(address_id) < max(address_id)
    )
    SELECT DISTINCT r.root AS address_id_a, i.address_id AS address_id_b, i.tx_hash,
           i.block_height, 'multi-input' AS heuristic
    FROM ins i JOIN roots r ON r.tx_hash = i.tx_hash
    WHERE i.address_id <> r.root
    """
