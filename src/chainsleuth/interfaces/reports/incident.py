"""The incident report: one incident's facts, its amounts checked against the chain, the
trace of its stolen funds and the evidence behind it, as a self-contained HTML page and a
PDF (`report incident ID --out DIR`).

    out/<id>.html                      facts, verification, trace, evidence, sources
    out/<id>.pdf                       the same, with static charts
    out/charts/<id>-<chain>-*.png|svg  timeline, Sankey and flow graph of each traced chain
    out/<id>-<chain>-trace.html        the interactive trace view (Sankey, draggable graph)
    out/<id>-<chain>-trace.graphml     every edge of the trace, for Gephi or Cytoscape
    out/<id>-<chain>-edges.csv         every edge with its provenance

The trace runs on the store (`incident_trace.trace_sections`) from the incident's seeds when
its chain data is there; otherwise the report says so in place of the trace.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import duckdb
from markupsafe import Markup
from reportlab.lib.units import cm  # type: ignore[import-untyped]
from reportlab.platypus import Image, KeepTogether, Paragraph, Spacer  # type: ignore[import-untyped]
from reportlab.platypus.flowables import Flowable  # type: ignore[import-untyped]

from chainsleuth.analytics.tracing.taint import Model
from chainsleuth.interfaces.output import percent, to_jsonable
from chainsleuth.interfaces.reports import charts, trace_charts
from chainsleuth.interfaces.reports.html import STYLE, TABLE_MACRO, environment
from chainsleuth.interfaces.reports.incident_trace import (
    DEFAULT_MAX_HOPS,
    TraceSection,
    trace_sections,
)
from chainsleuth.interfaces.reports.model import Chart, TableSpec
from chainsleuth.interfaces.reports.pdf import (
    MAX_CHART_HEIGHT,
    STYLES,
    WIDTH,
    build_pdf,
    table_flowables,
    text_flowables,
)
from chainsleuth.interfaces.trace_export import edge_rows, to_graphml, to_html
from chainsleuth.services.incidents.repository import show_incident
from chainsleuth.services.incidents.verify import verify_incident

FACTS = (
    "id", "name", "date", "date_precision", "victim_name", "victim_type", "victim_country",
    "usd_value", "valuation", "valuation_note", "usd_at_daily_close", "actor", "confidence",
    "attributed_by", "disputed", "attribution_note", "notes", "source_file",
)  # fmt: skip
VIEW_EDGES = 300
"""Edges shown in the interactive flow graph (the largest); GraphML and CSV hold them all."""

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
{% endfor %}{% for s in sections %}<li><a href="#{{ s.id }}">{{ s.title }}</a>
{%- if s.items %}<ol>{% for id, title in s.items %}<li><a href="#{{ id }}">{{ title }}</a></li>
{% endfor %}</ol>{% endif %}</li>
{% endfor %}<li><a href="#sources">Sources</a></li></ol></nav>
{% for t in tables %}<section><h2>{{ t.title }}</h2>{{ table(t) }}</section>
{% endfor %}
{% for s in sections %}<section id="{{ s.id }}" class="trace"><h2>{{ s.title }}</h2>
<p class="note">{{ s.summary }}</p>
{% for c in s.charts %}<h3>{{ c.title }}</h3>
<img id="{{ c.id }}" alt="{{ c.title }}" src="data:image/png;base64,{{ c.png | b64 }}">
{% endfor %}
{% if s.view %}<h3 id="{{ s.view_id }}-title">Interactive view: Sankey and flow graph</h3>
<p class="note">{{ s.view_note }}</p>
<iframe id="{{ s.view_id }}" title="interactive trace" style="width: 100%; height: 1500px;
border: 1px solid #ddd" srcdoc="{{ s.view }}"></iframe>{% endif %}
{% for t in s.tables %}<h3>{{ t.title }}</h3>{{ table(t) }}
{% endfor %}</section>
{% endfor %}
<section id="sources"><h2>Sources</h2><ol>
{% for s in r.sources %}<li class="source">{% if s.source.startswith('http') -%}
<a href="{{ s.source }}">{{ s.source }}</a>{% else %}{{ s.source }}{% endif %}</li>
{% endfor %}</ol></section>
</body>
</html>
"""
)


@dataclass
class Rendered:
    """A chain's part of the report, ready for HTML and PDF."""

    id: str
    title: str
    summary: str
    charts: list[Chart]
    tables: list[TableSpec]
    view: str = ""
    view_id: str = ""
    view_note: str = ""

    @property
    def items(self) -> list[tuple[str, str]]:
        """(id, title) of each chart and table, for the contents list."""
        found = [(c.id, c.title) for c in self.charts]
        if self.view:
            found.append((self.view_id, "Interactive view: Sankey and flow graph"))
        return found + [(t.id, t.title) for t in self.tables]


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


