"""`chainsleuth sim bitcoin --out DIR [--txs N] [--seed S]`: write a simulated chain."""

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
