"""`chainsleuth report …`: reports built from the incident database."""

from __future__ import annotations

from pathlib import Path

import typer

from chainsleuth.analytics.tracing.taint import Model
from chainsleuth.interfaces.cli.context import settings, store
from chainsleuth.interfaces.output import stderr
from chainsleuth.services.incidents.repository import incident_store

report_app = typer.Typer(
    help="Reports: landscape (HTML, PDF, charts), incident (HTML, PDF).", no_args_is_help=True
)


@report_app.command("landscape")
def landscape_command(
    ctx: typer.Context,
    out: Path = typer.Option(..., "--out", help="Directory to write the report into."),
) -> None:
    """Charts (PNG, SVG), a self-contained HTML page and a PDF of the incident landscape."""
    from chainsleuth.interfaces.reports.landscape import write_landscape  # matplotlib: slow

    with incident_store(store(ctx)) as con:
        written = write_landscape(con, out)
    if not settings(ctx).quiet:
        for name in ("html", "pdf"):
            stderr.print(f"{name}: {written[name]}")
        stderr.print(f"charts: {out / 'charts'} ({len(written) - 2} files)")


@report_app.command("incident")
def incident_command(
    ctx: typer.Context,
    incident_id: str = typer.Argument(..., metavar="ID"),
    out: Path = typer.Option(..., "--out", help="Directory to write the report into."),
    model: Model = typer.Option(Model.haircut, "--model", help="Taint model of the trace."),
    max_hops: int = typer.Option(50, "--max-hops", min=1, help="Hops of the trace."),
) -> None:
    """One incident's facts, its trace where the chain is stored (endpoints, flow graph,
    Sankey, laundering timeline), the evidence and the sources, as HTML and PDF."""
    from chainsleuth.interfaces.reports.incident import write_incident_report

    with incident_store(store(ctx)) as con:
        written = write_incident_report(con, incident_id, out, model=model, max_hops=max_hops)
    if not settings(ctx).quiet:
        for name, path in written.items():
            stderr.print(f"{name}: {path}")


def register(app: typer.Typer) -> None:
    """Add the `report` group to the root command."""
    app.add_typer(report_app, name="report")
