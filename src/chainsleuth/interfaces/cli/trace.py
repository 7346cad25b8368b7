"""`chainsleuth trace`: follow stolen funds to where they cash out (or sources backward)."""

from __future__ import annotations

import datetime as dt
import sys
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from pathlib import Path
from typing import Any

import duckdb
import typer

from chainsleuth.analytics.tracing.index import INDEX_MEMORY_LIMIT
from chainsleuth.analytics.tracing.run import trace
from chainsleuth.analytics.tracing.taint import Model
from chainsleuth.analytics.tracing.utxo import TraceParams
from chainsleuth.errors import InputError, NotFoundError
from chainsleuth.interfaces.cli.context import (
    FORMAT_OPTION,
    memory_option,
    output,
    settings,
    store,
)
from chainsleuth.interfaces.output import (
    Format,
    dumps,
    emit,
    percent,
    progress,
    rows_table,
    stderr,
    wide_console,
)
from chainsleuth.interfaces.trace_export import edge_rows, to_graphml, to_html
from chainsleuth.services.incidents.repository import show_incident
from chainsleuth.services.incidents.verify import theft_seeds
from chainsleuth.store.db import limit_memory

UNITS = {"btc": 10**8, "sat": 1, "eth": 10**18, "gwei": 10**9, "wei": 1}


class TraceFormat(StrEnum):
    """Trace outputs: the read formats plus graph files."""

    table = "table"
    json = "json"
    csv = "csv"
    graphml = "graphml"
    html = "html"


class Direction(StrEnum):
    """Forward: where did it go. Backward: where did it come from."""

    forward = "forward"
    backward = "backward"


def parse_amount(text: str) -> int:
    """`--min-amount`: base units (`5000`) or a decimal with a unit (`0.01btc`, `2eth`)."""
    raw = text.strip().lower().replace("_", "")
    for unit, scale in UNITS.items():
        if raw.endswith(unit):
            try:
                return int(Decimal(raw[: -len(unit)]) * scale)
            except InvalidOperation:
                break
    if raw.isdigit():
        return int(raw)
    raise InputError(
        f"--min-amount {text!r}: give base units (5000) or an amount with a unit "
        f"({', '.join(UNITS)}), e.g. 0.01btc"
    )


def parse_until(text: str | None) -> dt.datetime | None:
    """`--until`: an ISO date or date-time, UTC."""
    if text is None:
        return None
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise InputError(f"--until {text!r}: not an ISO date (YYYY-MM-DD[THH:MM:SS])") from exc
    if len(text) == 10:  # a bare date means the end of that day
        value += dt.timedelta(days=1) - dt.timedelta(microseconds=1)
    return (
        value.replace(tzinfo=None)
        if value.tzinfo is None
        else value.astimezone(dt.UTC).replace(tzinfo=None)
    )


def _write(text: str, out: Path | None) -> None:
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text, encoding="utf-8")
        stderr.print(f"wrote {out}")


INCIDENT_PREFIX = "incident:"


def incident_seeds(con: duckdb.DuckDBPyConnection, chain: str, seeds: list[str]) -> list[str]:
    """The seeds with each `incident:ID` replaced by that incident's seeds on `chain`: its
    stored theft outputs (UTXO chains) or theft transactions (Ethereum), else its seed
    addresses, as `report incident` traces them."""
    found: list[str] = []
    for seed in seeds:
        if not seed.startswith(INCIDENT_PREFIX):
            found.append(seed)
            continue
        record = show_incident(con, seed.removeprefix(INCIDENT_PREFIX))
        these = theft_seeds(con, record, chain)["seeds"]
        if not these:
            raise NotFoundError(
                f"--seed {seed}: no {chain} theft transactions or seed addresses of the"
                " incident are stored"
            )
        found.extend(these)
    return found


