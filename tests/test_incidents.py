"""The incident database: curated content, import, list/show, statistics, reconciliation.

Expected aggregates are summed here straight from the YAML files (with PyYAML, not the code
under test) and compared with what `incidents stats` computes from the store.
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from chainsleuth.errors import NotFoundError
from chainsleuth.interfaces.cli.main import app

DATA = Path(str(resources.files("chainsleuth") / "data" / "incidents"))

REQUIRED = {
    "coincheck-2018": ("2018-01-26", "JP"),
    "zaif-2018": ("2018-09-14", "JP"),
    "bithumb-2018": ("2018-06-01", "KR"),
    "upbit-2019": ("2019-11-27", "KR"),
    "kucoin-2020": ("2020-09-26", "SC"),
    "ronin-2022": ("2022-03-23", "VN"),
    "harmony-2022": ("2022-06-23", "US"),
    "atomic-wallet-2023": ("2023-06-03", "EE"),
    "alphapo-2023": ("2023-07-22", None),
    "coinspaid-2023": ("2023-07-22", "EE"),
    "stake-2023": ("2023-09-04", "CW"),
    "coinex-2023": ("2023-09-12", "HK"),
    "htx-heco-2023": ("2023-11-22", None),
    "dmm-bitcoin-2024": ("2024-05-31", "JP"),
    "wazirx-2024": ("2024-07-18", "IN"),
    "radiant-2024": ("2024-10-16", None),
    "bybit-2025": ("2025-02-21", "AE"),
}


def raw_records() -> list[dict[str, Any]]:
    """The YAML files as plain dicts, read independently of the loader."""
    return [yaml.safe_load(p.read_text(encoding="utf-8")) for p in sorted(DATA.glob("*.yaml"))]


def invoke(db: Path, *args: str) -> Any:
    return CliRunner().invoke(app, ["--db", str(db), "--quiet", *args])


def run_json(db: Path, *args: str) -> Any:
    result = invoke(db, *args, "--format", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store with the shipped database imported (read-only use by the tests)."""
    db_path = tmp_path_factory.mktemp("incidents") / "store.duckdb"
    result = invoke(db_path, "incidents", "import")
    assert result.exit_code == 0, result.output
    return db_path


def test_curated_database_content() -> None:
    records = {r["id"]: r for r in raw_records()}
    assert len(records) >= 40
    years = {int(str(r["date"])[:4]) for r in records.values()}
    assert years == set(range(2017, 2026))
    for rid, (date, country) in REQUIRED.items():
        assert str(records[rid]["date"]) == date, rid
        assert records[rid]["victim"]["country"] == country, rid
    for record in records.values():
        assert record["sources"], record["id"]
        if record["attribution"]["disputed"]:
            assert record["attribution"]["note"], record["id"]
    dmm = records["dmm-bitcoin-2024"]
    assert dmm["assets"] == [{"chain": "bitcoin", "asset": "BTC", "amount": "4502.9"}]
    assert dmm["attribution"]["actor"] == "TraderTraitor"
    assert {"FBI", "National Police Agency of Japan"} <= set(dmm["attribution"]["attributed_by"])
    bybit = records["bybit-2025"]
    assert "https://www.ic3.gov/psa/2025/psa250226" in bybit["sources"]
    assert "2024" in bybit["notes"]  # the article dating it in 2024 is noted
    assert records["coincheck-2018"]["attribution"]["disputed"] is True


def test_show_gives_base_units_and_sources(imported: Path) -> None:
    dmm = run_json(imported, "incidents", "show", "dmm-bitcoin-2024")
    (asset,) = dmm["assets"]
    assert asset["amount_base"] == 450_290_000_000  # 4,502.9 BTC in satoshi
    assert asset["decimals"] == 8
    theft_tx = "975ec405ac9dc9fa5ab8009d94d6a1fe31dff8a8127ea90d023104e52754e4d7"
    seed = {"kind": "txid", "chain": "bitcoin", "role": None, "value": theft_tx}
    assert seed in dmm["seeds"]
    assert len(dmm["sources"]) == 3
    bybit = run_json(imported, "incidents", "show", "bybit-2025")
    assert bybit["assets"][0]["amount_base"] == 401_346 * 10**18


