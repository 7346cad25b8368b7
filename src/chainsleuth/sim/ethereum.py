"""Simulate an Ethereum account chain: ethereum-etl CSV exports plus their ground truth.

    simulate_ethereum(Path("out"), EthSimConfig(rounds=40, seed=7))

writes `blocks.csv`, `transactions.csv`, `receipts.csv`, `logs.csv`, `traces.csv`,
`contracts.csv`, `tokens.csv` (ethereum-etl's columns, CRLF, quoted lists) and
`truth.json`, which `chainsleuth ingest ethereum --from etl out` reads. Same seed and
config, byte-identical files.

Modules: `eth_config` (sizes, fixed prices), `eth_chain` (the block builder: balances and
export rows), `eth_economy` (the actors and their ordinary moves: exchanges with deposit
addresses, a DEX pool, a bridge to Bitcoin, a Tornado-like mixer), `eth_theft` (the
'bybit-like' theft and the record of where every stolen wei went).

Truth format: as the Bitcoin simulator's `truth.json` (`format`, `chain`, `seed`, `txs`,
`blocks`, `first_height`, `last_height`, `entities`, `thefts`, `addresses` mapping each
address to its entity id), plus `tokens`, `bridge_releases` and `balances` (every
address's final balance per asset, in base units, counting transfers and fees paid; the
fee recipient's income is not a transfer).
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

from chainsleuth.sim.eth_chain import COLUMNS
from chainsleuth.sim.eth_config import EthSimConfig
from chainsleuth.sim.eth_economy import EthEconomy
from chainsleuth.sim.eth_theft import bybit_theft, theft_json
from chainsleuth.sim.truth import FORMAT

__all__ = ["EthSimConfig", "EthSimSummary", "simulate_ethereum"]


@dataclass
class EthSimSummary:
    """What a simulation wrote."""

    out_dir: str
    seed: int
    txs: int
    blocks: int
    addresses: int
    stolen: int | None


def simulate_ethereum(out_dir: Path, cfg: EthSimConfig) -> EthSimSummary:
    """Run the economy of `cfg`; write the ethereum-etl CSVs and truth.json to `out_dir`."""
    cfg.validate()
    econ = EthEconomy(cfg)
    c = econ.c
    econ.genesis()
    c.seal()
    thefts = []
    for r in range(cfg.rounds):
        econ.round()
        if cfg.theft and r == cfg.rounds // 2:
            thefts.append(theft_json(econ, bybit_theft(econ)))
    if c.block:
        c.seal()
    c.write(out_dir)
    with (out_dir / "tokens.csv").open("w", newline="", encoding="ascii") as fh:
        w = csv.writer(fh, lineterminator="\r\n")
        w.writerow(COLUMNS["tokens"].split(","))
        for token, (symbol, decimals) in sorted(econ.tokens.items()):
            w.writerow([token, symbol, symbol, decimals, "", ""])
    balances: dict[str, dict[str, int]] = {}
    for (address, asset), amount in sorted(c.balance.items()):
        if address != econ.issuer:
            balances.setdefault(address, {})[asset] = amount
    truth = {
        "format": FORMAT,
        "chain": "ethereum",
        "seed": cfg.seed,
        "txs": c.tx_count,
        "blocks": c.height,
        "first_height": 0,
        "last_height": c.height - 1,
        "entities": c.entities,
        "tokens": {t: {"symbol": s, "decimals": d} for t, (s, d) in sorted(econ.tokens.items())},
        "thefts": thefts,
        "bridge_releases": econ.releases,
        "balances": balances,
        "addresses": dict(sorted(c.owner.items())),
    }
    (out_dir / "truth.json").write_text(json.dumps(truth, indent=1) + "\n", encoding="utf-8")
    return EthSimSummary(
        str(out_dir),
        cfg.seed,
        c.tx_count,
        c.height,
        len(c.owner),
        thefts[0]["stolen"] if thefts else None,
    )
