"""`report incident ID`: facts, verification, trace, timeline and evidence, checked by
rendering; on the shipped DMM record (no chain data) and on a simulated, ingested incident."""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
from html.parser import HTMLParser
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml
from PIL import Image
from typer.testing import CliRunner

from chainsleuth.errors import NotFoundError
from chainsleuth.interfaces.cli.main import app
from chainsleuth.sim.tagpack import SOURCE as SIM_SOURCE
from chainsleuth.store.db import connect
from tests.test_incidents_verify import simulated_incident

DMM_TX = "975ec405ac9dc9fa5ab8009d94d6a1fe31dff8a8127ea90d023104e52754e4d7"


class Page(HTMLParser):
    """Contents links, tables (rows of cells), images, iframes and source list items."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.rows: dict[str, int] = {}
        self.tables: dict[str, list[list[str]]] = {}
        self.images: dict[str, bytes] = {}
        self.frames: dict[str, str] = {}
        self.sources = 0
        self._table: str | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "a" and a.get("href", "").startswith("#"):
            self.links.append(a["href"][1:])
        if tag == "table":
            self._table = a["id"]
            self.rows[self._table] = -1  # the header row
            self.tables[self._table] = []
        if tag == "tr" and self._table is not None:
            self.rows[self._table] += 1
            self.tables[self._table].append([])
        if tag in ("td", "th") and self._table is not None:
            self._cell = []
        if tag == "img" and a.get("src", "").startswith("data:image/png;base64,"):
            self.images[a["id"]] = base64.b64decode(a["src"].split(",", 1)[1])
        if tag == "iframe":
            self.frames[a["id"]] = a.get("srcdoc", "")
        if tag == "li" and a.get("class") == "source":
            self.sources += 1

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._table is not None:
            self.tables[self._table][-1].append("".join(self._cell))
            self._cell = None
        if tag == "table":
            self._table = None

    def records(self, table: str) -> list[dict[str, str]]:
        """The rows of `table` as dicts keyed by its header."""
        header, *body = self.tables[table]
        return [dict(zip(header, row, strict=True)) for row in body]


def pdf_text_and_ink(pdf_path: Path, png: Path) -> tuple[str, float]:
    """All the PDF's text, and the share of dark pixels of its first page rendered to PNG."""
    pdfium = pytest.importorskip("pypdfium2")
    pdf = pdfium.PdfDocument(str(pdf_path))
    pdf[0].render(scale=1).to_pil().save(png)
    with Image.open(png) as image:
        grey = image.convert("L")
        ink = sum(grey.histogram()[:128]) / (grey.width * grey.height)
    text = "".join(p.get_textpage().get_text_range() for p in pdf)
    return text.replace("\r\n", "").replace("\n", ""), ink


