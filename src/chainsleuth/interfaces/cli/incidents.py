"""`chainsleuth incidents …`: the incident database, its statistics and reconciliation."""

from __future__ import annotations

from pathlib import Path

import typer

from chainsleuth.errors import InputError, NotFoundError
from chainsleuth.interfaces.cli.context import FORMAT_OPTION, output, settings, store
from chainsleuth.interfaces.output import Format, stderr
from chainsleuth.services.incidents.loader import check_dir, load_dir, packaged_dir
from chainsleuth.services.incidents.published import load_figures
from chainsleuth.services.incidents.published import reconcile as reconcile_figures
from chainsleuth.services.incidents.repository import (
    import_incidents,
    incident_count,
    incident_store,
    list_incidents,
    show_incident,
)
from chainsleuth.services.incidents.stats import GroupBy, aggregate
from chainsleuth.services.incidents.verify import verified_incidents, verify_incident

incidents_app = typer.Typer(
    help="The incident database: list, show, validate, import, stats, reconcile, verify.",
    no_args_is_help=True,
)


@incidents_app.command("list")
def list_command(
    ctx: typer.Context,
    actor: str = typer.Option(None, "--actor", help="Actor name contains this (any case)."),
    country: str = typer.Option(None, "--country", help="Victim country, ISO alpha-2."),
    year: int = typer.Option(None, "--year", help="Year of the theft."),
    fmt: Format = FORMAT_OPTION,
) -> None:
    """Incidents by date, filtered by actor, victim country or year."""
    with incident_store(store(ctx)) as con:
        rows = list_incidents(con, actor=actor, country=country, year=year)
    output(ctx, rows, fmt, title="incidents")


@incidents_app.command("show")
def show_command(
    ctx: typer.Context,
    incident_id: str = typer.Argument(..., metavar="ID"),
    fmt: Format = FORMAT_OPTION,
) -> None:
    """One incident with its assets (base units), seeds and sources."""
    with incident_store(store(ctx)) as con:
        record = show_incident(con, incident_id)
    output(ctx, record, fmt, title=incident_id)


@incidents_app.command("validate")
def validate_command(
    ctx: typer.Context,
    directory: Path = typer.Argument(..., metavar="DIR"),
    fmt: Format = FORMAT_OPTION,
) -> None:
    """Check every *.yaml incident file of DIR; list each problem with file and field."""
    incidents, problems = check_dir(directory)
    if problems:
        rows = [{"file": p.file, "field": p.field, "problem": p.message} for p in problems]
        output(ctx, rows, fmt, title="problems")
        files = len({p.file for p in problems})
        raise InputError(f"{directory}: {len(problems)} problems in {files} files")
    if not settings(ctx).quiet:
        stderr.print(f"{directory}: {len(incidents)} incident files valid")


@incidents_app.command("import")
def import_command(
    ctx: typer.Context,
    directory: Path = typer.Argument(
        None, metavar="[DIR]", help="Incident files (default: the database shipped inside)."
    ),
) -> None:
    """Validate and import incident files into the store (replacing same ids)."""
    if directory is None:
        with packaged_dir() as packaged:
            incidents, label = load_dir(packaged), "chainsleuth/data/incidents"
    else:
        incidents, label = load_dir(directory), str(directory)
    count = import_incidents(store(ctx), incidents, label)
    if not settings(ctx).quiet:
        stderr.print(f"imported {count} incidents from {label}")


@incidents_app.command("stats")
def stats_command(
    ctx: typer.Context,
    by: GroupBy = typer.Option(GroupBy.year, "--by", help="Group by this dimension."),
    from_year: int = typer.Option(None, "--from", help="First year (inclusive)."),
    to_year: int = typer.Option(None, "--to", help="Last year (inclusive)."),
    fmt: Format = FORMAT_OPTION,
) -> None:
    """Incidents and stolen USD per year, victim country, actor or victim type.

    `verified` and `verified_usd` count the incidents whose amounts stored chain data confirms.
    """
    with incident_store(store(ctx)) as con:
        verified = verified_incidents(con)
        rows = aggregate(con, by, from_year=from_year, to_year=to_year, verified=verified)
    output(ctx, rows, fmt, title=f"stolen by {by.value}")


@incidents_app.command("verify")
def verify_command(
    ctx: typer.Context,
    incident_id: str = typer.Argument(..., metavar="ID"),
    fmt: Format = FORMAT_OPTION,
) -> None:
    """Recompute the stolen amounts from the theft transactions in the store."""
    con = store(ctx)
    if not incident_count(con):
        raise NotFoundError("the store holds no incidents; run `chainsleuth incidents import`")
    record = verify_incident(con, incident_id)
    output(ctx, record, fmt, title=f"verify {incident_id}")


@incidents_app.command("reconcile")
def reconcile_command(
    ctx: typer.Context,
    figures: Path = typer.Option(
        None, "--figures", help="Published figures YAML (default: the table shipped inside)."
    ),
    fmt: Format = FORMAT_OPTION,
) -> None:
    """Each published figure beside ours for the same scope, the gap and its reasons."""
    table = load_figures(figures)
    with incident_store(store(ctx)) as con:
        rows = reconcile_figures(con, table)
    if (fmt or settings(ctx).fmt) is not Format.table:
        output(ctx, rows, fmt)
        return
    brief = [{k: v for k, v in r.items() if k not in ("reasons", "source")} for r in rows]
    output(ctx, brief, fmt, title="published figures vs our incident list")
    reasons = [{"id": r["id"], "reason": reason} for r in rows for reason in r["reasons"]]
    output(ctx, reasons, fmt, title="likely reasons for the differences")


def register(app: typer.Typer) -> None:
    """Add the `incidents` group to the root command."""
    app.add_typer(incidents_app, name="incidents")
