"""A trace as files: GraphML for Gephi/Cytoscape and a self-contained interactive HTML view.

The HTML page embeds its data and script (no network access needed): a force-directed flow
graph of addresses (endpoints coloured by category) and a Sankey of the seed to its
endpoints and remainder.
"""

from __future__ import annotations

import json
from typing import Any
from xml.etree import ElementTree as ET

from jinja2 import Environment, PackageLoader, select_autoescape

from chainsleuth.interfaces.output import to_jsonable

#: Flows drawn in the HTML graph (the largest); every flow stays in the data formats.
MAX_DRAWN_EDGES = 300


def _nodes(trace: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Addresses of the flow graph with their role (seed, endpoint entity, intermediate)."""
    endpoint_of = {a["address"]: e for e in trace["endpoints"] for a in e["addresses"]}
    seeds = {i.get("address") for i in trace["seed"]["items"]}
    nodes: dict[str, dict[str, Any]] = {}
    for e in trace["edges"]:
        for addr in (e["from"], e["to"]):
            if addr in nodes:
                continue
            ep = endpoint_of.get(addr)
            nodes[addr] = {
                "id": addr,
                "role": "endpoint"
                if ep
                else ("seed" if addr in seeds or (e["hop"] == 1 and addr == e["from"]) else "hop"),
                "entity": ep["entity"] if ep else "",
                "label": ep["label"] if ep else "",
                "category": ep["category"] if ep else "",
            }
    return nodes


def to_graphml(trace: dict[str, Any]) -> str:
    """GraphML with node attributes (role, entity, label, category) and edge attributes."""
    ns = "http://graphml.graphdrawing.org/xmlns"
    root = ET.Element("graphml", xmlns=ns)
    keys = [
        ("role", "node", "string"),
        ("entity", "node", "string"),
        ("label", "node", "string"),
        ("category", "node", "string"),
        ("tx_hash", "edge", "string"),
        ("hop", "edge", "int"),
        ("asset", "edge", "string"),
        ("amount", "edge", "long"),
        ("time", "edge", "string"),
        ("rule", "edge", "string"),
    ]
    for name, domain, kind in keys:
        ET.SubElement(
            root, "key", id=name, attrib={"for": domain, "attr.name": name, "attr.type": kind}
        )
    graph = ET.SubElement(root, "graph", id="trace", edgedefault="directed")
    for node in _nodes(trace).values():
        el = ET.SubElement(graph, "node", id=node["id"])
        for k in ("role", "entity", "label", "category"):
            ET.SubElement(el, "data", key=k).text = str(node[k])
    for i, e in enumerate(trace["edges"]):
        el = ET.SubElement(graph, "edge", id=f"e{i}", source=e["from"], target=e["to"])
        values = {
            "tx_hash": e["tx_hash"],
            "hop": e["hop"],
            "asset": e["asset"],
            "amount": e["amount"],
            "time": to_jsonable(e["time"]) or "",
            "rule": e["provenance"]["rule"],
        }
        for k, v in values.items():
            ET.SubElement(el, "data", key=k).text = str(v)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")


def edge_rows(trace: dict[str, Any]) -> list[dict[str, Any]]:
    """The flow graph's edges as flat rows (CSV)."""
    return [
        {
            "hop": e["hop"],
            "tx_hash": e["tx_hash"],
            "from": e["from"],
            "to": e["to"],
            "chain": e["chain"],
            "asset": e["asset"],
            "amount": e["amount"],
            "time": e["time"],
            "rule": e["provenance"]["rule"],
            "flags": ";".join(e["provenance"]["flags"]),
        }
        for e in trace["edges"]
    ]


def to_html(trace: dict[str, Any], title: str = "chainsleuth trace") -> str:
    """The self-contained interactive page."""
    env = Environment(
        loader=PackageLoader("chainsleuth.interfaces", "templates"),
        autoescape=select_autoescape(["html"]),
    )
    largest = sorted(trace["edges"], key=lambda e: -e["amount"])[:MAX_DRAWN_EDGES]
    shown = {a for e in largest for a in (e["from"], e["to"])}
    nodes = [n for n in _nodes(trace).values() if n["id"] in shown]
    data = {
        "nodes": nodes,
        "links": [
            {
                "source": e["from"],
                "target": e["to"],
                "amount": e["amount"],
                "tx": e["tx_hash"],
                "hop": e["hop"],
            }
            for e in largest
        ],
        "endpoints": trace["endpoints"],
        "remainder": trace["remainder"],
        "seed": trace["seed"],
    }
    return env.get_template("trace.html.j2").render(
        title=title,
        trace=to_jsonable(trace),
        data_json=json.dumps(to_jsonable(data)).replace("</", "<\\/"),
        graph_note=(
            f"The {len(largest)} largest of {len(trace['edges'])} flows are drawn;"
            " all are in the JSON, CSV and GraphML outputs."
            if len(largest) < len(trace["edges"])
            else ""
        ),
    )
