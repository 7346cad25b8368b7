"""`chainsleuth tags ...` end to end: detection, atomic failures, filters, export/import."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from chainsleuth.interfaces.cli.main import app

PACKS = Path("tags/graphsense-tagpacks/packs")


def _run(db: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["--db", str(db), "-q", *args])
    return result.exit_code, result.output


def test_import_list_export_reimport(db_path: Path, tmp_path: Path, shared_data: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("title: t\ncreator: c\ntags:\n- address: x\n  label: y\n")
    code, out = _run(
        db_path,
        "-f",
        "json",
        "tags",
        "import",
        str(shared_data / PACKS / "lazarus.yaml"),
        str(bad),
        str(shared_data / "tags/ofac/eth-ultrasound/data.csv"),
        str(shared_data / "tags/ofac/0xb10c-lists/sanctioned_addresses_XBT.txt"),
    )
    assert code == 2  # one file failed; the others are stored
    imported = json.loads(out[out.index("[") :])
    assert [(r["kind"], r["tags"]) for r in imported] == [
        ("tagpack", 21),
        ("ofac-csv", 97),
        ("ofac-list", 435),  # one of them a Tron address OFAC lists as XBT: kept on tron
    ]
    code, out = _run(
        db_path, "tags", "list", "--actor", "lazarusgroup", "--chain", "ethereum", "-f", "json"
    )
    rows = json.loads(out)
    assert code == 0 and {r["chain"] for r in rows} == {"ethereum"}
    assert {r["tagpack"] for r in rows} == {"lazarus", "ofac-csv-data"}  # OFAC name -> actor
    for fmt in ("tagpack", "csv", "json"):
        out_file = tmp_path / f"export.{'yaml' if fmt == 'tagpack' else fmt}"
        code, _ = _run(db_path, "tags", "export", "--format", fmt, "--out", str(out_file))
        assert code == 0
        other = tmp_path / f"{fmt}.duckdb"
        code, out = _run(other, "-f", "json", "tags", "import", str(out_file))
        assert code == 0, out
        # every source's tags, including the address two name ("Lazarus group" and
        # "LAZARUS GROUP": one claim each, not a duplicate) and the Tron one
        assert sum(r["tags"] for r in json.loads(out)) == 21 + 97 + 435
    lazarus = str(shared_data / PACKS / "lazarus.yaml")
    code, out = _run(db_path, "-f", "json", "tags", "import", "--diff", lazarus)
    (again,) = json.loads(out)
    assert (again["added_addresses"], again["removed_addresses"], again["changed"]) == ([], [], 0)
    code, out = _run(db_path, "-f", "json", "tags", "conflicts")
    assert code == 0 and json.loads(out) == []
