"""The landscape charts, drawn with matplotlib (Agg, no display): figures in, files out.

Each chart function takes plain data and returns a matplotlib Figure; `save` writes it as
PNG and SVG. The same figures go into the PDF.
"""

from __future__ import annotations

import datetime as dt
import io
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

from matplotlib import pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

HIGHLIGHT = "#c0392b"
MUTED = "#95a5a6"
EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()
PALETTE = ["#1f4e79", "#c0392b", "#e67e22", "#27ae60", "#8e44ad", "#7f8c8d", "#16a085"]


def _usd(value: float, _pos: object = None) -> str:
    if value >= 1e9:
        return f"${value / 1e9:.1f}B"
    if value >= 1e6:
        return f"${value / 1e6:.0f}M"
    return f"${value:,.0f}"


def actor_colours(actors: Sequence[str] | set[str]) -> dict[str, str]:
    """One colour per actor, by alphabetical order, so every chart uses the same ones."""
    return {a: PALETTE[i % len(PALETTE)] for i, a in enumerate(sorted(set(actors)))}


def _day_number(day: dt.date) -> float:
    """Matplotlib's date number (days since its default epoch, 1970-01-01)."""
    return float(day.toordinal() - EPOCH_ORDINAL)


def _figure(title: str) -> tuple[Figure, Axes]:
    fig, ax = plt.subplots(figsize=(9, 5), dpi=100)
    ax.set_title(title, loc="left", fontsize=12, fontweight="bold")
    ax.spines[["top", "right"]].set_visible(False)
    return fig, ax


def by_year_and_actor(rows: Sequence[tuple[int, str, int]]) -> Figure:
    """Stacked bars: stolen USD per year, one colour per actor."""
    years = sorted({y for y, _, _ in rows})
    totals: dict[str, int] = defaultdict(int)
    for _, actor, usd in rows:
        totals[actor] += usd
    actors = sorted(totals, key=lambda a: -totals[a])
    colours = actor_colours(actors)
    fig, ax = _figure("Stolen value per year, by actor (USD at the time of theft)")
    bottom = [0.0] * len(years)
    for actor in actors:
        heights = [float(sum(u for y, a, u in rows if y == year and a == actor)) for year in years]
        ax.bar(
            [str(y) for y in years],
            heights,
            bottom=bottom,
            label=actor,
            color=colours[actor],
        )
        bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    ax.yaxis.set_major_formatter(FuncFormatter(_usd))
    ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return fig


def by_country(rows: Sequence[tuple[str, int]], highlight: str = "JP") -> Figure:
    """Horizontal bars of stolen USD per victim country, `highlight` in red with its share."""
    ordered = sorted(rows, key=lambda r: r[1])
    total = sum(usd for _, usd in rows) or 1
    share = sum(usd for c, usd in rows if c == highlight) / total
    fig, ax = _figure(
        f"Stolen value by victim country ({highlight}: {share:.0%} of the total, highlighted)"
    )
    colors = [HIGHLIGHT if c == highlight else MUTED for c, _ in ordered]
    ax.barh([c for c, _ in ordered], [float(u) for _, u in ordered], color=colors)
    ax.xaxis.set_major_formatter(FuncFormatter(_usd))
    ax.tick_params(axis="y", labelsize=8)
    fig.set_size_inches(9, max(4.0, 0.25 * len(ordered) + 1.5))
    fig.tight_layout()
    return fig


def over_time(rows: Sequence[tuple[dt.date, str, int, str]], labelled: int = 6) -> Figure:
    """Each incident as a point (date, USD, log scale) coloured by actor; the largest named."""
    fig, ax = _figure("Incidents over time (each point one theft, log scale)")
    colours = actor_colours({actor for _, _, _, actor in rows})
    for actor, colour in colours.items():
        points = [(d, usd) for d, _, usd, a in rows if a == actor and usd > 0]
        ax.scatter(
            [_day_number(d) for d, _ in points],
            [float(u) for _, u in points],
            label=actor,
            s=28,
            color=colour,
            alpha=0.85,
        )
    for day, name, usd, _ in sorted(rows, key=lambda r: -r[2])[:labelled]:
        ax.annotate(
            name,
            (_day_number(day), float(usd)),
            fontsize=7,
            xytext=(4, 4),
            textcoords="offset points",
        )
    ax.xaxis_date()
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(FuncFormatter(_usd))
    ax.legend(frameon=False, fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def save(fig: Figure, directory: Path, name: str) -> tuple[Path, Path]:
    """Write `name.png` and `name.svg` into `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    png, svg = directory / f"{name}.png", directory / f"{name}.svg"
    fig.savefig(png, format="png")
    fig.savefig(svg, format="svg")
    return png, svg


def png_bytes(fig: Figure) -> bytes:
    """The figure as PNG bytes, for inlining."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def close(fig: Figure) -> None:
    """Release the figure's memory."""
    plt.close(fig)
