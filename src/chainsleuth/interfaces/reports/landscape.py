"""The landscape report: who stole how much from whom, when, and how it compares with the
published figures. Charts (PNG + SVG), a self-contained HTML page and a PDF, all from the
same data gathered once from the incident store.

    out/landscape.html    one file, images inlined
    out/landscape.pdf     tables, charts and sources
    out/charts/*.png|svg  the charts on their own
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
from matplotlib.figure import Figure

from chainsleuth.interfaces.reports import charts
from chainsleuth.interfaces.reports.html import render_html
from chainsleuth.interfaces.reports.model import Chart, Landscape, TableSpec
from chainsleuth.interfaces.reports.pdf import render_pdf
from chainsleuth.services.incidents.published import load_figures, reconcile
from chainsleuth.services.incidents.repository import list_incidents
from chainsleuth.services.incidents.stats import GroupBy, aggregate, totals_by_year_and
from chainsleuth.services.incidents.verify import verified_incidents

HIGHLIGHT_COUNTRY = "JP"


def gather(con: duckdb.DuckDBPyConnection) -> Landscape:
    """Read the tables and sources of the report from the store."""
    verified = verified_incidents(con)
    by_year = aggregate(con, GroupBy.year, verified=verified)
    by_country = aggregate(con, GroupBy.country, verified=verified)
    incidents = list_incidents(con)
    reconciled = [{k: v for k, v in r.items() if k != "source"} for r in reconcile(con)]
    for row in reconciled:
        row["reasons"] = "; ".join(row["reasons"])
    sources = [
        (str(incident_id), str(source))
        for incident_id, source in con.execute(
            "SELECT incident_id, source FROM incident_sources ORDER BY incident_id, position"
        ).fetchall()
    ]
    sources += [(f"published figure {f.id}", s) for f in load_figures() for s in f.sources]
    years = [int(r["year"]) for r in by_year]
    return Landscape(
        generated=dt.datetime.now(dt.UTC).replace(microsecond=0),
        incidents=len(incidents),
        stolen_usd=sum(int(r["stolen_usd"]) for r in by_year),
        japan_usd=sum(
            int(r["stolen_usd"]) for r in by_country if r["country"] == HIGHLIGHT_COUNTRY
        ),
        first_year=min(years, default=0),
        last_year=max(years, default=0),
        tables=[
            TableSpec("table-by-year", "Stolen value by year", by_year),
            TableSpec("table-by-country", "Stolen value by victim country", by_country),
            TableSpec(
                "table-by-actor",
                "Stolen value by actor",
                aggregate(con, GroupBy.actor, verified=verified),
            ),
            TableSpec(
                "table-by-victim-type",
                "Stolen value by victim type",
                aggregate(con, GroupBy.victim_type, verified=verified),
            ),
            TableSpec("table-reconcile", "Published figures beside ours", reconciled),
            TableSpec("table-incidents", "Incidents", incidents),
        ],
        sources=sources,
    )


@contextmanager
def figures(con: duckdb.DuckDBPyConnection) -> Iterator[list[tuple[str, str, Figure]]]:
    """The report's charts as (id, title, figure), closed afterwards."""
    by_country = [
        (str(r["country"]), int(r["stolen_usd"])) for r in aggregate(con, GroupBy.country)
    ]
    points = [
        (day, str(name), int(usd), str(actor))
        for day, name, usd, actor in con.execute(
            "SELECT date, name, usd_value, actor FROM incidents WHERE usd_value > 0"
        ).fetchall()
    ]
    made = [
        (
            "chart-by-year-actor",
            "Stolen value per year by actor",
            charts.by_year_and_actor(totals_by_year_and(con, GroupBy.actor)),
        ),
        (
            "chart-by-country",
            "Stolen value by victim country (Japan highlighted)",
            charts.by_country(by_country, HIGHLIGHT_COUNTRY),
        ),
        ("chart-over-time", "Incidents over time", charts.over_time(points)),
    ]
    try:
        yield made
    finally:
        for _, _, fig in made:
            charts.close(fig)


def write_landscape(con: duckdb.DuckDBPyConnection, out: Path) -> dict[str, Path]:
    """Write the charts, the HTML page and the PDF into `out`; return their paths."""
    out.mkdir(parents=True, exist_ok=True)
    data = gather(con)
    written: dict[str, Path] = {}
    with figures(con) as made:
        rendered = []
        for chart_id, title, fig in made:
            png, svg = charts.save(fig, out / "charts", chart_id)
            written[f"{chart_id}.png"], written[f"{chart_id}.svg"] = png, svg
            rendered.append(Chart(chart_id, title, png.read_bytes()))
    written["pdf"] = render_pdf(data, rendered, out / "landscape.pdf")
    written["html"] = render_html(data, rendered, out / "landscape.html")
    return written
