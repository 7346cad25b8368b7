"""TagPack import: validation with line numbers, atomic packs, real GraphSense packs."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest

from chainsleuth.analytics.attribution.importer import import_file
from chainsleuth.analytics.attribution.propagation import address_tags
from chainsleuth.analytics.attribution.store import count_tags, list_tags
from chainsleuth.analytics.attribution.tagpack import parse_tagpack
from chainsleuth.chains.ethereum.address import to_checksum
from chainsleuth.errors import ParseError

PACKS = Path("tags/graphsense-tagpacks/packs")
ETH = "0x098B716B8Aaf21512996dC57EB0615e2383E2f96"  # Ronin exploiter, EIP-55 (FBI/OFAC)
BTC = "3LU8wRu4ZnXP4UM8Yo6kkTiGHM9BubgyiG"  # FBI 2023-08-22


def _tag_count(text: str) -> int:
    """Tags in a pack, counted independently of the parser: list items under `tags:`."""
    return len(re.findall(r"^- ", text, flags=re.M))


def test_header_fields_are_inherited_and_overridden(tmp_path: Path) -> None:
    pack = f"""title: t
creator: c
source: https://example.org/report
confidence: forensic
category: perpetrator
label: Lazarus group
actor: lazarusgroup
currency: BTC
tags:
- address: {BTC}
- address: '{ETH}'
  currency: ETH
  label: Ronin bridge exploiter
  confidence: authority_data
  is_cluster_definer: true
- tx_hash: '0x46DEEF0F52E3A983B67ABF4714448A41DD7FFD6D32D32DA69D62081C68AD7882'  # Bybit, 2025
  currency: ETH
  label: Bybit theft
"""
    ds = parse_tagpack(pack, "p.yaml")
    btc, eth, theft = ds.tags
    assert (theft.chain, theft.address, theft.label) == ("ethereum", None, "Bybit theft")
    assert theft.tx_hash == "0x46deef0f52e3a983b67abf4714448a41dd7ffd6d32d32da69d62081c68ad7882"
    assert (btc.chain, btc.address, btc.label, btc.confidence_level) == (
        "bitcoin",
        BTC,
        "Lazarus group",
        50,
    )
    assert (eth.chain, eth.address, eth.label, eth.confidence, eth.confidence_level) == (
        "ethereum",
        ETH.lower(),
        "Ronin bridge exploiter",
        "authority_data",
        60,
    )
    assert eth.is_cluster_definer and not btc.is_cluster_definer
    assert eth.category == "perpetrator" and eth.actor == "lazarusgroup"
    assert (btc.line, eth.line) == (10, 11)


BAD_ETH = ETH[:-1] + "F"  # breaks the EIP-55 checksum (last nibble's case)
MALFORMED = f"""title: broken
creator: tests
source: https://example.org
confidence: web_crawl
currency: ETH
tags:
- address: '{ETH}'
  label: fine
- address: '{BAD_ETH}'
  label: bad checksum
- address: '0x{"ab" * 20}'
  label: unknown category
  category: exchnage
- address: 1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN3
  currency: BTC
  label: bad base58 checksum
- address: '0x{"cd" * 20}'
  label: no source here
  source: ''
- address: '0x{"ef" * 20}'
  label: Some Exchange
- address: '0x{"ef" * 20}'
  label: SOME exchange
- address: somewhere
  currency: DOGECOIN
  label: unknown currency
- label: no address
- tx_hash: 'deadbeef'
  label: short hash