def test_list_filters(imported: Path) -> None:
    rows = run_json(imported, "incidents", "list", "--country", "jp", "--year", "2024")
    assert [r["id"] for r in rows] == ["dmm-bitcoin-2024"]
    rows = run_json(imported, "incidents", "list", "--actor", "applejeus")
    assert rows and all(r["actor"] == "AppleJeus" for r in rows)
    assert len(run_json(imported, "incidents", "list")) == len(raw_records())


def test_read_commands_fall_back_to_the_packaged_database(db_path: Path) -> None:
    rows = run_json(db_path, "incidents", "list", "--year", "2025")
    assert "bybit-2025" in {r["id"] for r in rows}


def test_show_unknown_incident(imported: Path) -> None:
    result = invoke(imported, "incidents", "show", "no-such-theft")
    assert isinstance(result.exception, NotFoundError)
    assert "no-such-theft" in str(result.exception)


def _expected(key: str, lo: int = 0, hi: int = 9999) -> dict[str, tuple[int, int]]:
    """(incidents, stolen_usd) per group, summed from the YAML files."""
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for r in raw_records():
        year = int(str(r["date"])[:4])
        if not lo <= year <= hi:
            continue
        group = {
            "year": str(year),
            "country": r["victim"]["country"] or "unknown",
            "actor": r["attribution"]["actor"],
            "victim_type": r["victim"]["type"],
        }[key]
        totals[group][0] += 1
        totals[group][1] += r["usd_value"] or 0
    return {k: (v[0], v[1]) for k, v in totals.items()}


@pytest.mark.parametrize(
    ("by", "key"),
    [("year", "year"), ("country", "country"), ("actor", "actor"), ("victim-type", "victim_type")],
)
def test_stats_match_sums_of_the_files(imported: Path, by: str, key: str) -> None:
    rows = run_json(imported, "incidents", "stats", "--by", by)
    got = {str(r[key]): (r["incidents"], r["stolen_usd"]) for r in rows}
    assert got == _expected(key)


def test_stats_year_range_and_csv(imported: Path) -> None:
    rows = run_json(
        imported, "incidents", "stats", "--by", "country", "--from", "2017", "--to", "2022"
    )
    got = {r["country"]: (r["incidents"], r["stolen_usd"]) for r in rows}
    assert got == _expected("country", 2017, 2022)
    result = invoke(imported, "incidents", "stats", "--by", "year", "--format", "csv")
    table = list(csv.DictReader(result.output.splitlines()))
    assert table[0].keys() >= {"year", "incidents", "stolen_usd"}
    assert [r["year"] for r in table] == [str(y) for y in range(2017, 2026)]


def test_reconcile_explains_every_large_gap(imported: Path) -> None:
    rows = {r["id"]: r for r in run_json(imported, "incidents", "reconcile")}
    assert {"chainalysis-2024", "chainalysis-2023", "chainalysis-2025", "elliptic-nikkei-japan",
            "elliptic-nikkei-global", "un-panel-2017-2023"} <= set(rows)  # fmt: skip
    for row in rows.values():
        gap = Decimal(row["ours_usd"] - row["published_usd"]) / row["published_usd"]
        assert Decimal(row["gap_pct"]) == (gap * 100).quantize(Decimal("0.1"))
        if abs(gap) > Decimal("0.10"):
            assert row["status"] == "explained", row
            assert row["reasons"], row
        else:
            assert row["status"] == "consistent", row
    japan = rows["elliptic-nikkei-japan"]
    expected_jp = sum(
        r["usd_value"] or 0
        for r in raw_records()
        if r["victim"]["country"] == "JP" and 2017 <= int(str(r["date"])[:4]) <= 2022
    )
    assert (japan["published_usd"], japan["ours_usd"]) == (721_000_000, expected_jp)
    assert any(reason.startswith("attribution:") for reason in japan["reasons"])
    c2024 = rows["chainalysis-2024"]
    assert (c2024["published_usd"], c2024["published_incidents"]) == (1_340_000_000, 47)
    assert any("47" in reason and "49" in reason for reason in c2024["reasons"])


def test_reconcile_table_lists_reasons(imported: Path) -> None:
    result = invoke(imported, "incidents", "reconcile")
    assert result.exit_code == 0, result.output
    assert "likely reasons" in result.output and "missing_incidents" in result.output


