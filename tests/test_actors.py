"""Actors: ActorPack import and validation, curated aliases, `actors show lazarus`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pytest
from typer.testing import CliRunner

from chainsleuth.analytics.attribution.actors import resolve_actor
from chainsleuth.analytics.attribution.importer import import_file
from chainsleuth.errors import NotFoundError, ParseError
from chainsleuth.interfaces.cli.main import app
from chainsleuth.store.db import connect

PACKS = Path("tags/graphsense-tagpacks")
ALIASES = {"TraderTraitor", "APT38", "Jade Sleet", "UNC4899", "BlueNoroff", "Hidden Cobra"}
LAZ_BTC = "3LU8wRu4ZnXP4UM8Yo6kkTiGHM9BubgyiG"  # lazarus2.yaml (FBI 2023-08-22)
LAZ_ETH = "0x098b716b8aaf21512996dc57eb0615e2383e2f96"  # lazarus.yaml (OFAC 2022)
RONIN_WEI = 173_600 * 10**18  # 173,600 ETH (the Ronin theft, 2022-03-23)


def _show(db: Path, name: str) -> dict[str, Any]:
    result = CliRunner().invoke(app, ["--db", str(db), "-f", "json", "actors", "show", name])
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.output))


@pytest.mark.slow
def test_actors_show_lazarus_from_real_packs(db_path: Path, shared_data: Path) -> None:
    con = connect(db_path)
    (pack,) = import_file(con, shared_data / PACKS / "actors" / "graphsense.actorpack.yaml")
    assert pack.tags > 3000
    for name in ("lazarus", "lazarus2"):
        import_file(con, shared_data / PACKS / "packs" / f"{name}.yaml")
    # what the chain shows the tagged addresses received (two outputs, one ETH transfer
    # plus a failed one that moved nothing)
    con.execute(
        "INSERT INTO addresses VALUES ('bitcoin', ?, 1), ('ethereum', ?, 2)", [LAZ_BTC, LAZ_ETH]
    )
    con.execute(
        "INSERT INTO outputs (chain, block_height, tx_hash, n, address_id, value, script_type)"
        " VALUES ('bitcoin', 1, 'aa', 0, 1, 150000000, 'p2sh'),"
        " ('bitcoin', 2, 'bb', 1, 1, 25, 'p2sh')"
    )
    con.execute(
        "INSERT INTO transfers (chain, block_height, time, tx_hash, position, kind, asset,"
        " from_id, to_id, amount, success) VALUES"
        " ('ethereum', 1, '2022-03-23', 'cc', 'tx', 'native', 'ETH', 9, 2, ?, true),"
        " ('ethereum', 1, '2022-03-23', 'dd', 'tx', 'native', 'ETH', 9, 2, 5, false)",
        [RONIN_WEI],
    )
    con.close()
    shown = _show(db_path, "lazarus")
    assert shown["id"] == "lazarusgroup" and shown["label"] == "Lazarus Group"
    assert set(shown["aliases"]) >= ALIASES
    assert shown["country"] == "KP" and len(shown["sources"]) >= 6
    assert shown["tagged_addresses"] == 27  # 21 (OFAC 2020 + Ronin) + 6 (FBI 2023)
    assert shown["received"] == [
        {"chain": "bitcoin", "received": 150000025},
        {"chain": "ethereum", "received": RONIN_WEI},
    ]
    assert _show(db_path, "TraderTraitor")["id"] == "lazarusgroup"  # an alias finds it


def test_actorpack_errors_have_lines_and_import_nothing(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    path = tmp_path / "bad.actorpack.yaml"
    path.write_text(
        "title: t\ncreator: c\nactors:\n"
        "- id: good\n  label: Good\n  jurisdictions: [US]\n"
        "- id: far\n  label: Far\n  jurisdictions: [Korea]\n"
        "- label: nameless\n"
    )
    with pytest.raises(ParseError) as caught:
        import_file(con, path)
    message = str(caught.value)
    assert f"{path}:9: jurisdiction 'Korea'" in message
    assert f"{path}:10: actor misses mandatory field 'id'" in message
    assert con.execute("SELECT count(*) FROM actors WHERE id = 'good'").fetchone() == (0,)


def test_unknown_actor_is_a_clear_error(con: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(NotFoundError, match="no actor named 'nobody'"):
        resolve_actor(con, "nobody")


def test_actors_list_searches_aliases(db_path: Path) -> None:
    args = ["--db", str(db_path), "-f", "json", "actors", "list", "--search", "jade sleet"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    (found,) = json.loads(result.output)
    assert (found["id"], found["country"], found["tagged_addresses"]) == ("lazarusgroup", "KP", 0)
