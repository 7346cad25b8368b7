"""The incident report: one incident's facts, what was taken, its seeds and its sources, as
a self-contained HTML page and a PDF (`report incident ID --out DIR`).

    out/<id>.html    facts, assets, seeds, sources
    out/<id>.pdf     the same
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
from markupsafe import Markup
from reportlab.platypus import Paragraph  # type: ignore[import-untyped]

from chainsleuth.interfaces.reports.html import STYLE, TABLE_MACRO, environment
from chainsleuth.interfaces.reports.model import TableSpec
from chainsleuth.interfaces.reports.pdf import STYLES, build_pdf, table_flowables, text_flowables
from chainsleuth.services.incidents.repository import show_incident

FACTS = (
    "id", "name", "date", "date_precision", "victim_name", "victim_type", "victim_country",
    "usd_value", "valuation", "valuation_note", "usd_at_daily_close", "actor", "confidence",
    "attributed_by", "disputed", "attribution_note", "notes", "source_file",
)  # fmt: skip

TEMPLATE = (
    TABLE_MACRO
    + """<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>{{ r.name }} ({{ r.date }})</title>{{ style }}</head>
<body>
<h1>{{ r.name }}</h1>
<p>{{ r.date }}: {{ r.victim_name }} ({{ r.victim_type }}, {{ r.victim_country or "country
unknown" }}) lost {{ r.usd_value | usd if r.usd_value is not none else "an unvalued amount" }},
attributed to {{ r.actor }} ({{ r.confidence }} confidence{% if r.disputed %}, disputed{% endif
%}) by {{ r.attributed_by | join(", ") }}.</p>
<nav id="contents"><h2>Contents</h2><ol>
{% for t in tables %}<li><a href="#{{ t.id }}">{{ t.title }}</a></li>
{% endfor %}<li><a href="#sources">Sources</a></li></ol></nav>
{% for t in tables %}<section><h2>{{ t.title }}</h2>{{ table(t) }}</section>
{% endfor %}
<section id="sources"><h2>Sources</h2><ol>
{% for s in r.sources %}<li class="source">{% if s.source.startswith('http') -%}
<a href="{{ s.source }}">{{ s.source }}</a>{% else %}{{ s.source }}{% endif %}</li>
{% endfor %}</ol></section>
</body>
</html>
"""
)


def _fact(key: str, value: Any) -> str:
    """A fact as text: lists joined, yes/no, USD with separators."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, int) and key.startswith("usd"):
        return f"${value:,}"
    return str(value)


def _tables(record: dict[str, Any]) -> list[TableSpec]:
    facts = [{"field": key, "value": _fact(key, record[key])} for key in FACTS]
    return [
        TableSpec("table-facts", "Facts", facts),
        TableSpec("table-assets", "Assets taken (whole and base units)", record["assets"]),
        TableSpec("table-seeds", "Seeds for tracing", record["seeds"]),
    ]


def write_incident_report(
    con: duckdb.DuckDBPyConnection, incident_id: str, out: Path
) -> dict[str, Path]:
    """Write `<id>.html` and `<id>.pdf` into `out`; NotFoundError for an unknown id."""
    record = show_incident(con, incident_id)
    tables = [t for t in _tables(record) if t.rows]
    out.mkdir(parents=True, exist_ok=True)
    html_path = out / f"{incident_id}.html"
    page = environment().from_string(TEMPLATE).render(r=record, tables=tables, style=Markup(STYLE))
    html_path.write_text(page, encoding="utf-8")
    story = [Paragraph(f"{record['name']} ({record['date']})", STYLES["Title"])]
    for spec in tables:
        story += table_flowables(spec)
    story += text_flowables("Sources", [s["source"] for s in record["sources"]])
    pdf_path = build_pdf(out / f"{incident_id}.pdf", f"chainsleuth incident {incident_id}", story)
    return {"html": html_path, "pdf": pdf_path}
