"""`chainsleuth cluster`, `entity` and `export clusters|parquet`: entities from heuristics."""

from __future__ import annotations

import dataclasses
import sys
import tempfile
from contextlib import closing
from enum import StrEnum
from pathlib import Path

import duckdb
import typer

from chainsleuth.analytics.clustering import engine, heuristics
from chainsleuth.analytics.clustering.explain import entity_of_id, entity_view, why
from chainsleuth.analytics.clustering.export import export_clusters, export_parquet
from chainsleuth.errors import InputError
from chainsleuth.interfaces.cli.context import (
    FORMAT_OPTION,
    memory_option,
    output,
    settings,
    store,
)
from chainsleuth.interfaces.cli.explore import Chain
from chainsleuth.interfaces.output import Format, progress, stderr
from chainsleuth.store.db import limit_memory


class Engine(StrEnum):
    """Where clustering runs."""

    duckdb = "duckdb"
    spark = "spark"


class ExportFormat(StrEnum):
    """File formats of `export clusters`."""

    csv = "csv"
    parquet = "parquet"


def _run_spark(
    con: duckdb.DuckDBPyConnection, chain: str, names: list[str], master: str
) -> engine.RunSummary:
    from chainsleuth.analytics.clustering.spark import require_pyspark, run_spark

    require_pyspark()
    with tempfile.TemporaryDirectory(prefix="chainsleuth-parquet-") as tmp:
        export_parquet(con, Path(tmp))
        return run_spark(con, chain, names, Path(tmp), master=master)


def register(app: typer.Typer) -> None:
    """Add `cluster`, `entity` and the `export` group."""

    @app.command("cluster")
    def cluster_cmd(
        ctx: typer.Context,
        chain: Chain = typer.Option(Chain.bitcoin, "--chain", help="Chain to cluster."),
        names: str = typer.Option(
            None,
            "--heuristics",
            help="Comma-separated heuristics (default: the measured default set). Bitcoin: "
            + ", ".join(heuristics.available("bitcoin"))
            + "; Ethereum: "
            + ", ".join(heuristics.available("ethereum"))
            + ".",
        ),
        run_on: Engine = typer.Option(Engine.duckdb, "--engine", help="duckdb or spark."),
        master: str = typer.Option(
            "local[*]", "--master", help="Spark master URL (with --engine spark)."
        ),
        full: bool = typer.Option(False, "--full", help="Recompute from genesis."),
        memory_limit: str = memory_option(engine.MEMORY_LIMIT),
        fmt: Format = FORMAT_OPTION,
    ) -> None:
        """Group addresses into entities; only blocks added since the last run are read."""
        chosen = heuristics.resolve(chain.value, names)
        with closing(store(ctx)) as con:
            limit_memory(con, memory_limit)
            if run_on is Engine.spark:
                summary = _run_spark(con, chain.value, chosen, master)
            else:
                with progress(settings(ctx).quiet) as bar:
                    task = bar.add_task("clustering", total=len(engine.STEPS))

                    def step(message: str) -> None:
                        bar.update(task, advance=1, description=message)

                    summary = engine.run(con, chain.value, chosen, full=full, step=step)
                    bar.update(task, completed=len(engine.STEPS), description="clustered")
        output(ctx, dataclasses.asdict(summary), fmt, title="clustering")

    @app.command("entity")
    def entity_cmd(
        ctx: typer.Context,
        chain: Chain = typer.Argument(..., help="bitcoin or ethereum"),
        address: str = typer.Argument(None, help="Any address of the entity."),
        other: str = typer.Option(
            None, "--why", help="Another address: print the links that joined the two."
        ),
        cluster_id: int = typer.Option(
            None,
            "--cluster-id",
            help="A cluster id instead of an address (an id merged away resolves).",
        ),
        fmt: Format = FORMAT_OPTION,
    ) -> None:
        """An entity's size, members, balance, activity, heuristics and tags (or --why)."""
        if (address is None) == (cluster_id is None):
            raise InputError("entity: give an address or --cluster-id, not both or neither")
        if other is not None and address is None:
            raise InputError("--why needs an address, not --cluster-id")
        with closing(store(ctx, read_only=True)) as con:
            if cluster_id is not None:
                view = entity_of_id(con, chain.value, cluster_id)
            elif other is not None:
                view = why(con, chain.value, address, other)
            else:
                view = entity_view(con, chain.value, address)
        output(ctx, view, fmt, title="evidence" if other is not None else "entity")

    export = typer.Typer(help="Write clusters or the whole store to files.", no_args_is_help=True)
    app.add_typer(export, name="export")

    @export.command("clusters")
    def export_clusters_cmd(
        ctx: typer.Context,
        chain: Chain = typer.Option(..., "--chain", help="Chain whose clusters to write."),
        file_format: ExportFormat = typer.Option(
            ExportFormat.csv, "--format", help="csv or parquet."
        ),
        out: Path = typer.Option(None, "--out", "-o", help="File to write (csv: default stdout)."),
    ) -> None:
        """Write `address,cluster_id` for every clustered address of a chain."""
        if out is None and file_format is ExportFormat.parquet:
            raise InputError("--out: a file is needed for --format parquet")
        with closing(store(ctx, read_only=True)) as con, tempfile.TemporaryDirectory() as tmp:
            target = out or Path(tmp) / "clusters.csv"
            count = export_clusters(con, chain.value, file_format.value, target)
            if out is None:
                sys.stdout.write(target.read_text(encoding="utf-8"))
                return
        if not settings(ctx).quiet:
            stderr.print(f"wrote {count} addresses to {out}")

    @export.command("parquet")
    def export_parquet_cmd(
        ctx: typer.Context,
        directory: Path = typer.Argument(..., help="Directory to write (one folder per table)."),
        fmt: Format = FORMAT_OPTION,
    ) -> None:
        """Write every table of the store as Parquet partitioned by chain (Spark's input)."""
        with closing(store(ctx, read_only=True)) as con:
            written = export_parquet(con, directory)
        output(ctx, written, fmt, title="export")