def test_seeds_agree_with_the_shared_address_list(shared_data: Path) -> None:
    """Every curated seed address is listed for the same incident in the source list."""
    path = shared_data / "incidents" / "dprk-tayvano" / "dprk_incident_addresses_tayvano.csv"
    with path.open(encoding="utf-8") as handle:
        listed = {(row["incident"], row["address_checksummed"]) for row in csv.DictReader(handle)}
    names = {
        "dmm-bitcoin-2024": "bitcoin_dmm",
        "bybit-2025": "bybit",
        "ronin-2022": "ronin_bridge",
        "harmony-2022": "harmony_horizon_bridge",
        "stake-2023": "stake",
        "zaif-2018": "zaif",
        "wazirx-2024": "wazirx",
        "upbit-2019": "upbit",
        "liquid-2021": "liquid_global",
    }
    checked = 0
    for record in raw_records():
        for seed in record.get("seeds", {}).get("addresses", []):
            assert (names[record["id"]], seed["address"]) in listed, (record["id"], seed)
            checked += 1
    assert checked >= 20


def test_uncommented_values_are_the_shared_list_figures(shared_data: Path) -> None:
    """A value without a valuation note is the figure of the tayvano list it cites."""
    path = shared_data / "incidents" / "dprk-tayvano" / "dprk_incidents_tayvano.csv"
    amounts: dict[str, set[int]] = defaultdict(set)
    with path.open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row["amount_stolen_usd"]:
                amounts[row["source_file"].rsplit("/", 1)[-1]].add(int(row["amount_stolen_usd"]))
    checked = 0
    for record in raw_records():
        if record.get("valuation_note"):
            continue
        (cited,) = [s for s in record["sources"] if s.startswith("github:tayvano/")]
        assert record["usd_value"] in amounts[cited.rsplit("/", 1)[-1]], record["id"]
        checked += 1
    assert checked >= 20


def test_reconcile_with_own_figures_and_bad_figures(imported: Path, tmp_path: Path) -> None:
    figures = tmp_path / "figures.yaml"
    figure = {
        "id": "own-japan-2024",
        "publisher": "Test",
        "title": "Japan 2024",
        "published": "2025-01-01",
        "scope": {"from_year": 2024, "to_year": 2024, "country": "JP"},
        "stolen_usd": 305_800_000,
        "sources": ["https://example.org/figure"],
    }
    figures.write_text(yaml.safe_dump([figure]), encoding="utf-8")
    (row,) = run_json(imported, "incidents", "reconcile", "--figures", str(figures))
    assert (row["ours_usd"], row["difference_usd"], row["status"]) == (305_800_000, 0, "consistent")
    figures.write_text(yaml.safe_dump([{**figure, "sources": ["hearsay"]}]), encoding="utf-8")
    result = invoke(imported, "incidents", "reconcile", "--figures", str(figures))
    assert f"{figures}: [0].sources:" in str(result.exception)
    figures.write_text(yaml.safe_dump([{**figure, "scope": {"from_year": 2024}}]), encoding="utf-8")
    result = invoke(imported, "incidents", "reconcile", "--figures", str(figures))
    assert f"{figures}: [0].scope.to_year:" in str(result.exception)


def test_un_panel_citations_agree_with_the_annex(shared_data: Path) -> None:
    """Records citing S/2019/691 name a victim and country listed in its annex."""
    path = (
        shared_data / "incidents" / "dprk-tayvano" / "un_panel_s-2019-691_dprk_cyber_incidents.csv"
    )
    with path.open(encoding="utf-8") as handle:
        annex = [
            (row["victim"].split(" (")[0].lower(), set(row["victim_country"].split(";")))
            for row in csv.DictReader(handle)
        ]
    checked = 0
    for record in raw_records():
        if not any("S/2019/691" in s for s in record["sources"]):
            continue
        victim = record["victim"]["name"].split(" (")[0].lower()
        countries = [c for name, c in annex if name == victim]
        assert countries, record["id"]
        if record["victim"]["country"] is not None:
            assert any(record["victim"]["country"] in c for c in countries), record["id"]
        checked += 1
    assert checked >= 8