def _tables(record: dict[str, Any], verified: dict[str, Any]) -> list[TableSpec]:
    facts = [{"field": key, "value": _fact(key, record[key])} for key in FACTS]
    checks = [
        {k: v for k, v in c.items()} for c in verified["assets"] if c["status"] != "no_chain_data"
    ]
    return [
        TableSpec("table-facts", "Facts", facts),
        TableSpec("table-assets", "Assets taken (whole and base units)", record["assets"]),
        TableSpec("table-seeds", "Seeds for tracing", record["seeds"]),
        TableSpec(
            "table-verify",
            f"Amounts recomputed from the chain data ({verified['status']})",
            checks,
        ),
    ]


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _summary(s: TraceSection) -> str:
    t, seed = s.trace, int(s.trace["seed"]["amount"])
    at_endpoints = sum(int(e["amount"]) for e in t["endpoints"])
    top = s.by_service[0] if s.by_service else None
    assets = t["seed"].get("assets", {})
    if len(assets) > 1:  # base units of several assets do not add up: by value, if priced
        value = t["seed"].get("value_usd")
        carrying = f"{len(assets)} assets" + (
            "" if value is None else f" worth ${value:,.0f} at the seed day's closes"
        )
        shares = [e["share"] for e in t["endpoints"] if e["share"] is not None]
        reached = (
            f"{percent(sum(shares))} of that value"
            if value is not None
            else "Tainted value (not priced: no closes imported for every asset)"
        )
    else:
        carrying = f"{s.whole(seed)} {s.asset}"
        reached = f"{s.whole(at_endpoints)} {s.asset} ({100 * at_endpoints / (seed or 1):.2f}%)"
    text = (
        f"Traced forward on {s.chain} from {_count(len(s.seeds['seeds']), 'seed')} "
        f"({s.seeds['basis'].replace('_', ' ')}) carrying {carrying}, with the "
        f"{t['model']} taint model over at most {s.params['max_hops']} hops ({t['hops']} "
        f"reached). {reached} reached {len(t['endpoints'])} endpoint "
        f"entities of {len(s.by_service)} cash-out services"
    )
    if top:
        text += f"; the largest is {top['label']} with {top['amount_units']} {s.asset}"
    usd = [service["usd_at_arrival"] for service in s.by_service]
    if usd and all(v is not None for v in usd):
        text += f" (cash-outs worth ${sum(usd):,} at the daily closes of the days they arrived)"
    r = t["remainder"]
    text += (
        f". Still held: {s.whole(int(r['held_total']))}; fees: {s.whole(int(r['fees']))}; "
        f"beyond the hop limit: {s.whole(int(r['beyond_max_hops']))}; below the amount "
        f"threshold: {s.whole(int(r['below_threshold']))} {s.asset}."
    )
    others = [
        f"{asset}: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in figures.items() if v)
        for asset, figures in r.get("by_asset", {}).items()
        if asset != s.asset and any(figures.values())
    ]
    if others:
        text += f" In the other assets traced (base units): {'; '.join(others)}."
    if t["flags"]:
        text += f" Flags: {', '.join(t['flags'])}."
    return text


def _endpoint_rows(s: TraceSection) -> list[dict[str, Any]]:
    return [
        {
            "entity": e["entity"],
            "label": e["label"],
            "category": e["category"],
            "asset": e["asset"],
            "amount": int(e["amount"]),
            "amount_units": s.whole(int(e["amount"])),
            "share": percent(e["share"]),
            "addresses": len(e["addresses"]),
            "first_seen": e["first_seen"],
            "last_seen": e["last_seen"],
        }
        for e in s.trace["endpoints"]
    ]


def _remainder_rows(s: TraceSection) -> list[dict[str, Any]]:
    r = s.trace["remainder"]
    parts = [(label, k) for k, label in trace_charts.REMAINDER]
    return [
        {"part": label, "amount": int(r[k]), "amount_units": s.whole(int(r[k]))}
        for label, k in parts
    ]


def _edges_csv(trace: dict[str, Any]) -> str:
    rows = edge_rows(trace)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]) if rows else ["hop"])
    writer.writeheader()
    for row in rows:
        writer.writerow({k: to_jsonable(v) for k, v in row.items()})
    return buffer.getvalue()


def _figures(s: TraceSection, stem: str, out: Path) -> list[Chart]:
    seed = int(s.trace["seed"]["amount"])
    made = [
        (
            "sankey",
            "Sankey: seed to cash-out services and remainder",
            trace_charts.sankey(
                s.by_service,
                s.trace["remainder"],
                seed,
                lambda amount: f"{s.whole(int(amount))} {s.asset}",
            ),
        ),
    ]
    if s.trace["edges"]:
        made.append(
            (
                "flow-graph",
                "Flow graph of the largest tainted flows",
                trace_charts.flow_graph(s.trace),
            )
        )
    if s.timeline:
        made.append(
            (
                "timeline",
                f"Timeline of the laundering (per {s.bucket})",
                trace_charts.timeline(s.timeline, s.bucket, s.asset, s.decimals, seed),
            )
        )
    found = []
    for kind, title, fig in made:
        try:
            png, _ = charts.save(fig, out / "charts", f"{stem}-{kind}")
        finally:
            charts.close(fig)
        found.append(Chart(f"chart-{kind}-{s.chain}", title, png.read_bytes()))
    return found


