"""`chainsleuth eval …`: measure analytics against ground truth (the simulator's truth.json)."""

from __future__ import annotations

from contextlib import closing
from pathlib import Path

import typer

from chainsleuth.analytics.clustering.ablation import evaluate_store, load_truth, standard_sets
from chainsleuth.analytics.clustering.heuristics import resolve
from chainsleuth.interfaces.cli.context import FORMAT_OPTION, output, store
from chainsleuth.interfaces.cli.explore import Chain
from chainsleuth.interfaces.output import Format

eval_app = typer.Typer(help="Measure analytics against ground truth.", no_args_is_help=True)


@eval_app.command("clustering")
def eval_clustering(
    ctx: typer.Context,
    truth: Path = typer.Option(..., "--truth", help="Ground truth (the simulator's truth.json)."),
    chain: Chain = typer.Option(Chain.bitcoin, "--chain", help="Chain to evaluate."),
    sets: list[str] = typer.Option(
        None,
        "--set",
        help="A heuristic set to score (comma-separated; repeatable). Default: multi-input"
        " alone, with each other heuristic, the default set, and all.",
    ),
    fmt: Format = FORMAT_OPTION,
) -> None:
    """Pairwise precision, recall, F1 and false merges of each heuristic set."""
    chosen = [resolve(chain.value, s) for s in sets] if sets else standard_sets(chain.value)
    with closing(store(ctx)) as con:
        report = evaluate_store(con, chain.value, load_truth(truth), chosen)
    output(ctx, report, fmt, title="clustering evaluation")


def register(app: typer.Typer) -> None:
    """Add the `eval` group."""
    app.add_typer(eval_app, name="eval")
