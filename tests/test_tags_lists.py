"""CSV address lists: FBI notices, Forta's Etherscan labels, the combined DPRK list.

Expected counts are computed here from the files with the csv module and the EIP-55 rule
written out from its spec (keccak of the lower-case hex), not with the importer's code.
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import duckdb
import pytest
from Crypto.Hash import keccak

from chainsleuth.analytics.attribution.importer import detect, import_file
from chainsleuth.analytics.attribution.propagation import conflicts
from chainsleuth.analytics.attribution.store import list_tags
from chainsleuth.errors import ParseError

TAGS = Path("tags")
FBI = TAGS / "fbi"
FORTA = TAGS / "forta-labelled" / "labels"
DPRK = TAGS / "dprk-attributed-combined" / "dprk_attributed_addresses_combined.csv"
# currency code of the lists -> chain (README: Currencies and addresses)
CHAINS = {"ETH": "ethereum", "BTC": "bitcoin", "BSC": "bsc", "MATIC": "polygon", "TRX": "tron"}
OWNED_BY_DPRK = {
    "dprk_actor",
    "incident_attacker",
    "incident_laundering",
    "incident_attacker_or_laundering",
}


def _records(path: Path) -> list[tuple[int, dict[str, str]]]:
    """(line, row) of a CSV file, read with the csv module."""
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        return [(reader.line_num, row) for row in reader]


def _eip55_ok(address: str) -> bool:
    """EIP-55: mixed-case hex must upper-case exactly the letters whose hash nibble is >= 8."""
    body = address[2:]
    if body in (body.lower(), body.upper()):
        return True
    digest = keccak.new(digest_bits=256, data=body.lower().encode()).hexdigest()
    want = "".join(
        c.upper() if int(h, 16) >= 8 else c for c, h in zip(body.lower(), digest[:40], strict=True)
    )
    return body == want


def test_real_fbi_lists(con: duckdb.DuckDBPyConnection, shared_data: Path) -> None:
    for path in sorted((shared_data / FBI).glob("*.csv")):
        rows = [row for _, row in _records(path)]
        (result,) = import_file(con, path)
        assert result.kind == "fbi-csv" and result.tags == len(rows), path.name
        stored = [t for t in list_tags(con) if t["tagpack"] == path.stem]
        assert sorted((t["chain"], t["address"].lower()) for t in stored) == sorted(
            (CHAINS[r["chain"]], r["address"].lower()) for r in rows
        )
        assert {(t["actor"], t["category"], t["abuse"], t["confidence"]) for t in stored} == {
            ("lazarusgroup", "perpetrator", "service_hack", "authority_data")
        }
        assert all(t["confidence_level"] == 60 for t in stored)
    bybit = [t for t in list_tags(con) if t["tagpack"] == "fbi_psa_I-022625_bybit_eth_addresses"]
    assert len(bybit) == 51
    assert {t["source"] for t in bybit} == {"https://www.ic3.gov/psa/2025/psa250226"}
    assert {t["published"] for t in bybit} == {dt.date(2025, 2, 26)}
    btc = [t for t in list_tags(con) if t["tagpack"] == "fbi_2023-08-22_dprk_btc_addresses"]
    assert {t["published"] for t in btc} == {dt.date(2023, 8, 22)}
    assert any(t["address"] == "3LU8wRu4ZnXP4UM8Yo6kkTiGHM9BubgyiG" for t in btc)
    stake = [t for t in list_tags(con) if t["tagpack"] == "fbi_stake_2023-09-06_addresses"]
    assert {t["chain"] for t in stake} == {"ethereum", "bitcoin", "bsc", "polygon"}
    assert all("not re-verified" in (t["context"] or "") for t in stake)


def test_real_forta_labels_fail_on_bad_checksums_unless_skipping(
    con: duckdb.DuckDBPyConnection, shared_data: Path
) -> None:
    path = shared_data / FORTA / "1" / "etherscan_malicious_labels.csv"
    records = _records(path)
    bad = [line for line, r in records if not _eip55_ok(r["banned_address"])]
    assert len(bad) == 2  # two mixed-case addresses whose case is wrong in the source
    with pytest.raises(ParseError) as caught:
        import_file(con, path)
    message = str(caught.value)
    assert f"{len(bad)} error(s), nothing imported" in message
    for line in bad:
        assert f"{path}:{line}: column banned_address:" in message and "EIP-55" in message
    assert list_tags(con) == []

    (result,) = import_file(con, path, skip_invalid=True)
    good = [(line, r) for line, r in records if line not in bad]
    slug = {
        "etherscan-heist-list": "heist",
        "etherscan-exploit-list": "exploit",
        "etherscan-phish-hack-list": "phish-hack",
    }
    expected = {
        (r["banned_address"].lower(), r["wallet_tag"].strip() or slug[r["data_source"]])
        for _, r in good
    }
    assert result.tags == len(expected)
    assert sum(f":{line}:" in w for w in result.warnings for line in bad) == len(bad)
    stored = list_tags(con)
    assert {(t["address"], t["label"]) for t in stored} == expected
    phishing = {
        (r["banned_address"].lower(), r["wallet_tag"].strip() or "phish-hack")
        for _, r in good
        if r["data_source"] == "etherscan-phish-hack-list"
    }
    assert {(t["address"], t["label"]) for t in stored if t["abuse"] == "phishing"} == phishing
    assert {t["abuse"] for t in stored} == {"phishing", "service_hack"}
    assert {(t["chain"], t["category"], t["confidence"]) for t in stored} == {
        ("ethereum", "perpetrator", "web_crawl")
    }
    ronin = [t for t in stored if t["label"] == "Ronin Bridge Exploiter 3"]
    assert ronin and ronin[0]["source"].startswith("https://etherscan.io/address/0x")


def test_real_forta_contracts_take_the_chain_of_their_directory(
    con: duckdb.DuckDBPyConnection, shared_data: Path
) -> None:
    path = shared_data / FORTA / "10" / "malicious_smart_contracts.csv"
    ((_, row),) = _records(path)
    (result,) = import_file(con, path)
    assert result.kind == "forta-csv" and result.tags >= 1
    (contract,) = [t for t in list_tags(con) if t["address"] == row["contract_address"].lower()]
    assert contract["chain"] == "optimism" and contract["label"] == row["contract_tag"]
    assert contract["source"].startswith("https://optimistic.etherscan.io/address/")


def _claims(row: dict[str, str]) -> list[tuple[str, str]]:
    """(category, source) per claim; one category may stand for all the row's sources."""
    sources = row["sources"].split(" | ")
    categories = row["categories"].split(" | ")
    if len(categories) == 1:
        categories = categories * len(sources)
    return list(zip(categories, sources, strict=True))


