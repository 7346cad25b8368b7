"""`report landscape` checked by rendering: the PDF's first page as pixels, every chart and
table the HTML page promises, the chart files."""

from __future__ import annotations

import base64
from html.parser import HTMLParser
from importlib import resources
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from PIL import Image
from typer.testing import CliRunner

from chainsleuth.interfaces.cli.main import app

pytestmark = pytest.mark.slow

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
CHARTS = {"chart-by-year-actor", "chart-by-country", "chart-over-time"}
TABLES = {
    "table-by-year",
    "table-by-country",
    "table-by-actor",
    "table-by-victim-type",
    "table-reconcile",
    "table-incidents",
}
HIGHLIGHT = (0xC0, 0x39, 0x2B)  # Japan's bar


class Page(HTMLParser):
    """Collects the contents links, images, tables (with row counts) and external refs."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.images: dict[str, str] = {}
        self.tables: dict[str, int] = {}
        self.ids: set[str] = set()
        self.external: list[str] = []
        self._table: str | None = None
        self._in_body = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "a" and a.get("href", "").startswith("#"):
            self.links.append(a["href"][1:])
        if tag == "img":
            self.images[a.get("id", "")] = a.get("src", "")
        if tag in ("img", "script", "link") and (a.get("src") or a.get("href", "")).startswith(
            "http"
        ):
            self.external.append(tag)
        if tag == "table":
            self._table = a.get("id", "")
            self.tables[self._table] = 0
        if tag == "tbody":
            self._in_body = True
        if tag == "tr" and self._table is not None and self._in_body:
            self.tables[self._table] += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._table, self._in_body = None, False


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("landscape")
    out = base / "out"
    result = CliRunner().invoke(
        app, ["--db", str(base / "store.duckdb"), "-q", "report", "landscape", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    return out


def test_pdf_first_page_renders_to_a_non_empty_png(report: Path, tmp_path: Path) -> None:
    pdfium = pytest.importorskip("pypdfium2")
    pdf = pdfium.PdfDocument(str(report / "landscape.pdf"))
    assert len(pdf) >= 5
    png = tmp_path / "page1.png"
    pdf[0].render(scale=1).to_pil().save(png)
    assert png.read_bytes().startswith(PNG_MAGIC)
    with Image.open(png) as image:
        grey = image.convert("L")
        dark = sum(grey.histogram()[:128])
        assert dark > 0.005 * grey.width * grey.height  # text and a table, not a blank page
    text = "".join(page.get_textpage().get_text_range() for page in pdf)
    for heading in (
        "Stolen value per year by actor",
        "Stolen value by victim country (Japan highlighted)",
        "Incidents over time",
        "Published figures beside ours",
        "Sources",
    ):
        assert heading in text
    assert "https://www.ic3.gov/psa/2025/psa250226" in text.replace("\r\n", "").replace("\n", "")


def test_html_has_every_promised_chart_and_table(report: Path) -> None:
    page = Page()
    page.feed((report / "landscape.html").read_text(encoding="utf-8"))
    assert set(page.links) == CHARTS | TABLES | {"sources"}
    assert set(page.links) <= page.ids
    for chart in CHARTS:
        prefix = "data:image/png;base64,"
        assert page.images[chart].startswith(prefix)
        assert base64.b64decode(page.images[chart][len(prefix) :]).startswith(PNG_MAGIC)
    for table in TABLES:
        assert page.tables[table] > 0, table
    incidents = len(list((resources.files("chainsleuth") / "data" / "incidents").iterdir()))
    assert page.tables["table-incidents"] == incidents
    assert page.external == []  # self-contained


def test_chart_files_and_japan_highlight(report: Path) -> None:
    for chart in CHARTS:
        assert (report / "charts" / f"{chart}.png").read_bytes().startswith(PNG_MAGIC)
        root = ET.parse(report / "charts" / f"{chart}.svg").getroot()
        assert root.tag.endswith("svg")
    with Image.open(report / "charts" / "chart-by-country.png") as image:
        colours = image.convert("RGB").getcolors(maxcolors=1 << 20) or []
    assert any(colour == HIGHLIGHT for _, colour in colours)
