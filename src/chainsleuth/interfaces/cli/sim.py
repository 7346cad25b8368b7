"""`chainsleuth sim bitcoin|crosschain --out DIR [--txs N] [--seed S]`: simulated chains."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import typer

from chainsleuth.interfaces.cli.context import output, settings
from chainsleuth.interfaces.output import progress
from chainsleuth.sim import SimConfig, simulate_bitcoin


def register(app: typer.Typer) -> None:
    """Add the `sim` group."""
    group = typer.Typer(help="Simulate chains with ground truth (for tests, demos, benchmarks).")
    app.add_typer(group, name="sim")

    @group.command("bitcoin")
    def bitcoin(
        ctx: typer.Context,
        out: Path = typer.Option(..., "--out", help="Directory for the JSON files."),
        txs: int = typer.Option(20_000, "--txs", help="Transactions, coinbases included."),
        seed: int = typer.Option(1, "--seed", help="Same seed, same files."),
    ) -> None:
        """A Bitcoin economy as bitcoin-etl enriched JSON plus truth.json (docs/simulator.md)."""
        with progress(settings(ctx).quiet) as bar:
            summary = simulate_bitcoin(out, SimConfig(txs=txs, seed=seed), bar)
        output(ctx, asdict(summary), title="simulated bitcoin")

    @group.command("crosschain")
    def crosschain(
        ctx: typer.Context,
        out: Path = typer.Option(..., "--out", help="Directory for both chains and truth.json."),
        txs: int = typer.Option(20_000, "--txs", help="Bitcoin transactions, coinbases included."),
        rounds: int = typer.Option(40, "--eth-rounds", help="Rounds of the Ethereum economy."),
        seed: int = typer.Option(1, "--seed", help="Same seed, same files."),
        bridged_in: int = typer.Option(
            0, "--btc-to-eth", help="Bridge crossings from Bitcoin to Ethereum (none: default)."
        ),
    ) -> None:
        """Ethereum and Bitcoin joined by a bridge, with the bybit-like theft across them
        and the dmm-like one on Bitcoin (docs/simulator.md)."""
        from chainsleuth.sim.crosschain import simulate_crosschain
        from chainsleuth.sim.eth_config import EthSimConfig

        with progress(settings(ctx).quiet) as bar:
            summary = simulate_crosschain(
                out,
                SimConfig(txs=txs, seed=seed),
                EthSimConfig(rounds=rounds, seed=seed, bridged_in=bridged_in),
                bar,
            )
        output(ctx, asdict(summary), title="simulated ethereum + bitcoin")
