"""The landscape report as one self-contained HTML page (jinja2; CSS and images inlined).

The contents list at the top names every chart and table the page promises; each entry
links to the element of the same id.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup, escape

from chainsleuth.interfaces.output import to_jsonable
from chainsleuth.interfaces.reports.model import Chart, Landscape

STYLE = """<style>
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; color: #222; }
h1 { font-size: 1.6em; } h2 { margin-top: 2em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
th, td { border: 1px solid #ddd; padding: 3px 6px; text-align: left; vertical-align: top; }
th { background: #f4f4f4; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
img { max-width: 100%; } .note { color: #555; font-size: 0.9em; }
li.source { font-size: 0.85em; word-break: break-all; }
</style>"""

TABLE_MACRO = """{% macro table(t) -%}
<table id="{{ t.id }}">
<thead><tr>{% for k in t.rows[0].keys() if t.rows %}<th>{{ k }}</th>{% endfor %}</tr></thead>
<tbody>
{% for row in t.rows %}<tr>{% for k, v in row.items() %}{{ v | cell(k) }}{% endfor %}</tr>
{% endfor %}</tbody>
</table>
{%- endmacro %}"""
"""A table of uniform rows with its id; numbers right-aligned, USD with separators."""

TEMPLATE = (
    TABLE_MACRO
    + """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>DPRK-attributed crypto thefts {{ d.first_year }}–{{ d.last_year }}: landscape</title>
{{ style }}
</head>
<body>
<h1>DPRK-attributed crypto thefts {{ d.first_year }}–{{ d.last_year }}</h1>
<p>{{ d.incidents }} incidents, {{ d.stolen_usd | usd }} stolen in total (USD at the time of
each theft); victims in Japan: {{ d.japan_usd | usd }}.
Generated {{ d.generated.isoformat() }} by chainsleuth from its sourced incident database.</p>
<p class="note">Values are as reported by the cited sources unless noted; attributions marked
disputed are included and flagged. The reconciliation table explains gaps with published
figures.</p>
<nav id="contents"><h2>Contents</h2><ol>
{% for c in charts %}<li><a href="#{{ c.id }}">{{ c.title }}</a></li>
{% endfor %}{% for t in d.tables %}<li><a href="#{{ t.id }}">{{ t.title }}</a></li>
{% endfor %}<li><a href="#sources">Sources</a></li>
</ol></nav>
{% for c in charts %}
<section><h2>{{ c.title }}</h2>
<img id="{{ c.id }}" alt="{{ c.title }}" src="data:image/png;base64,{{ c.png | b64 }}">
</section>
{% endfor %}
{% for t in d.tables %}
<section><h2>{{ t.title }}</h2>
{{ table(t) }}
</section>
{% endfor %}
<section id="sources"><h2>Sources</h2>
<ol>{% for what, source in d.sources %}
<li class="source"><b>{{ what }}</b>: {% if source.startswith('http') -%}
<a href="{{ source }}">{{ source }}</a>{% else %}{{ source }}{% endif %}</li>{% endfor %}
</ol>
</section>
</body>
</html>
"""
)


def _usd(value: int) -> str:
    return f"${value:,}"


def _cell(value: Any, key: str) -> Markup:
    value = to_jsonable(value)
    if isinstance(value, int) and not isinstance(value, bool) and "usd" in key:
        text, css = f"{value:,}", ' class="num"'
    elif isinstance(value, int) and not isinstance(value, bool):
        text, css = str(value), ' class="num"'
    else:
        text, css = "" if value is None else str(value), ""
    return Markup(f"<td{css}>{escape(text)}</td>")


def environment() -> jinja2.Environment:
    """The jinja2 environment of the reports: autoescaping, strict, with their filters."""
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    env.filters["usd"] = _usd
    env.filters["b64"] = lambda data: base64.b64encode(data).decode("ascii")
    env.filters["cell"] = _cell
    return env


def render_html(data: Landscape, charts: list[Chart], path: Path) -> Path:
    """Write the page to `path` and return it."""
    template = environment().from_string(TEMPLATE)
    html = template.render(d=data, charts=charts, style=Markup(STYLE))
    path.write_text(html, encoding="utf-8")
    return path
