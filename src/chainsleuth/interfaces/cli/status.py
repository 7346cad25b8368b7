"""`chainsleuth status`: what the store holds, per chain."""

from __future__ import annotations

import typer

from chainsleuth.interfaces.cli.context import FORMAT_OPTION, output, settings, store
from chainsleuth.interfaces.output import Format
from chainsleuth.store.queries import store_status


def register(app: typer.Typer) -> None:
    """Add `status` to the root command."""

    @app.command()
    def status(ctx: typer.Context, fmt: Format = FORMAT_OPTION) -> None:
        """Per chain: block range and counts of blocks, transactions and addresses."""
        chains = store_status(store(ctx))
        chosen = fmt or settings(ctx).fmt
        if chosen is Format.json:
            output(ctx, {"store": str(settings(ctx).db), "chains": chains}, chosen)
        else:
            output(ctx, chains, chosen, title="store")
