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
fee recipient's income is not a transfer). Alone, the chain's bridge is an endpoint of the
theft; `sim.crosschain` runs the same economy with its Bitcoin side (`run_ethereum`,
`write_ethereum`).
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chainsleuth.sim.eth_chain import COLUMNS
from chainsleuth.sim.eth_config import START_TIME, EthSimConfig
from chainsleuth.sim.eth_economy import BtcAddress, EthEconomy
from chainsleuth.sim.eth_theft import EthTheft, bybit_theft, theft_json
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
    run = run_ethereum(cfg)
    write_ethereum(out_dir, run.econ)
    c = run.econ.c
    thefts = [theft_json(run.econ, t) for t in run.thefts]
    truth = {
        "format": FORMAT,
        "chain": "ethereum",
        **chain_header(run.econ),
        "entities": c.entities,
        "tokens": tokens_json(run.econ),
        "thefts": thefts,
        "bridge_releases": run.econ.releases,
        "balances": balances_json(run.econ),
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


@dataclass
class EthRun:
    """A simulated Ethereum economy, not yet written, and its theft (if any)."""

    econ: EthEconomy
    thefts: list[EthTheft]


def run_ethereum(
    cfg: EthSimConfig, btc_address: BtcAddress | None = None, first_entity: int = 0
) -> EthRun:
    """Run the economy of `cfg` (the theft half-way); bridge deposits name the Bitcoin
    addresses `btc_address` gives; entity ids start at `first_entity`."""
    cfg.validate()
    econ = EthEconomy(cfg, btc_address, first_entity)
    c = econ.c
    econ.genesis()
    c.seal()
    thefts = []
    for r in range(cfg.rounds):
        econ.round()
        if cfg.theft and r == cfg.rounds // 2:
            thefts.append(bybit_theft(econ))
    econ.bridge_in(cfg.bridged_in)
    if c.block:
        c.seal()
    return EthRun(econ, thefts)


def write_ethereum(out_dir: Path, econ: EthEconomy, start_time: int = START_TIME) -> None:
    """The ethereum-etl CSVs of `econ`'s chain, block 0 at `start_time`."""
    econ.c.write(out_dir, start_time)
    with (out_dir / "tokens.csv").open("w", newline="", encoding="ascii") as fh:
        w = csv.writer(fh, lineterminator="\r\n")
        w.writerow(COLUMNS["tokens"].split(","))
        for token, (symbol, decimals) in sorted(econ.tokens.items()):
            w.writerow([token, symbol, symbol, decimals, "", ""])


def chain_header(econ: EthEconomy) -> dict[str, int]:
    """The chain's seed and sizes as truth.json states them."""
    c = econ.c
    return {
        "seed": c.cfg.seed,
        "txs": c.tx_count,
        "blocks": c.height,
        "first_height": 0,
        "last_height": c.height - 1,
    }


def tokens_json(econ: EthEconomy) -> dict[str, dict[str, Any]]:
    """Token contract -> symbol and decimals."""
    return {t: {"symbol": s, "decimals": d} for t, (s, d) in sorted(econ.tokens.items())}


def balances_json(econ: EthEconomy) -> dict[str, dict[str, int]]:
    """Every address's final balance per asset (the genesis issuer left out)."""
    balances: dict[str, dict[str, int]] = {}
    for (address, asset), amount in sorted(econ.c.balance.items()):
        if address != econ.issuer:
            balances.setdefault(address, {})[asset] = amount
    return balances
