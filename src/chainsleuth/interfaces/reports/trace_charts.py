"""Static charts of a trace for the incident report (matplotlib, Agg): the laundering
timeline, a Sankey of the seed to its cash-out services and remainder, and the flow graph of
the largest tainted flows laid out by hop. The HTML page adds the interactive views of
`interfaces/trace_export.py`; these figures also go into the PDF.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from matplotlib.collections import LineCollection
from matplotlib.dates import DateFormatter
from matplotlib.figure import Figure
from matplotlib.patches import PathPatch
from matplotlib.path import Path as MplPath
from matplotlib.ticker import FuncFormatter

from chainsleuth.interfaces.reports.charts import HIGHLIGHT, MUTED, _figure  # Agg backend

ENDPOINT = "#1f4e79"
SANKEY_PARTS = 10
GRAPH_EDGES = 80
LOG_RATIO = 100
REMAINDER = (
    ("held_total", "still held"),
    ("fees", "fees"),
    ("below_threshold", "below threshold"),
    ("beyond_max_hops", "beyond max hops"),
    ("after_until", "after --until"),
)


def _units(decimals: int | None) -> Callable[[float], float]:
    scale = 10 ** (decimals or 0)
    return lambda amount: float(amount) / scale


def timeline(
    rows: list[dict[str, Any]], bucket: str, asset: str, decimals: int | None, seed: int
) -> Figure:
    """Bars: tainted value moved per hour/day; line: share of the seed at endpoints so far."""
    units = _units(decimals)
    unit = asset if decimals is not None else f"{asset} base units"
    fig, ax = _figure(f"Laundering timeline: tainted value moved per {bucket} ({unit})")
    times = [r[bucket] for r in rows]
    width = (1 / 24 if bucket == "hour" else 1.0) * 0.85
    ax.bar(
        times,
        [units(r["moved"]) for r in rows],
        width=width,
        align="edge",
        color=MUTED,
        label=f"tainted value moved per {bucket}",
    )
    ax.bar(
        times,
        [units(r["to_endpoints"]) for r in rows],
        width=width,
        align="edge",
        color=ENDPOINT,
        label=f"reaching cash-out endpoints per {bucket}",
    )
    ax.set_ylabel(unit)
    moved = [r["moved"] for r in rows if r["moved"] > 0]
    if moved and max(moved) > LOG_RATIO * min(moved):
        ax.set_yscale("log")  # a burst, then a long tail of small moves: keep both visible
        ax.set_ylabel(f"{unit} (log scale)")
    share = ax.twinx()
    share.step(
        [t + dt.timedelta(hours=1 if bucket == "hour" else 24) for t in times],
        [100 * r["to_endpoints_total"] / (seed or 1) for r in rows],
        where="post",
        color=HIGHLIGHT,
        label="at endpoints so far (% of seed)",
    )
    share.set_ylim(0, 105)
    share.yaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:.0f}%"))
    share.spines[["top"]].set_visible(False)
    dates = DateFormatter("%m-%d %H:%M" if bucket == "hour" else "%Y-%m-%d")  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_formatter(dates)
    fig.autofmt_xdate()
    lines = ax.get_legend_handles_labels()
    more = share.get_legend_handles_labels()
    fig.legend(
        lines[0] + more[0],
        lines[1] + more[1],
        frameon=False,
        fontsize=8,
        loc="lower center",
        ncol=3,
    )
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return fig


def _band(x0: float, x1: float, y0: tuple[float, float], y1: tuple[float, float]) -> MplPath:
    """A ribbon from the span y0 at x0 to the span y1 at x1 (cubic Bézier edges)."""
    xm = (x0 + x1) / 2
    verts = [
        (x0, y0[0]),
        (xm, y0[0]),
        (xm, y1[0]),
        (x1, y1[0]),
        (x1, y1[1]),
        (xm, y1[1]),
        (xm, y0[1]),
        (x0, y0[1]),
        (x0, y0[0]),
    ]
    codes = [MplPath.MOVETO] + [MplPath.CURVE4] * 3 + [MplPath.LINETO] + [MplPath.CURVE4] * 3
    return MplPath(verts, [*codes, MplPath.CLOSEPOLY])


def sankey(
    services: list[dict[str, Any]], remainder: dict[str, Any], seed: int, whole: Any
) -> Figure:
    """The seed split into cash-out services (largest first) and the remainder parts."""
    parts = [(str(s["label"]), int(s["amount"]), True) for s in services[:SANKEY_PARTS]]
    rest = sum(int(s["amount"]) for s in services[SANKEY_PARTS:])
    if rest:
        parts.append((f"{len(services) - SANKEY_PARTS} other services", rest, True))
    parts += [(name, int(remainder[k]), False) for k, name in REMAINDER if int(remainder[k]) > 0]
    total = sum(p[1] for p in parts) or 1
    fig, ax = _figure("Seed to cash-out services and remainder")
    fig.set_size_inches(9, max(4.0, 0.35 * len(parts) + 1.5))
    gap = 0.02
    scale = (1 - gap * max(len(parts) - 1, 0)) / total
    ax.add_patch(
        PathPatch(MplPath.unit_rectangle().transformed(_box(0, 0, 0.03, 1)), color=HIGHLIGHT)
    )
    ax.text(0.035, 0.5, f"seed\n{whole(seed)}", va="center", fontsize=8)
    left, right = 0.0, 1.0
    for name, amount, is_endpoint in parts:
        h_left, h_right = amount / total, amount * scale
        colour = ENDPOINT if is_endpoint else MUTED
        path = _band(0.03, 0.6, (1 - left - h_left, 1 - left), (right - h_right, right))
        ax.add_patch(PathPatch(path, facecolor=colour, alpha=0.45, edgecolor="none"))
        box = MplPath.unit_rectangle().transformed(_box(0.6, right - h_right, 0.02, h_right))
        ax.add_patch(PathPatch(box, color=colour))
        ax.text(
            0.63,
            right - h_right / 2,
            f"{name}: {whole(amount)} ({100 * amount / total:.1f}%)",
            va="center",
            fontsize=8,
        )
        left += h_left
        right -= h_right + gap
    ax.set_xlim(0, 1.05)
    ax.set_ylim(min(right, 0), 1)
    ax.axis("off")
    fig.tight_layout()
    return fig


def _box(x: float, y: float, w: float, h: float) -> Any:
    from matplotlib.transforms import Affine2D

    return Affine2D().scale(w, h).translate(x, y)


def flow_graph(trace: dict[str, Any], limit: int = GRAPH_EDGES) -> Figure:
    """The `limit` largest tainted flows, addresses laid out left to right by hop."""
    edges = sorted(trace["edges"], key=lambda e: -int(e["amount"]))[:limit]
    endpoint_of = {a["address"]: e for e in trace["endpoints"] for a in e["addresses"]}
    seeds = {i.get("address") for i in trace["seed"]["items"]}
    layer: dict[str, int] = {}
    for e in sorted(edges, key=lambda e: e["hop"]):
        layer.setdefault(e["from"], e["hop"] - 1)
        layer.setdefault(e["to"], e["hop"])
    columns: dict[int, list[str]] = {}
    for address, hop in layer.items():
        columns.setdefault(hop, []).append(address)
    pos = {}
    for hop, addresses in columns.items():
        for i, address in enumerate(sorted(addresses, key=lambda a: a in endpoint_of)):
            pos[address] = (float(hop), (i + 1) / (len(addresses) + 1))
    fig, ax = _figure(
        f"Flow graph: the {len(edges)} largest of {len(trace['edges'])} tainted flows, by hop"
    )
    fig.set_size_inches(10, 6)
    biggest = max((int(e["amount"]) for e in edges), default=1) or 1
    segments = [(pos[e["from"]], pos[e["to"]]) for e in edges]
    widths = [0.4 + 3.5 * int(e["amount"]) / biggest for e in edges]
    ax.add_collection(LineCollection(segments, linewidths=widths, colors="#888", alpha=0.6))
    # one arrowhead per flow, 80% of the way along it (a single collection: fast to draw)
    tips = [(x0 + 0.8 * (x1 - x0), y0 + 0.8 * (y1 - y0)) for (x0, y0), (x1, y1) in segments]
    ax.quiver(
        [t[0] for t in tips],
        [t[1] for t in tips],
        [x1 - x0 for (x0, _), (x1, _) in segments],
        [y1 - y0 for (_, y0), (_, y1) in segments],
        angles="xy",
        pivot="tip",
        color="#666",
        width=0.002,
        headwidth=5,
        headlength=6,
        scale=40,
    )
    for address, (x, y) in pos.items():
        ep = endpoint_of.get(address)
        is_seed = address in seeds or layer[address] == 0
        colour = ENDPOINT if ep else HIGHLIGHT if is_seed else MUTED
        ax.scatter([x], [y], s=40 if ep or is_seed else 14, color=colour, zorder=3)
        if ep:
            ax.annotate(
                str(ep["label"]), (x, y), fontsize=6, xytext=(4, 2), textcoords="offset points"
            )
    ax.set_xlabel("hop")
    ax.set_yticks([])
    ax.spines[["left"]].set_visible(False)
    fig.tight_layout()
    return fig