def register(app: typer.Typer) -> None:
    """Add `trace`."""

    @app.command("trace")
    def trace_cmd(
        ctx: typer.Context,
        chain: str = typer.Option("bitcoin", "--chain", help="Chain to trace on."),
        seed: list[str] = typer.Option(
            ..., "--seed", help="ADDR, TXID, TXID:N or incident:ID; repeatable."
        ),
        direction: Direction = typer.Option(Direction.forward, "--direction"),
        model: Model = typer.Option(Model.haircut, "--model", help="Taint model."),
        max_hops: int = typer.Option(10, "--max-hops", min=1),
        min_amount: str = typer.Option("0", "--min-amount", help="Stop below this taint."),
        until: str = typer.Option(None, "--until", help="Ignore transactions after this date."),
        network: str = typer.Option("mainnet", "--network", help="Bitcoin network."),
        fmt: TraceFormat = typer.Option(None, "--format", "-f", help="table|json|csv|graphml|html"),
        out: Path = typer.Option(None, "--out", help="Write to this file instead of stdout."),
        memory_limit: str = memory_option(INDEX_MEMORY_LIMIT),
    ) -> None:
        """Trace funds under a taint model; stop at custodial services (cash-out endpoints)."""
        s = settings(ctx)
        chosen = fmt or TraceFormat(s.fmt.value)
        params = TraceParams(
            model=model,
            direction=direction.value,
            max_hops=max_hops,
            min_amount=parse_amount(min_amount),
            until=parse_until(until),
        )
        con = store(ctx)
        limit_memory(con, memory_limit)  # bounds a first build of the tracing index
        with progress(s.quiet) as bar:
            # Before the first hop: the seed, and the tracing index brought up to date if
            # blocks, tags or clusters changed since it was built (once; 20-90 s at 10M txs).
            task = bar.add_task("preparing: seed, tracing index", total=max_hops)

            def on_hop(hop: int, frontier: int) -> None:
                bar.update(
                    task, completed=hop - 1, description=f"tracing hop {hop}, {frontier} coins"
                )

            seeds = incident_seeds(con, chain, seed)
            result = trace(con, chain, seeds, params, network=network, on_hop=on_hop)
            bar.update(task, completed=max_hops)
        data = result.to_dict()
        if chosen is TraceFormat.json:
            _write(dumps(data) + "\n", out)
        elif chosen is TraceFormat.graphml:
            _write(to_graphml(data), out)
        elif chosen is TraceFormat.html:
            _write(to_html(data, title=f"Trace of {', '.join(seed)}"), out)
        elif chosen is TraceFormat.csv:
            if out is None:
                emit(edge_rows(data), Format.csv)
            else:
                with out.open("w", encoding="utf-8") as fh:
                    emit(edge_rows(data), Format.csv, out=fh)
        else:
            _print_table(data)

    from chainsleuth.interfaces.cli.evaluate import eval_app

    @eval_app.command("tracing")
    def eval_tracing(
        ctx: typer.Context,
        truth: Path = typer.Option(..., "--truth", help="The simulator's truth.json."),
        models: list[Model] = typer.Option(list(Model), "--model", help="Models to score."),
        max_hops: int = typer.Option(50, "--max-hops", min=1),
        fmt: Format = FORMAT_OPTION,
    ) -> None:
        """Endpoint recall and precision of each taint model on each simulated theft."""
        from chainsleuth.analytics.tracing.evaluate import evaluate, load_truth

        rows = evaluate(store(ctx), load_truth(truth), models, max_hops)
        output(ctx, rows, fmt, title="tracing evaluation")


def _print_table(data: dict[str, Any]) -> None:
    console = wide_console(min_width=140)
    seed = data["seed"]
    carried = " + ".join(f"{amount} {asset}" for asset, amount in seed["assets"].items())
    valued = "" if seed["value_usd"] is None else f", ${seed['value_usd']:,.2f} at the seed's day"
    console.print(
        f"[bold]{data['model']}[/bold] trace, {data['direction']}, {data['hops']} hops,"
        f" seed {carried} (base units){valued}"
    )
    endpoints = [
        {k: e[k] for k in ("entity", "label", "category", "chain", "asset", "amount")}
        | {
            "share": percent(e["share"]),
            "first_seen": e["first_seen"],
            "last_seen": e["last_seen"],
            "addresses": len(e["addresses"]),
        }
        for e in data["endpoints"]
    ]
    console.print(rows_table(endpoints, title="endpoints"))
    rem = [{"asset": asset} | figures for asset, figures in data["remainder"]["by_asset"].items()]
    console.print(rows_table(rem, title="remainder (base units)"))
    if data["flags"]:
        console.print(f"flags: {', '.join(data['flags'])}")
    if data["bridges"]:
        console.print(rows_table(data["bridges"], title="bridge crossings"))