def test_real_dprk_combined_list(con: duckdb.DuckDBPyConnection, shared_data: Path) -> None:
    path = shared_data / DPRK
    records = _records(path)
    # the one base58 address the source lower-cased and could not restore
    (bad,) = [
        line
        for line, r in records
        if r["format_check"].startswith("unchecked") and r["chain"] != "XRP"
    ]
    with pytest.raises(ParseError, match=rf"combined\.csv:{bad}: column address"):
        import_file(con, path)
    assert list_tags(con) == []

    (result,) = import_file(con, path, skip_invalid=True)
    good = [r for line, r in records if line != bad]
    claims = [(r["address"], c, s) for r in good for c, s in _claims(r)]
    assert result.kind == "dprk-combined-csv" and result.tags == len(claims)
    assert any(f":{bad}:" in w for w in result.warnings)
    stored = list_tags(con)
    base = [(a, c.split(" (")[0], s) for a, c, s in claims]

    deposits = [t for t in stored if "incident_cashout_exchange_deposit" in (t["context"] or "")]
    assert len(deposits) == sum(c == "incident_cashout_exchange_deposit" for _, c, _ in base) > 0
    assert all(
        t["category"] == "exchange" and t["actor"] is None and t["abuse"] is None for t in deposits
    )
    lazarus = list_tags(con, actor="lazarusgroup")
    assert len(lazarus) == sum(c in OWNED_BY_DPRK for _, c, _ in base)
    assert all(t["category"] in ("perpetrator", "sanctioned") for t in lazarus)
    ofac = [t for t in stored if t["confidence"] == "authority_data" and t["programs"]]
    assert len(ofac) == sum(
        s.startswith("ofac_sdn") for _, c, s in base if c != "incident_cashout_exchange_deposit"
    )
    assert all(
        t["category"] == "sanctioned" and t["published"] == dt.date(2026, 8, 22) for t in ofac
    )
    bybit = [t for t in stored if t["source"] == "https://www.ic3.gov/psa/2025/psa250226"]
    assert len(bybit) == sum(s == "fbi_psa_I-022625" for _, _, s in base) == 51
    # Ronin "exploiter 7": GraphSense and Etherscan call it the attacker, tayvano a Huobi
    # deposit address: both kept, and shown as a conflict
    ronin7 = "0x5b5082214d62585d686850ab8d9e3f6b6a5c58ff"
    assert {t["category"] for t in stored if t["address"] == ronin7} == {"exchange", "perpetrator"}
    assert any(c["address_a"] == ronin7 for c in conflicts(con))


