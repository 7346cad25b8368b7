"""The landscape report as a PDF, laid out with reportlab (pure PyPI, no system libraries).

Pages: a summary with the yearly table, the charts (the PNGs also written to disk), every
table (long ones continue over pages with their header repeated), the reasons behind the
reconciliation gaps, and the sources.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors  # type: ignore[import-untyped]
from reportlab.lib.pagesizes import A4  # type: ignore[import-untyped]
from reportlab.lib.styles import getSampleStyleSheet  # type: ignore[import-untyped]
from reportlab.lib.units import cm  # type: ignore[import-untyped]
from reportlab.platypus import (  # type: ignore[import-untyped]
    Image,
    KeepTogether,
    PageBreak,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)
from reportlab.platypus.flowables import Flowable  # type: ignore[import-untyped]

from chainsleuth.interfaces.output import to_jsonable
from chainsleuth.interfaces.reports.model import Chart, Landscape, TableSpec

WIDTH = A4[0] - 3 * cm
MAX_CHART_HEIGHT = A4[1] - 6 * cm
MAX_CHARS = 30
OMIT = {"reasons"}
STYLES = getSampleStyleSheet()
CELL = STYLES["BodyText"].clone("cell", fontSize=6.5, leading=8)
SMALL = STYLES["BodyText"].clone("small", fontSize=7.5, leading=9.5)


def _text(value: Any, key: str) -> str:
    value = to_jsonable(value)
    if value is None:
        return ""
    if isinstance(value, int) and not isinstance(value, bool) and "usd" in key:
        return f"{value:,}"
    return str(value)


def _widths(columns: list[str], texts: list[list[str]]) -> list[float]:
    """Column widths in proportion to their longest text, capped, filling the page."""
    longest = [
        3 + min(MAX_CHARS, max([min(len(c), 12), 5] + [len(row[i]) for row in texts]))
        for i, c in enumerate(columns)
    ]
    total = sum(longest) or 1
    return [WIDTH * n / total for n in longest]


def table_flowables(spec: TableSpec) -> list[Flowable]:
    """A heading and the table of `spec`, its header repeated on every page it spans."""
    columns = [k for k in (spec.rows[0] if spec.rows else {}) if k not in OMIT]
    texts = [[_text(row[c], c) for c in columns] for row in spec.rows]
    cells = [[Paragraph(f"<b>{escape(c)}</b>", CELL) for c in columns]]
    cells += [[Paragraph(escape(text), CELL) for text in row] for row in texts]
    table = Table(cells, repeatRows=1, colWidths=_widths(columns, texts))
    table.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.25, colors.lightgrey),
                ("BACKGROUND", (0, 0), (-1, 0), colors.whitesmoke),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]
        )
    )
    return [Paragraph(escape(spec.title), STYLES["Heading2"]), table, Spacer(1, 0.4 * cm)]


def _chart(chart: Chart) -> list[Flowable]:
    image = Image(io.BytesIO(chart.png))
    scale = min(WIDTH / image.imageWidth, MAX_CHART_HEIGHT / image.imageHeight)
    image.drawWidth, image.drawHeight = image.imageWidth * scale, image.imageHeight * scale
    heading = Paragraph(escape(chart.title), STYLES["Heading2"])
    return [KeepTogether([heading, image]), Spacer(1, 0.4 * cm)]


def text_flowables(title: str, lines: Sequence[str]) -> list[Flowable]:
    """A heading and one small paragraph per line."""
    return [Paragraph(escape(title), STYLES["Heading2"])] + [
        Paragraph(escape(line), SMALL) for line in lines
    ]


def build_pdf(path: Path, title: str, story: list[Flowable]) -> Path:
    """Lay out `story` on A4 pages with `title` and the page number in the footer."""

    def footer(canvas: Any, doc: Any) -> None:
        canvas.setFont("Helvetica", 7)
        canvas.drawRightString(A4[0] - 1.5 * cm, 1 * cm, f"{title}, p. {doc.page}")

    doc = SimpleDocTemplate(
        str(path),
        pagesize=A4,
        leftMargin=1.5 * cm,
        rightMargin=1.5 * cm,
        topMargin=1.5 * cm,
        bottomMargin=1.5 * cm,
        title=title,
        author="chainsleuth",
    )
    doc.build(story, onFirstPage=footer, onLaterPages=footer)
    return path


def render_pdf(data: Landscape, charts: Sequence[Chart], path: Path) -> Path:
    """Write the PDF to `path` and return it."""
    title = f"DPRK-attributed crypto thefts {data.first_year}–{data.last_year}: landscape"
    summary = (
        f"{data.incidents} incidents, ${data.stolen_usd:,} stolen in total (USD at the time of "
        f"each theft); victims in Japan: ${data.japan_usd:,}. Generated "
        f"{data.generated.isoformat()} by chainsleuth from its sourced incident database. "
        "Disputed attributions are included and flagged; the reconciliation explains the gaps "
        "with published figures."
    )
    by_year = next(t for t in data.tables if t.id == "table-by-year")
    others = [t for t in data.tables if t is not by_year]
    story: list[Flowable] = [
        Paragraph(escape(title), STYLES["Title"]),
        Paragraph(escape(summary), STYLES["BodyText"]),
        Spacer(1, 0.4 * cm),
        *table_flowables(by_year),
        PageBreak(),
    ]
    for chart in charts:
        story += _chart(chart)
    story.append(PageBreak())
    for spec in others:
        story += table_flowables(spec)
    reconciled = next(t for t in data.tables if t.id == "table-reconcile")
    story += text_flowables(
        "Reasons for the differences with published figures",
        [f"{r['id']} ({r['status']}): {r['reasons']}" for r in reconciled.rows],
    )
    story += text_flowables("Sources", [f"{what}: {source}" for what, source in data.sources])
    return build_pdf(path, "chainsleuth landscape report", story)