"""


def test_malformed_pack_lists_every_error_with_its_line_and_imports_nothing(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(MALFORMED)
    with pytest.raises(ParseError) as caught:
        import_file(con, path)
    message = str(caught.value)
    assert "8 error(s), nothing imported" in message
    expected = {
        9: "EIP-55",
        13: "unknown category 'exchnage'",
        14: "checksum",
        17: "mandatory field 'source'",
        22: "duplicate tag",
        24: "unknown currency 'DOGECOIN'",
        27: "exactly one of 'address' and 'tx_hash'",
        28: "not a transaction hash",
    }
    for line, text in expected.items():
        hit = [m for m in message.splitlines() if m.strip().startswith(f"{path}:{line}:")]
        assert hit and text in hit[0], (line, text, message)
    assert list_tags(con) == []
    assert con.execute("SELECT count(*) FROM tag_imports").fetchone() == (0,)


def test_yaml_syntax_error_names_its_line(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    path = tmp_path / "syntax.yaml"
    path.write_text("title: x\ncreator: y\ntags:\n- address: [unclosed\n  label: z\n")
    with pytest.raises(ParseError, match=r"syntax\.yaml:\d+: malformed YAML"):
        import_file(con, path)
    assert list_tags(con) == []


def test_real_graphsense_packs_import(con: duckdb.DuckDBPyConnection, shared_data: Path) -> None:
    names = [
        "lazarus",
        "lazarus2",
        "ronin_bridge",
        "hacks",
        "exchange-wallets-bybit",
        "exchange-wallets-okx",
        "walletexplorer",
    ]
    for name in names:
        path = shared_data / PACKS / f"{name}.yaml"
        (result,) = import_file(con, path)
        assert result.tags == _tag_count(path.read_text()), name
    ronin = address_tags(con, "ethereum", ETH)  # user input in EIP-55 case
    assert {t["tagpack"] for t in ronin} == {"lazarus", "ronin_bridge"}
    assert ronin[0]["confidence"] == "authority_data" and ronin[0]["confidence_level"] == 60
    lazarus = list_tags(con, actor="lazarusgroup")
    assert len(lazarus) == 27 and {t["chain"] for t in lazarus} == {"bitcoin", "ethereum"}
    assert count_tags(con, actor="lazarusgroup") == 27
    assert list_tags(con, actor="lazarusgroup", limit=5) == lazarus[:5]
    assert count_tags(con) == len(list_tags(con))


def test_real_ofac_pack_fails_on_its_tron_address_unless_skipping(
    con: duckdb.DuckDBPyConnection, shared_data: Path
) -> None:
    path = shared_data / PACKS / "ofac.yaml"
    text = path.read_text()
    tron_line = text.splitlines().index("- address: TUCsTq7TofTCJRRoHk6RvhMoS2mJLm5Yzq") + 1
    assert text.splitlines()[tron_line] == "  currency: BTC"  # a Tron address listed as BTC
    with pytest.raises(ParseError, match=rf"ofac\.yaml:{tron_line}: .*TUCsTq7"):
        import_file(con, path)
    assert list_tags(con) == []
    (result,) = import_file(con, path, skip_invalid=True)
    assert result.tags == _tag_count(text) - 1
    assert any(f":{tron_line}:" in w for w in result.warnings)
    assert all(t["confidence"] == "unknown" for t in list_tags(con))  # pack has none


def test_reimport_reports_added_and_removed(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    head = (
        "title: t\ncreator: c\nsource: s\nconfidence: heuristic\ncurrency: ETH\nlabel: x\ntags:\n"
    )
    a, b, c = ("0x" + d * 40 for d in "123")
    path = tmp_path / "pack.yaml"
    path.write_text(head + f"- address: '{a}'\n- address: '{b}'\n")
    import_file(con, path)
    path.write_text(head + f"- address: '{b}'\n  label: y\n- address: '{c}'\n")
    (result,) = import_file(con, path)
    assert (result.added, result.removed, result.changed) == (1, 1, 1)
    assert result.added_keys == [f"ethereum:{c}"] and result.removed_keys == [f"ethereum:{a}"]
    assert sorted(t["address"] for t in list_tags(con)) == [b, c]
    assert to_checksum(b)  # addresses were stored lowercase and stay valid


def test_bad_header_field_is_reported_once_at_its_line(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    path = tmp_path / "header.yaml"
    path.write_text(
        "title: t\ncreator: c\nsource: s\nconfidence: sure\ncurrency: BTC\nlabel: x\n"
        f"colour: red\ntags:\n- address: {BTC}\n- address: 39idqitN9tYNmq3wYanwg3MitFB5TZCjWu\n"
    )
    with pytest.raises(ParseError) as caught:
        import_file(con, path)
    lines = str(caught.value).splitlines()
    assert lines[0].endswith("2 error(s), nothing imported")
    assert lines[1:] == [
        f"  {path}:4: unknown confidence 'sure'",
        f"  {path}:7: unknown header field 'colour'",
    ]
