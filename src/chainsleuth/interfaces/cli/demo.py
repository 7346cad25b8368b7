"""`chainsleuth demo [--out DIR]`: simulate a small chain, ingest it, look into it.

The walkthrough is a list of steps sharing one `Demo` state; later features add steps
(clustering, tracing …) to `STEPS`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import typer

from chainsleuth.ingest.common import IngestOptions
from chainsleuth.interfaces.cli.context import output, settings
from chainsleuth.interfaces.output import progress, stderr
from chainsleuth.sim import SimConfig, simulate_bitcoin
from chainsleuth.store.db import connect

DEMO_TXS = 10_000
DEMO_SEED = 2024


@dataclass
class Demo:
    """What the steps share."""

    ctx: typer.Context
    out: Path
    db: Path
    quiet: bool
    truth: dict[str, Any] = field(default_factory=dict)
    _con: duckdb.DuckDBPyConnection | None = None

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        """The demo store (opened on first use)."""
        if self._con is None:
            self._con = connect(self.db)
        return self._con

    @property
    def theft(self) -> dict[str, Any]:
        """The simulated exchange theft of the ground truth."""
        return dict(self.truth["thefts"][0])


def simulate(d: Demo) -> None:
    """Write a small simulated chain with its ground truth."""
    with progress(d.quiet) as bar:
        summary = simulate_bitcoin(d.out / "chain", SimConfig(txs=DEMO_TXS, seed=DEMO_SEED), bar)
    d.truth = json.loads((d.out / "chain" / "truth.json").read_text(encoding="utf-8"))
    output(d.ctx, asdict(summary), title="1. simulated a Bitcoin economy")


def ingest(d: Demo) -> None:
    """Ingest its bitcoin-etl export into the store."""
    from chainsleuth.ingest.bitcoin_etl import ingest_etl

    with progress(d.quiet) as bar:
        summary = ingest_etl(d.con, str(d.out / "chain"), IngestOptions(progress=bar))
    output(d.ctx, asdict(summary), title="2. ingested the bitcoin-etl export")


def status(d: Demo) -> None:
    """What the store holds."""
    from chainsleuth.store.queries import store_status

    output(d.ctx, store_status(d.con), title=f"3. chainsleuth status ({d.db})")


def address(d: Demo) -> None:
    """The address that received the stolen coins."""
    from chainsleuth.store.queries import utxo_address_view

    addr = d.theft["seed"]["addresses"][0]
    output(
        d.ctx,
        utxo_address_view(d.con, "bitcoin", addr),
        title=f"4. chainsleuth address bitcoin {addr}",
    )


def transaction(d: Demo) -> None:
    """The theft transaction."""
    from chainsleuth.store.queries import utxo_tx_view

    txid = d.theft["seed"]["txid"]
    output(d.ctx, utxo_tx_view(d.con, "bitcoin", txid), title=f"5. chainsleuth tx bitcoin {txid}")


STEPS: list[Callable[[Demo], None]] = [simulate, ingest, status, address, transaction]


def register(app: typer.Typer) -> None:
    """Add `demo`."""

    @app.command("demo")
    def demo(
        ctx: typer.Context,
        out: Path = typer.Option(Path("demo-out"), "--out", help="Directory for the demo's files."),
    ) -> None:
        """Simulate a chain with an exchange theft, ingest it, and show what the store holds."""
        s = settings(ctx)
        given_db = ctx.find_root().params.get("db")
        db = Path(given_db) if given_db else out / "demo.duckdb"
        out.mkdir(parents=True, exist_ok=True)
        state = Demo(ctx=ctx, out=out, db=db, quiet=s.quiet)
        for step in STEPS:
            if not s.quiet:
                stderr.print(f"[bold]{(step.__doc__ or step.__name__).strip()}[/bold]")
            step(state)
