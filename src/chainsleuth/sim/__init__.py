"""Deterministic synthetic chains with ground truth, for tests, demos and benchmarks.

`simulate_bitcoin(out_dir, SimConfig(txs=..., seed=...))` writes a UTXO economy as
bitcoin-etl enriched JSON plus `truth.json` (owners, CoinJoins, theft outcomes);
`sim.ethereum.simulate_ethereum` an account chain as ethereum-etl CSVs; and
`sim.crosschain.simulate_crosschain` both, joined by a bridge, with the bybit-like theft
across them. The formats are documented in docs/simulator.md.
"""

from chainsleuth.sim.bitcoin import SimSummary, simulate_bitcoin
from chainsleuth.sim.config import SimConfig

__all__ = ["SimConfig", "SimSummary", "simulate_bitcoin"]
