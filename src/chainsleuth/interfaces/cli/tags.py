"""`chainsleuth tags import|export|list|conflicts`."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from pathlib import Path

import duckdb
import typer

from chainsleuth.analytics.attribution.actors import ensure_curated, resolve_actor
from chainsleuth.analytics.attribution.formats import export_rows, to_csv, to_json
from chainsleuth.analytics.attribution.importer import KINDS, import_file
from chainsleuth.analytics.attribution.propagation import conflicts
from chainsleuth.analytics.attribution.store import count_tags, list_tags
from chainsleuth.analytics.attribution.tagpack import dump_tagpack
from chainsleuth.errors import ChainsleuthError, InputError, NotFoundError
from chainsleuth.interfaces.cli.context import FORMAT_OPTION, output, settings, store
from chainsleuth.interfaces.output import TABLE_ROWS, Format, progress, stderr


class ExportFormat(StrEnum):
    """Formats of `tags export`."""

    tagpack = "tagpack"
    csv = "csv"
    json = "json"


def _date(text: str | None) -> dt.date | None:
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise InputError(f"--published {text!r} is not a date (YYYY-MM-DD)") from None


SHOWN_WARNINGS = 10


def _actor_id(con: duckdb.DuckDBPyConnection, name: str | None) -> str | None:
    """The actor id for an id, label or alias; a name no actor record knows is kept as
    given, since tags may name actors whose ActorPack was never imported."""
    if name is None:
        return None
    try:
        return resolve_actor(con, name)
    except NotFoundError:
        return name


def _warn(warnings: list[str]) -> None:
    """The first warnings of one file on stderr, and how many more there were."""
    for warning in warnings[:SHOWN_WARNINGS]:
        stderr.print(f"warning: {warning}", highlight=False, soft_wrap=True)
    if len(warnings) > SHOWN_WARNINGS:
        stderr.print(f"warning: ... and {len(warnings) - SHOWN_WARNINGS} more like these")


def register(app: typer.Typer) -> None:
    """Add the `tags` command group."""
    tags_app = typer.Typer(help="Attribution tags: import, export, list, conflicts.")
    app.add_typer(tags_app, name="tags")

    @tags_app.command("import")
    def import_cmd(
        ctx: typer.Context,
        files: list[Path] = typer.Argument(..., help="TagPack/ActorPack YAML, OFAC files, labels."),
        kind: str = typer.Option(None, "--kind", help=f"Skip detection: {', '.join(KINDS)}."),
        skip_invalid: bool = typer.Option(
            False, "--skip-invalid", help="Leave out invalid tags (listed) instead of failing."
        ),
        asset: str = typer.Option(None, "--asset", help="Asset of a one-address-a-line list."),
        published: str = typer.Option(None, "--published", help="List date (YYYY-MM-DD)."),
        diff: bool = typer.Option(
            False, "--diff", help="List the addresses added and removed (chain:address)."
        ),
        fmt: Format = FORMAT_OPTION,
    ) -> None:
        """Import files; each is validated whole and stored atomically (or not at all)."""
        con = store(ctx)
        ensure_curated(con)
        quiet, when = settings(ctx).quiet, _date(published)
        results, failed = [], 0
        with progress(quiet) as bar:
            task = bar.add_task("importing", total=len(files))
            for path in files:
                bar.update(task, description=path.name)
                try:
                    found = import_file(
                        con, path, kind, skip_invalid=skip_invalid, asset=asset, published=when
                    )
                except ChainsleuthError as exc:
                    failed += 1
                    stderr.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
                    found = []
                for result in found:
                    if not quiet:
                        _warn(result.warnings)
                    results.append(result.row(diff=diff))
                bar.advance(task)
        output(ctx, results, fmt, title="imported")
        if failed:
            raise typer.Exit(2)

    @tags_app.command("export")
    def export_cmd(
        ctx: typer.Context,
        fmt: ExportFormat = typer.Option(ExportFormat.json, "--format", "-f"),
        out: Path = typer.Option(None, "--out", help="Write here instead of stdout."),
        actor: str = typer.Option(None, "--actor", help="Actor id, label or alias."),
        category: str = typer.Option(None, "--category"),
        chain: str = typer.Option(None, "--chain"),
    ) -> None:
        """Export tags as a GraphSense TagPack, CSV or JSON (re-importable)."""
        con = store(ctx)
        found = list_tags(con, actor=_actor_id(con, actor), category=category, chain=chain)
        if fmt is ExportFormat.tagpack:
            text = dump_tagpack(found, title="chainsleuth tags export", creator="chainsleuth")
        else:
            text = to_csv(found) if fmt is ExportFormat.csv else to_json(found)
        if out is None:
            typer.echo(text, nl=False)
        else:
            out.write_text(text, encoding="utf-8")
            stderr.print(f"{len(found)} tags written to {out}")

    @tags_app.command("list")
    def list_cmd(
        ctx: typer.Context,
        actor: str = typer.Option(None, "--actor", help="Actor id, label or alias."),
        category: str = typer.Option(None, "--category", help="Concept id, e.g. exchange."),
        chain: str = typer.Option(None, "--chain", help="bitcoin, ethereum, ..."),
        fmt: Format = FORMAT_OPTION,
    ) -> None:
        """Stored tags with source and confidence (`--actor` takes an id, label or alias)."""
        con = store(ctx)
        filters = {"actor": _actor_id(con, actor), "category": category, "chain": chain}
        table = (fmt or settings(ctx).fmt) is Format.table  # a table shows the first rows
        found = list_tags(con, **filters, limit=TABLE_ROWS if table else None)
        keep = (
            "chain",
            "address",
            "tx_hash",
            "label",
            "category",
            "actor",
            "source",
            "confidence",
            "confidence_level",
            "programs",
            "tagpack",
        )
        output(
            ctx,
            [{k: r[k] for k in keep} for r in export_rows(found)],
            fmt,
            title="tags",
            total=count_tags(con, **filters) if table else None,
        )

    @tags_app.command("conflicts")
    def conflicts_cmd(
        ctx: typer.Context,
        chain: str = typer.Option(None, "--chain"),
        fmt: Format = FORMAT_OPTION,
    ) -> None:
        """Entities holding incompatible tags, with the link that joined them."""
        output(ctx, conflicts(store(ctx), chain), fmt, title="conflicts")
