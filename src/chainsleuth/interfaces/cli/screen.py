"""`chainsleuth screen` (the CLI twin of the risk API) and `chainsleuth exposures`."""

from __future__ import annotations

from typing import Any

import typer

from chainsleuth.analytics.scoring.exposure import compute_exposures
from chainsleuth.interfaces.cli.context import FORMAT_OPTION, output, settings, store
from chainsleuth.interfaces.output import Format, progress
from chainsleuth.services.screening.engine import Screener
from chainsleuth.services.screening.policy import load_policy

POLICY_OPTION: Any = typer.Option(
    None, "--policy", envvar="CHAINSLEUTH_POLICY", help="Risk policy YAML (default: built in)."
)


FEW = 100
"""Up to this many addresses, `screen` asks the store about each instead of loading the
fingerprints of every stored address first (about the same time at 100)."""


def register(app: typer.Typer) -> None:
    """Add `screen` and `exposures`."""

    @app.command("screen")
    def screen_cmd(
        ctx: typer.Context,
        addresses: list[str] = typer.Argument(..., help="Addresses to screen."),
        chain: str = typer.Option("bitcoin", "--chain", help="bitcoin or ethereum."),
        policy: str = POLICY_OPTION,
        explain: bool = typer.Option(False, "--explain", help="Add the paths to risky sources."),
        fmt: Format = FORMAT_OPTION,
    ) -> None:
        """Risk score, level, direct tags and indirect exposure of addresses (as the API)."""
        many = len(addresses) > FEW
        screener = Screener(store(ctx), load_policy(policy), background=False, fingerprints=many)
        results = [screener.screen_address(chain, a, explain=explain) for a in addresses]
        chosen = fmt or settings(ctx).fmt
        if chosen is Format.json:
            output(ctx, results if len(results) > 1 else results[0], chosen)
            return
        rows = [
            {
                "address": r["address"],
                "score": r["score"],
                "level": r["level"],
                "known": r["known"],
                "direct": "; ".join(
                    f"{d['label']} ({d['concept']}, {d['confidence']})" for d in r["direct"]
                ),
                "indirect": "; ".join(
                    f"{i['concept']} hop {i['hop']}: {100 * i['share']:.1f}%" for i in r["indirect"]
                ),
            }
            for r in results
        ]
        output(ctx, rows, chosen, title=f"screening ({screener.policy.version})")

    @app.command("exposures")
    def exposures_cmd(
        ctx: typer.Context,
        chain: str = typer.Option("bitcoin", "--chain"),
        hops: int = typer.Option(3, "--hops", min=1, max=10, help="Hops of indirect exposure."),
    ) -> None:
        """Recompute every address's exposure to risky entities (after ingest, cluster, tags)."""
        with progress(settings(ctx).quiet) as bar:
            task = bar.add_task(f"exposures on {chain}", total=None)
            run = compute_exposures(store(ctx), chain, hops)
            bar.update(task, total=1, completed=1)
        output(
            ctx,
            {
                "chain": run.chain,
                "hops": run.hops,
                "coins": run.coins,
                "risky_addresses": run.risky_addresses,
                "exposed_addresses": run.exposed_addresses,
            },
        )