def _render_section(s: TraceSection, incident_id: str, out: Path) -> Rendered:
    section_id, title = f"trace-{s.chain}", f"Trace of the stolen funds on {s.chain}"
    if not s.traced:
        return Rendered(section_id, title, s.reason, [], [])
    stem = f"{incident_id}-{s.chain}"
    (out / f"{stem}-trace.graphml").write_text(to_graphml(s.trace), encoding="utf-8")
    (out / f"{stem}-edges.csv").write_text(_edges_csv(s.trace), encoding="utf-8")
    largest = sorted(s.trace["edges"], key=lambda e: -int(e["amount"]))[:VIEW_EDGES]
    view = to_html({**s.trace, "edges": largest}, title=f"{incident_id}: trace on {s.chain}")
    (out / f"{stem}-trace.html").write_text(view, encoding="utf-8")
    view_note = (
        f"The flow graph shows the {len(largest)} largest of {len(s.trace['edges'])} tainted "
        f"flows; every edge with its provenance is in {stem}-edges.csv and {stem}-trace.graphml."
    )
    chain = s.chain
    tables = [
        TableSpec(f"table-services-{chain}", "Cash-out by service", s.by_service),
        TableSpec(f"table-endpoints-{chain}", "Endpoints (entities)", _endpoint_rows(s)),
        TableSpec(f"table-remainder-{chain}", "Remainder", _remainder_rows(s)),
        TableSpec(f"table-timeline-{chain}", f"Timeline per {s.bucket}", s.timeline),
        TableSpec(
            f"table-evidence-tags-{chain}",
            "Evidence: tags of the endpoint entities and seed addresses",
            s.evidence_tags,
        ),
        TableSpec(
            f"table-heuristics-{chain}", "Evidence: models and heuristics used", s.heuristics
        ),
    ]
    return Rendered(
        section_id,
        title,
        _summary(s),
        _figures(s, stem, out),
        [t for t in tables if t.rows],
        view=view,
        view_id=f"trace-view-{chain}",
        view_note=view_note,
    )


def _image(chart: Chart) -> list[Flowable]:
    image = Image(io.BytesIO(chart.png))
    scale = min(WIDTH / image.imageWidth, MAX_CHART_HEIGHT / image.imageHeight)
    image.drawWidth, image.drawHeight = image.imageWidth * scale, image.imageHeight * scale
    heading = Paragraph(escape(chart.title), STYLES["Heading3"])
    return [KeepTogether([heading, image]), Spacer(1, 0.3 * cm)]


def _pdf_story(
    record: dict[str, Any], tables: list[TableSpec], sections: list[Rendered]
) -> list[Flowable]:
    story: list[Flowable] = [
        Paragraph(escape(f"{record['name']} ({record['date']})"), STYLES["Title"])
    ]
    for spec in tables:
        story += table_flowables(spec)
    for s in sections:
        story.append(Paragraph(escape(s.title), STYLES["Heading1"]))
        story.append(Paragraph(escape(s.summary), STYLES["BodyText"]))
        story.append(Spacer(1, 0.3 * cm))
        for chart in s.charts:
            story += _image(chart)
        for spec in s.tables:
            story += table_flowables(spec)
    story += text_flowables("Sources", [s["source"] for s in record["sources"]])
    return story


def write_incident_report(
    con: duckdb.DuckDBPyConnection,
    incident_id: str,
    out: Path,
    *,
    model: Model = Model.haircut,
    max_hops: int = DEFAULT_MAX_HOPS,
    min_amount: float = 0.0,
) -> dict[str, Path]:
    """Write the report of `incident_id` into `out` (layout in the module docstring); the
    trace uses `model`, `max_hops` and `min_amount` (base units). NotFoundError for an
    unknown id."""
    record = show_incident(con, incident_id)
    verified = verify_incident(con, incident_id)
    tables = [t for t in _tables(record, verified) if t.rows]
    out.mkdir(parents=True, exist_ok=True)
    found = trace_sections(con, record, model=model, max_hops=max_hops, min_amount=min_amount)
    sections = [_render_section(s, incident_id, out) for s in found]
    html_path = out / f"{incident_id}.html"
    page = (
        environment()
        .from_string(TEMPLATE)
        .render(r=record, tables=tables, sections=sections, style=Markup(STYLE))
    )
    html_path.write_text(page, encoding="utf-8")
    pdf_path = build_pdf(
        out / f"{incident_id}.pdf",
        f"chainsleuth incident {incident_id}",
        _pdf_story(record, tables, sections),
    )
    written = {"html": html_path, "pdf": pdf_path}
    for s in found:
        if s.traced:
            stem = f"{incident_id}-{s.chain}"
            written[f"trace-{s.chain}"] = out / f"{stem}-trace.html"
            written[f"graphml-{s.chain}"] = out / f"{stem}-trace.graphml"
            written[f"edges-{s.chain}"] = out / f"{stem}-edges.csv"
    return written
