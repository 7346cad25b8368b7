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


def cluster(d: Demo) -> None:
    """Cluster addresses into entities with the default heuristics."""
    from chainsleuth.analytics.clustering import engine, heuristics

    summary = engine.run(d.con, "bitcoin", heuristics.defaults("bitcoin"))
    output(d.ctx, asdict(summary), title="6. chainsleuth cluster")


def tags(d: Demo) -> None:
    """Import tags: the simulated services and the attacker, as a GraphSense TagPack."""
    from chainsleuth.analytics.attribution.importer import import_file
    from chainsleuth.sim.tagpack import write_tagpack

    pack = d.out / "chain" / "tags.yaml"
    write_tagpack(d.out / "chain" / "truth.json", pack)
    results = import_file(d.con, pack)
    output(d.ctx, [asdict(r) for r in results], title=f"7. chainsleuth tags import {pack}")


def trace_theft(d: Demo) -> None:
    """Trace the stolen coins (haircut) to the services where they cash out."""
    from chainsleuth.analytics.tracing.run import trace
    from chainsleuth.analytics.tracing.utxo import TraceParams
    from chainsleuth.interfaces.trace_export import to_html

    seed = d.theft["seed"]["outputs"][0]
    result = trace(d.con, "bitcoin", [f"{seed['txid']}:{seed['n']}"], TraceParams(max_hops=50))
    data = result.to_dict()
    page = d.out / "trace.html"
    page.write_text(to_html(data, title=f"Trace of the {d.theft['name']}"), encoding="utf-8")
    endpoints = [
        {k: e[k] for k in ("entity", "label", "category", "amount")}
        | {"share": f"{100 * e['share']:.2f}%", "first_seen": e["first_seen"]}
        for e in data["endpoints"][:10]
    ]
    output(
        d.ctx,
        endpoints,
        title=f"8. chainsleuth trace --seed {seed['txid']}:{seed['n']} (haircut): the 10"
        f" largest of {len(data['endpoints'])} endpoints; interactive view in {page}",
    )


def screen(d: Demo) -> None:
    """Screen the attacker's address and a cash-out deposit address."""
    from chainsleuth.analytics.scoring.exposure import compute_exposures
    from chainsleuth.services.screening.engine import Screener
    from chainsleuth.services.screening.policy import load_policy

    compute_exposures(d.con, "bitcoin")
    screener = Screener(d.con, load_policy())
    targets = [d.theft["seed"]["addresses"][0], d.theft["endpoints"][0]["addresses"][0]]
    rows = [
        {k: r[k] for k in ("address", "score", "level")}
        | {
            "why": "; ".join(
                [f"{x['label']} ({x['concept']})" for x in r["direct"]]
                + [f"{x['concept']} hop {x['hop']}: {100 * x['share']:.1f}%" for x in r["indirect"]]
            )
        }
        for r in (screener.screen_address("bitcoin", a) for a in targets)
    ]
    output(d.ctx, rows, title="9. chainsleuth screen")


def accuracy(d: Demo) -> None:
    """How well each taint model found where the stolen coins really went."""
    from chainsleuth.analytics.tracing.evaluate import evaluate
    from chainsleuth.analytics.tracing.taint import Model

    rows = evaluate(d.con, d.truth, list(Model))
    output(
        d.ctx,
        [
            {
                "model": r["model"],
                "recall": f"{r['recall']:.4f}",
                "precision": f"{r['precision']:.4f}",
                "hops": r["hops"],
            }
            for r in rows
        ],
        title="10. chainsleuth eval tracing (against the simulator's ground truth)",
    )


STEPS: list[Callable[[Demo], None]] = [
    simulate,
    ingest,
    status,
    address,
    transaction,
    cluster,
    tags,
    trace_theft,
    screen,
    accuracy,
]


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
