"""`report incident ID`: facts, assets, seeds and sources, checked by rendering."""

from __future__ import annotations

from html.parser import HTMLParser
from importlib import resources
from pathlib import Path

import pytest
import yaml
from PIL import Image
from typer.testing import CliRunner

from chainsleuth.errors import NotFoundError
from chainsleuth.interfaces.cli.main import app

DMM_TX = "975ec405ac9dc9fa5ab8009d94d6a1fe31dff8a8127ea90d023104e52754e4d7"


class Page(HTMLParser):
    """Contents links, table row counts, and source list items."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.rows: dict[str, int] = {}
        self.sources = 0
        self._table: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "a" and a.get("href", "").startswith("#"):
            self.links.append(a["href"][1:])
        if tag == "table":
            self._table = a["id"]
            self.rows[self._table] = -1  # the header row
        if tag == "tr" and self._table is not None:
            self.rows[self._table] += 1
        if tag == "li" and a.get("class") == "source":
            self.sources += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._table = None


def test_incident_report(tmp_path: Path) -> None:
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
    page.feed((out / "dmm-bitcoin-2024.html").read_text(encoding="utf-8"))
    assert page.links == ["table-facts", "table-assets", "table-seeds", "sources"]
    assert page.rows["table-assets"] == 1 and page.rows["table-seeds"] == 2
    assert page.sources == len(record["sources"])

    pdfium = pytest.importorskip("pypdfium2")
    pdf = pdfium.PdfDocument(str(out / "dmm-bitcoin-2024.pdf"))
    png = tmp_path / "page1.png"
    pdf[0].render(scale=1).to_pil().save(png)
    with Image.open(png) as image:
        grey = image.convert("L")
        assert sum(grey.histogram()[:128]) > 0.005 * grey.width * grey.height
    text = "".join(p.get_textpage().get_text_range() for p in pdf).replace("\r\n", "")
    for expected in (
        "DMM Bitcoin theft",
        "4502.9",
        "450290000000",
        DMM_TX,
        "Sources",
        "$305,800,000",
    ):
        assert expected in text.replace("\n", ""), expected


def test_unknown_incident(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["--db", str(tmp_path / "s.duckdb"), "report", "incident", "nope", "--out", str(tmp_path)],
    )
    assert isinstance(result.exception, NotFoundError)
