"""Deterministic synthetic chains with ground truth, for tests, demos and benchmarks.

`simulate_bitcoin(out_dir, SimConfig(txs=..., seed=...))` writes a UTXO economy as
bitcoin-etl enriched JSON plus `truth.json` (owners, CoinJoins, theft outcomes); the format
is documented in docs/simulator.md.
"""

from chainsleuth.sim.bitcoin import SimSummary, simulate_bitcoin
from chainsleuth.sim.config import SimConfig

__all__ = ["SimConfig", "SimSummary", "simulate_bitcoin"]