def test_malformed_rows_are_listed_with_their_lines_and_nothing_is_imported(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    good = "0x51E9d833Ecae4E8D9D8Be17300AEE6D3398C135D"
    bad_case = good[:-1] + "d"  # last letter's case flipped: fails EIP-55
    path = tmp_path / "fbi_list.csv"
    path.write_text(
        "address,chain,incident,publisher,publication,published_date\n"
        f"{good},ETH,Bybit,FBI,PSA https://www.ic3.gov/psa/2025/psa250226,2025-02-26\n"
        f"{bad_case},ETH,Bybit,FBI,PSA,2025-02-26\n"
        f"{good},DOGECOIN,Bybit,FBI,PSA,2025-02-26\n"
        f"{good},ETH,Bybit,FBI\n"
        f"{good},ETH,Bybit,FBI,PSA,26/02/2025\n"
    )
    assert detect(path, path.read_text()) == "fbi-csv"
    with pytest.raises(ParseError) as caught:
        import_file(con, path)
    message = str(caught.value)
    assert "4 error(s), nothing imported" in message
    expected = {
        3: "EIP-55",
        4: "unknown currency 'DOGECOIN'",
        5: "expected 6 columns, found 4",
        6: "not a date",
    }
    for line, text in expected.items():
        hit = [m for m in message.splitlines() if m.strip().startswith(f"{path}:{line}:")]
        assert hit and text in hit[0], (line, text, message)
    assert list_tags(con) == []
    assert con.execute("SELECT count(*) FROM tag_imports").fetchall() == [(0,)]

    (result,) = import_file(con, path, skip_invalid=True)
    assert result.tags == 1 and len(result.warnings) == 4
    assert [t["address"] for t in list_tags(con)] == [good.lower()]


def test_malformed_dprk_and_forta_rows(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    eth = "0x098b716b8aaf21512996dc57eb0615e2383e2f96"
    dprk = tmp_path / "dprk.csv"
    dprk.write_text(
        "address,chain,categories,entities_or_incidents,sources,n_sources,format_check\n"
        f"{eth},ETH,dprk_actor,OFAC SDN: LAZARUS GROUP [DPRK3],ofac_sdn(x 2024-01-01),1,ok\n"
        f"{eth},ETH,dprk_actor | incident_attacker,a | b | c,s1 | s2 | s3,3,ok\n"
        f"{eth},ETH,space_alien,a,s1,1,ok\n"
        f"{eth},ETH,dprk_actor,a | b,s1 | s2,3,ok\n"
    )
    with pytest.raises(ParseError) as caught:
        import_file(con, dprk)
    lines = str(caught.value).splitlines()
    assert "3 error(s)" in lines[0]
    assert f"{dprk}:3:" in lines[1] and "do not line up" in lines[1]
    assert f"{dprk}:4:" in lines[2] and "unknown category 'space_alien'" in lines[2]
    assert f"{dprk}:5:" in lines[3] and "n_sources is 3" in lines[3]

    forta = tmp_path / "labels" / "1" / "etherscan_malicious_labels.csv"
    forta.parent.mkdir(parents=True)
    forta.write_text(
        f"banned_address,wallet_tag,data_source\n{eth},X,etherscan-heist-list\n"
        f"{eth},Y,etherscan-gossip-list\n"
    )
    with pytest.raises(ParseError, match=r"labels/1/etherscan_malicious_labels\.csv:3: .*gossip"):
        import_file(con, forta)
    assert list_tags(con) == []


def test_actorpack_jurisdictions_must_be_assigned_iso_codes(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    path = tmp_path / "actors.yaml"
    path.write_text(
        "title: t\ncreator: c\nactors:\n"
        "- id: a\n  label: A\n  jurisdictions:\n  - KP\n  - UK\n"  # UK: the code is GB
        "- id: b\n  label: B\n  jurisdictions: [XX]\n"
        "- id: c\n  label: C\n  jurisdictions: [JP]\n"
    )
    with pytest.raises(ParseError) as caught:
        import_file(con, path)
    lines = str(caught.value).splitlines()
    assert "2 error(s), nothing imported" in lines[0]
    assert f"{path}:8: actor a: jurisdiction 'UK'" in lines[1]
    assert f"{path}:11: actor b: jurisdiction 'XX'" in lines[2]
    assert con.execute("SELECT count(*) FROM actors WHERE id IN ('a', 'b', 'c')").fetchall() == [
        (0,)
    ]
    path.write_text(path.read_text().replace("UK", "GB").replace("XX", "KP"))
    (result,) = import_file(con, path)
    assert result.kind == "actorpack" and result.tags == 3
