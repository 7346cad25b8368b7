"""Bad incident files are rejected with the file and the field named."""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from chainsleuth.errors import InputError
from chainsleuth.interfaces.cli.main import app, run
from chainsleuth.services.incidents.loader import check_dir
from chainsleuth.services.incidents.model import AssetAmount

GOOD: dict[str, Any] = {
    "id": "example-2024",
    "name": "Example exchange theft",
    "date": "2024-05-31",
    "victim": {"name": "Example", "type": "centralised_exchange", "country": "JP"},
    "assets": [{"chain": "bitcoin", "asset": "BTC", "amount": "4502.9"}],
    "usd_value": 305800000,
    "valuation": "reported",
    "attribution": {"actor": "TraderTraitor", "confidence": "high", "attributed_by": ["FBI"]},
    "sources": ["https://www.ic3.gov/psa/2025/psa250226", "doc:UN Security Council S/2019/691"],
}


def write(directory: Path, record: dict[str, Any], name: str | None = None) -> Path:
    path = directory / f"{name or record['id']}.yaml"
    path.write_text(yaml.safe_dump(record), encoding="utf-8")
    return path


def variant(**changes: Any) -> dict[str, Any]:
    record = copy.deepcopy(GOOD)
    for dotted, value in changes.items():
        target = record
        *parents, last = dotted.split("__")
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        if isinstance(target, list):
            target[int(last)] = value
        else:
            target[last] = value
    return record


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"victim__country": "XX"}, "victim.country", "not an ISO 3166-1 alpha-2"),
        ({"victim__country": "jp"}, "victim.country", "not an ISO 3166-1 alpha-2"),
        ({"date": "2999-01-01"}, "date", "in the future"),
        ({"assets__0__asset": None}, "assets[0].asset", "needs the asset"),
        ({"assets__0__amount": 4502.9}, "assets[0].amount", "quoted decimal string"),
        ({"assets__0__amount": "12x"}, "assets[0].amount", "not a decimal number"),
        ({"assets__0__asset": "FOO"}, "assets[0].decimals", "unknown for asset 'FOO'"),
        ({"sources__1": "a newspaper article"}, "sources[1]", "neither an http(s) URL"),
        ({"sources__0": "ftp://example.org/x"}, "sources[0]", "neither an http(s) URL"),
        ({"sources": []}, "sources", "at least 1"),
        ({"attribution__disputed": True}, "attribution.note", "must say why"),
        ({"date": "2024-05-31", "date_precision": "month"}, "date", "first day"),
        ({"victim__type": "bank"}, "victim.type", "Input should be"),
        ({"usd_value": 1.5}, "usd_value", "integer"),
    ],
)
def test_bad_field_is_named(
    tmp_path: Path, changes: dict[str, Any], field: str, message: str
) -> None:
    path = write(tmp_path, variant(**changes))
    incidents, problems = check_dir(tmp_path)
    assert incidents == []
    assert [(p.file, p.field) for p in problems] == [(str(path), field)]
    assert message in problems[0].message


def test_good_record_and_units(tmp_path: Path) -> None:
    write(tmp_path, GOOD)
    (incident,), problems = check_dir(tmp_path)
    assert problems == []
    assert incident.assets[0].base_units == 450_290_000_000
    assert AssetAmount(chain="x", asset="TOK", amount="1.5", decimals=2).base_units == 150  # type: ignore[arg-type]


def test_id_must_match_file_name(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD, name="other")
    _, problems = check_dir(tmp_path)
    assert [(p.file, p.field) for p in problems] == [(str(path), "id")]


def test_broken_yaml_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("id: [unclosed\n", encoding="utf-8")
    _, problems = check_dir(tmp_path)
    assert problems[0].file == str(path) and "not valid YAML" in problems[0].message


def test_validate_command_lists_every_problem(tmp_path: Path) -> None:
    write(tmp_path, GOOD)
    write(tmp_path, variant(id="bad-country", **{"victim__country": "ZZ"}))
    write(tmp_path, variant(id="bad-date", date="2999-12-31"))
    result = CliRunner().invoke(app, ["incidents", "validate", str(tmp_path), "-f", "csv"])
    assert isinstance(result.exception, InputError)
    assert "2 problems in 2 files" in str(result.exception)
    assert "bad-country.yaml,victim.country," in result.output
    assert "bad-date.yaml,date," in result.output


def test_import_rejects_a_bad_directory_and_keeps_the_store(
    tmp_path: Path,
    db_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    good = tmp_path / "good"
    good.mkdir()
    write(good, GOOD)
    runner = CliRunner()
    assert (
        runner.invoke(app, ["--db", str(db_path), "incidents", "import", str(good)]).exit_code == 0
    )
    bad = tmp_path / "bad"
    bad.mkdir()
    write(bad, GOOD)
    write(bad, variant(id="future", date="2999-01-01"))
    argv = ["chainsleuth", "--db", str(db_path), "incidents", "import", str(bad)]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as exit_info:
        run()  # the entry point: error to one stderr line and an exit code
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert f"{bad / 'future.yaml'}: date:" in err and "Traceback" not in err
    result = runner.invoke(app, ["--db", str(db_path), "incidents", "list", "-f", "json"])
    assert '"example-2024"' in result.output and "future" not in result.output