def test_incident_report_without_chain_data(tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = ["report", "incident", "dmm-bitcoin-2024", "--out", str(out)]
    result = CliRunner().invoke(app, ["--db", str(tmp_path / "s.duckdb"), "-q", *args])
    assert result.exit_code == 0, result.output
    record = yaml.safe_load(
        (resources.files("chainsleuth") / "data" / "incidents" / "dmm-bitcoin-2024.yaml").read_text(
            encoding="utf-8"
        )
    )
    page = Page()
    html = (out / "dmm-bitcoin-2024.html").read_text(encoding="utf-8")
    page.feed(html)
    assert page.links == ["table-facts", "table-assets", "table-seeds", "trace-bitcoin", "sources"]
    assert page.rows["table-assets"] == 1 and page.rows["table-seeds"] == 2
    assert page.sources == len(record["sources"])
    assert "chain data of this incident is not in the store" in html
    assert not page.images and not page.frames and not (out / "charts").exists()

    text, ink = pdf_text_and_ink(out / "dmm-bitcoin-2024.pdf", tmp_path / "page1.png")
    assert ink > 0.005
    for expected in (
        "DMM Bitcoin theft",
        "4502.9",
        "450290000000",
        DMM_TX,
        "Sources",
        "$305,800,000",
        "is not in the store",
    ):
        assert expected in text, expected


# --- a simulated incident whose chain is ingested, clustered and tagged ---------------------


PRICES = {"2024-01-03": 42_000, "2024-01-04": 44_000}  # made-up closes for the simulated days


@pytest.fixture(scope="module")
def sim_report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from chainsleuth.sim.tagpack import write_tagpack

    root = tmp_path_factory.mktemp("sim-report")
    sim = simulated_incident(root)
    write_tagpack(sim["chain"] / "truth.json", root / "tags.yaml")
    out = root / "out"
    prices = root / "btc.csv"
    prices.write_text(
        "date,asset,close\n" + "".join(f"{day},BTC,{close}\n" for day, close in PRICES.items()),
        encoding="utf-8",
    )
    for command in (
        ["prices", "import", str(prices)],
        ["tags", "import", str(root / "tags.yaml")],
        ["cluster", "--chain", "bitcoin"],
        ["report", "incident", sim["id"], "--out", str(out)],
    ):
        result = CliRunner().invoke(app, ["--db", str(sim["db"]), "-q", *command])
        assert result.exit_code == 0, result.output
    page = Page()
    page.feed((out / f"{sim['id']}.html").read_text(encoding="utf-8"))
    return {**sim, "out": out, "page": page}


@pytest.mark.slow
def test_simulated_report_contents(sim_report: dict[str, Any]) -> None:
    page: Page = sim_report["page"]
    promised = [
        "chart-sankey-bitcoin",
        "chart-flow-graph-bitcoin",
        "chart-timeline-bitcoin",
        "trace-view-bitcoin",
        "table-services-bitcoin",
        "table-endpoints-bitcoin",
        "table-remainder-bitcoin",
        "table-timeline-bitcoin",
        "table-evidence-tags-bitcoin",
        "table-heuristics-bitcoin",
    ]
    for item in ["table-facts", "table-verify", "trace-bitcoin", *promised]:
        assert item in page.links, item
    for chart in promised[:3]:
        with Image.open(io.BytesIO(page.images[chart])) as image:
            assert image.width > 300 and image.height > 200
        stem = chart.removeprefix("chart-").removesuffix("-bitcoin")
        assert (sim_report["out"] / "charts" / f"{sim_report['id']}-bitcoin-{stem}.svg").is_file()
    view = page.frames["trace-view-bitcoin"]  # trace_export's interactive page, inlined
    assert 'id="sankey"' in view and 'id="graph"' in view
    (verified,) = page.records("table-verify")
    assert (verified["status"], verified["verified_base"]) == (
        "verified",
        str(sim_report["theft"]["stolen"]),
    )


@pytest.mark.slow
def test_simulated_report_endpoints_match_the_truth(sim_report: dict[str, Any]) -> None:
    page: Page = sim_report["page"]
    theft = sim_report["theft"]
    top = theft["endpoints"][0]  # truth: the cash-out entity that received the most
    endpoints = page.records("table-endpoints-bitcoin")
    assert endpoints[0]["label"] == top["label"]
    services = page.records("table-services-bitcoin")
    assert services[0]["label"] == top["label"]
    assert int(services[0]["amount"]) == pytest.approx(top["amount"], rel=0.05)
    true_labels = {e["label"].removesuffix(" (OTC desk)") for e in theft["endpoints"]}
    reported = {s["label"].removesuffix(" (OTC desk)") for s in services}
    assert {e["label"] for e in theft["endpoints"][:5]} <= reported
    assert reported - true_labels <= {theft["victim"]["label"]}


@pytest.mark.slow
def test_simulated_cash_outs_valued_on_their_days(sim_report: dict[str, Any]) -> None:
    page: Page = sim_report["page"]
    services = page.records("table-services-bitcoin")
    usd = [int(r["usd_at_arrival"].replace(",", "")) for r in services]
    for row, value in zip(services, usd, strict=True):
        btc = int(row["amount"]) / 1e8
        assert btc * min(PRICES.values()) - 1 <= value <= btc * max(PRICES.values()) + 1
    expected = sum(
        int(r["to_endpoints"]) / 1e8 * PRICES[r["hour"][:10]]
        for r in page.records("table-timeline-bitcoin")
    )
    assert sum(usd) == pytest.approx(expected, abs=len(services) + 1)
    html = (sim_report["out"] / f"{sim_report['id']}.html").read_text(encoding="utf-8")
    assert f"cash-outs worth ${sum(usd):,} at the daily closes" in html


@pytest.mark.slow
def test_simulated_report_timeline(sim_report: dict[str, Any]) -> None:
    page: Page = sim_report["page"]
    theft = sim_report["theft"]
    rows = page.records("table-timeline-bitcoin")
    assert rows and "hour" in rows[0]
    hours = [dt.datetime.fromisoformat(r["hour"].replace("Z", "+00:00")) for r in rows]
    stolen_at = dt.datetime.fromisoformat(theft["time"].replace("Z", "+00:00"))
    assert hours == sorted(hours)
    assert hours[0] >= stolen_at.replace(minute=0, second=0, tzinfo=hours[0].tzinfo)
    at_endpoints = sum(int(e["amount"]) for e in page.records("table-endpoints-bitcoin"))
    total = int(rows[-1]["to_endpoints_total"])
    assert total == pytest.approx(at_endpoints, abs=len(page.records("table-endpoints-bitcoin")))


@pytest.mark.slow
def test_simulated_report_evidence(sim_report: dict[str, Any]) -> None:
    page: Page = sim_report["page"]
    top = sim_report["theft"]["endpoints"][0]["label"]
    tags = page.records("table-evidence-tags-bitcoin")
    theirs = [t for t in tags if t["endpoint"] == top]
    assert theirs and all(t["source"] == SIM_SOURCE for t in theirs)
    assert {t["confidence"] for t in theirs} == {"ownership"}
    seed = [t for t in tags if t["endpoint"] == "(seed)"]
    assert [(t["category"], t["example_address"]) for t in seed] == [
        ("perpetrator", sim_report["theft"]["seed"]["addresses"][0])
    ]
    used = {(h["kind"], h["name"]) for h in page.records("table-heuristics-bitcoin")}
    assert ("taint model", "haircut") in used and ("seeds", "theft_outputs") in used
    assert any(kind == "clustering heuristic" for kind, _ in used)
    assert any(kind == "coinjoin detection" for kind, _ in used)  # the theft crosses a CoinJoin


@pytest.mark.slow
def test_simulated_report_pdf_and_files(sim_report: dict[str, Any], tmp_path: Path) -> None:
    out, incident_id = sim_report["out"], sim_report["id"]
    text, ink = pdf_text_and_ink(out / f"{incident_id}.pdf", tmp_path / "page1.png")
    assert ink > 0.005
    top = sim_report["theft"]["endpoints"][0]["label"]
    for expected in ("Trace of the stolen funds on bitcoin", "Cash-out by service", top):
        assert expected in text, expected
    edges = (out / f"{incident_id}-bitcoin-edges.csv").read_text().splitlines()
    assert edges[0].startswith("hop,tx_hash,from,to") and len(edges) > 10
    assert "<graphml" in (out / f"{incident_id}-bitcoin-trace.graphml").read_text()


@pytest.mark.slow
def test_report_trace_options(sim_report: dict[str, Any], tmp_path: Path) -> None:
    from chainsleuth.analytics.tracing.taint import Model
    from chainsleuth.interfaces.reports.incident import write_incident_report

    con = connect(sim_report["db"])
    try:
        write_incident_report(con, sim_report["id"], tmp_path, model=Model.fifo, max_hops=2)
    finally:
        con.close()
    page = Page()
    page.feed((tmp_path / f"{sim_report['id']}.html").read_text(encoding="utf-8"))
    used = {h["kind"]: h for h in page.records("table-heuristics-bitcoin")}
    assert used["taint model"]["name"] == "fifo"
    assert "max hops 2" in used["limits"]["used"]
    cut = {r["part"]: int(r["amount"]) for r in page.records("table-remainder-bitcoin")}
    assert cut["beyond max hops"] > 0


def test_unknown_incident(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["--db", str(tmp_path / "s.duckdb"), "report", "incident", "nope", "--out", str(tmp_path)],
    )
    assert isinstance(result.exception, NotFoundError)


@pytest.mark.slow
def test_simulated_ethereum_incident(tmp_path: Path) -> None:
    """An Ethereum theft with tokens: every asset verified, and the report traces it."""
    from chainsleuth.ingest.common import IngestOptions
    from chainsleuth.ingest.ethereum_etl import ingest_eth_etl
    from chainsleuth.sim.ethereum import EthSimConfig, simulate_ethereum
    from chainsleuth.sim.incident import write_incidents
    from chainsleuth.sim.tagpack import write_tagpack

    chain_dir, db = tmp_path / "chain", tmp_path / "store.duckdb"
    simulate_ethereum(chain_dir, EthSimConfig(rounds=6, users=12, intermediaries=40, seed=3))
    con = connect(db)
    ingest_eth_etl(con, chain_dir, IngestOptions())
    con.close()
    truth = json.loads((chain_dir / "truth.json").read_text(encoding="utf-8"))
    theft = truth["thefts"][0]
    (path,) = write_incidents(chain_dir / "truth.json", tmp_path / "incidents")
    incident_id, out = path.stem, tmp_path / "out"
    write_tagpack(chain_dir / "truth.json", tmp_path / "tags.yaml")
    for command in (
        ["tags", "import", str(tmp_path / "tags.yaml")],
        ["incidents", "import", str(tmp_path / "incidents")],
        ["report", "incident", incident_id, "--out", str(out)],
    ):
        result = CliRunner().invoke(app, ["--db", str(db), "-q", *command])
        assert result.exit_code == 0, result.output
    result = CliRunner().invoke(
        app, ["--db", str(db), "incidents", "verify", incident_id, "-f", "json"]
    )
    data = json.loads(result.output)
    symbols = {c: t["symbol"] for c, t in truth["tokens"].items()}
    expected = {"ETH": theft["stolen"]} | {
        symbols[c]: amount for c, amount in theft["stolen_tokens"].items()
    }
    assert data["status"] == "verified"
    assert {c["asset"]: c["verified_base"] for c in data["assets"]} == expected
    page = Page()
    html = (out / f"{incident_id}.html").read_text(encoding="utf-8")
    page.feed(html)
    assert "table-endpoints-ethereum" in page.links and "chart-timeline-ethereum" in page.images
    # ETH and tokens are not added up in base units: the summary counts the assets.
    assert f"carrying {1 + len(theft['stolen_tokens'])} assets" in html
    tagged = {e["label"] for e in theft["endpoints"] if e["kind"] in ("exchange", "otc")}
    assert tagged and tagged <= {s["label"] for s in page.records("table-services-ethereum")}
    (seeds,) = [h for h in page.records("table-heuristics-ethereum") if h["kind"] == "seeds"]
    assert seeds["name"] == "theft_txs"


def test_report_on_a_theft_not_yet_moved(tmp_path: Path) -> None:
    """Stolen coins still on the thief's address: a trace with no flows, all still held."""
    from tests.chainbuilder import chain, ingest
    from tests.test_incidents_verify import COINBASE, STOLEN, THEFT, btc, incident, seeds

    db = tmp_path / "s.duckdb"
    con = connect(db)
    ingest(
        con,
        chain(
            [{"id": COINBASE, "ins": [], "outs": [("victim-hot", STOLEN + 1_000)]}],
            [
                {
                    "id": THEFT,
                    "ins": [(COINBASE, 0)],
                    "outs": [("thief", STOLEN), ("victim-hot", 1_000)],
                }
            ],
        ),
    )
    con.close()
    files = tmp_path / "incidents"
    files.mkdir()
    incident(files, "sim-still", assets=btc("4502.9"), seeds=seeds(THEFT, "thief"))
    out = tmp_path / "out"
    for command in (
        ["incidents", "import", str(files)],
        ["report", "incident", "sim-still", "--out", str(out)],
    ):
        result = CliRunner().invoke(app, ["--db", str(db), "-q", *command])
        assert result.exit_code == 0, result.output
    page = Page()
    page.feed((out / "sim-still.html").read_text(encoding="utf-8"))
    assert set(page.images) == {"chart-sankey-bitcoin"}  # no flows: no graph, no timeline
    remainder = {r["part"]: r["amount"] for r in page.records("table-remainder-bitcoin")}
    assert remainder["still held"] == str(STOLEN)
