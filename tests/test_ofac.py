"""OFAC SDN imports: SDN XML, advanced XML, legacy CSV, per-asset lists, sdn-entities JSON."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import duckdb
import pytest

from chainsleuth.analytics.attribution.actors import ensure_curated
from chainsleuth.analytics.attribution.currency import resolve
from chainsleuth.analytics.attribution.importer import import_file
from chainsleuth.analytics.attribution.propagation import address_tags
from chainsleuth.analytics.attribution.store import list_tags
from chainsleuth.errors import ParseError

OFAC = Path("tags/ofac")
LAZ_ETH = "0x098B716B8Aaf21512996dC57EB0615e2383E2f96"  # LAZARUS GROUP, DPRK3 (sdn.csv)
LAZ_BTC = "3LU8wRu4ZnXP4UM8Yo6kkTiGHM9BubgyiG"  # FBI 2023-08-22
ALI_BTC = "149w62rY42aZBox8fGcmqNsXUzSStKeq8C"  # KHORASHADIZADEH, Ali, CYBER2 (sdn.csv)
USDT_ETH = "0x175d44451403Edf28469dF03A9280c1197ADb92c"  # 0xB10C USDT list


def sdn_xml(date: str, lazarus_ids: list[tuple[str, str]]) -> str:
    """A small SDN XML in OFAC's layout (publshInformation, sdnEntry, idList)."""
    ids = "".join(
        f"<id><uid>{n}</uid><idType>Digital Currency Address - {asset}</idType>"
        f"<idNumber>{address}</idNumber></id>"
        for n, (asset, address) in enumerate(lazarus_ids, start=100)
    )
    return f"""<?xml version="1.0" standalone="yes"?>
<sdnList xmlns="https://sanctionslistservice.ofac.treas.gov/api/PublicationPreview/exports/XML">
  <publshInformation><Publish_Date>{date}</Publish_Date><Record_Count>2</Record_Count>
  </publshInformation>
  <sdnEntry><uid>27307</uid><lastName>LAZARUS GROUP</lastName><sdnType>Entity</sdnType>
    <programList><program>DPRK3</program><program>CYBER2</program></programList>
    <idList>{ids}</idList>
    <akaList><aka><uid>1</uid><type>a.k.a.</type><lastName>APPLEWORM</lastName></aka></akaList>
  </sdnEntry>
  <sdnEntry><uid>26137</uid><lastName>KHORASHADIZADEH</lastName><firstName>Ali</firstName>
    <sdnType>Individual</sdnType><programList><program>CYBER2</program></programList>
    <idList><id><uid>7</uid><idType>Passport</idType><idNumber>T14553558</idNumber></id>
      <id><uid>8</uid><idType>Digital Currency Address - XBT</idType>
      <idNumber>{ALI_BTC}</idNumber></id></idList>
  </sdnEntry>
</sdnList>
"""


ADVANCED = f"""<?xml version="1.0" encoding="utf-8"?>
<Sanctions xmlns="https://sanctionslistservice.ofac.treas.gov/api/PublicationPreview/exports/ADVANCED_XML">
  <DateOfIssue><Year>2024</Year><Month>9</Month><Day>27</Day></DateOfIssue>
  <ReferenceValueSets>
    <FeatureTypeValues>
      <FeatureType ID="344" FeatureTypeGroupID="1">Digital Currency Address - XBT</FeatureType>
      <FeatureType ID="345" FeatureTypeGroupID="1">Digital Currency Address - ETH</FeatureType>
      <FeatureType ID="8" FeatureTypeGroupID="1">Birthdate</FeatureType>
    </FeatureTypeValues>
    <SanctionsTypeValues>
      <SanctionsType ID="1">Program</SanctionsType><SanctionsType ID="1705">Block</SanctionsType>
    </SanctionsTypeValues>
  </ReferenceValueSets>
  <DistinctParties>
    <DistinctParty FixedRef="27307">
      <Profile ID="27307" PartySubTypeID="4">
        <Identity ID="1" FixedRef="27307" Primary="true" False="false">
          <Alias FixedRef="27307" AliasTypeID="1403" Primary="true" LowQuality="false">
            <DocumentedName ID="2" FixedRef="27307" DocNameStatusID="1">
              <DocumentedNamePart><NamePartValue NamePartGroupID="3">LAZARUS GROUP</NamePartValue>
              </DocumentedNamePart></DocumentedName></Alias>
          <Alias FixedRef="27307" AliasTypeID="1400" Primary="false" LowQuality="false">
            <DocumentedName ID="4"><DocumentedNamePart><NamePartValue>APPLEWORM</NamePartValue>
            </DocumentedNamePart></DocumentedName></Alias>
        </Identity>
        <Feature ID="10" FeatureTypeID="345"><FeatureVersion ID="11" ReliabilityID="1">
          <VersionDetail DetailTypeID="1432">{LAZ_ETH}</VersionDetail></FeatureVersion></Feature>
        <Feature ID="12" FeatureTypeID="344"><FeatureVersion ID="13" ReliabilityID="1">
          <VersionDetail DetailTypeID="1432">{LAZ_BTC}</VersionDetail></FeatureVersion></Feature>
        <Feature ID="14" FeatureTypeID="8"><FeatureVersion ID="15">
          <VersionDetail DetailTypeID="1430">not an address</VersionDetail>
        </FeatureVersion></Feature>
      </Profile>
    </DistinctParty>
  </DistinctParties>
  <SanctionsEntries>
    <SanctionsEntry ID="20" ProfileID="27307" ListID="1550">
      <SanctionsMeasure ID="21" SanctionsTypeID="1705"><DatePeriod/></SanctionsMeasure>
      <SanctionsMeasure ID="22" SanctionsTypeID="1"><Comment>DPRK3</Comment></SanctionsMeasure>
    </SanctionsEntry>
  </SanctionsEntries>
</Sanctions>
"""


def _write(tmp: Path, name: str, text: str) -> Path:
    path = tmp / name
    path.write_text(text, encoding="utf-8")
    return path


def test_sdn_xml_tags_carry_name_programs_date_and_actor(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    ensure_curated(con)  # gives "Lazarus Group" as the label of actor lazarusgroup
    path = _write(tmp_path, "sdn.xml", sdn_xml("05/03/2024", [("ETH", LAZ_ETH), ("XBT", LAZ_BTC)]))
    (result,) = import_file(con, path)
    assert (result.kind, result.tagpack, result.tags) == ("ofac-xml", "ofac-sdn", 3)
    (eth,) = address_tags(con, "ethereum", LAZ_ETH)
    assert eth["label"] == "LAZARUS GROUP" and eth["category"] == "sanctioned"
    assert eth["programs"] == "CYBER2, DPRK3" and eth["actor"] == "lazarusgroup"
    assert eth["confidence"] == "authority_data" and eth["confidence_level"] == 60
    (ali,) = address_tags(con, "bitcoin", ALI_BTC)
    assert ali["label"] == "KHORASHADIZADEH, Ali" and ali["actor"] is None
    published = {t["published"] for t in list_tags(con)}
    assert published == {dt.date(2024, 5, 3)}


def test_sdn_reimport_reports_added_and_removed(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    old = _write(tmp_path, "old.xml", sdn_xml("05/03/2024", [("ETH", LAZ_ETH), ("XBT", LAZ_BTC)]))
    new = _write(tmp_path, "new.xml", sdn_xml("06/01/2024", [("XBT", LAZ_BTC), ("USDT", USDT_ETH)]))
    import_file(con, old)
    (result,) = import_file(con, new)
    assert result.added_keys == [f"ethereum:{USDT_ETH.lower()}"]
    assert result.removed_keys == [f"ethereum:{LAZ_ETH.lower()}"]
    assert (result.added, result.removed) == (1, 1)
    assert result.changed == 2  # the two kept addresses now carry the newer date
    assert address_tags(con, "ethereum", LAZ_ETH) == []
    (usdt,) = address_tags(con, "ethereum", USDT_ETH)
    assert usdt["label"] == "LAZARUS GROUP"


def test_advanced_xml_features(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    (result,) = import_file(con, _write(tmp_path, "sdn_advanced.xml", ADVANCED))
    assert (result.kind, result.tags) == ("ofac-advanced-xml", 2)
    tags = {t["chain"]: t for t in list_tags(con)}
    assert tags["bitcoin"]["address"] == LAZ_BTC and tags["ethereum"]["address"] == LAZ_ETH.lower()
    assert {t["programs"] for t in tags.values()} == {"DPRK3"}  # the Block measure is no program
    assert {t["published"] for t in tags.values()} == {dt.date(2024, 9, 27)}
    assert {t["label"] for t in tags.values()} == {"LAZARUS GROUP"}


def test_bad_address_or_xml_imports_nothing(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    bad = LAZ_ETH[:-1] + "F"  # breaks the EIP-55 checksum
    path = _write(tmp_path, "sdn.xml", sdn_xml("05/03/2024", [("XBT", LAZ_BTC), ("ETH", bad)]))
    with pytest.raises(ParseError, match="EIP-55"):
        import_file(con, path)
    assert list_tags(con) == []
    (result,) = import_file(con, path, skip_invalid=True)
    assert result.tags == 2 and any("EIP-55" in w for w in result.warnings)
    broken = _write(tmp_path, "broken.xml", "<sdnList>\n<sdnEntry>\n</sdnList>\n")
    with pytest.raises(ParseError, match=r"broken\.xml:3: malformed XML"):
        import_file(con, broken)


def test_real_per_asset_lists(con: duckdb.DuckDBPyConnection, shared_data: Path) -> None:
    for asset, chain in (("XBT", "bitcoin"), ("ETH", "ethereum"), ("TRX", "tron")):
        path = shared_data / OFAC / "0xb10c-lists" / f"sanctioned_addresses_{asset}.txt"
        lines = [x for x in path.read_text().splitlines() if x.strip()]
        (result,) = import_file(con, path)
        assert (result.tagpack, result.tags) == (f"ofac-list-{asset}", len(set(lines)))
        assert {t["chain"] for t in list_tags(con, chain=chain)} == {chain}


def test_real_legacy_sdn_csv(con: duckdb.DuckDBPyConnection, shared_data: Path) -> None:
    path = shared_data / OFAC / "sdn-csv" / "sdn.csv"
    (result,) = import_file(con, path, published=dt.date(2024, 5, 3))
    (laz,) = address_tags(con, "ethereum", LAZ_ETH)
    assert (laz["label"], laz["programs"]) == ("LAZARUS GROUP", "DPRK3")
    (ali,) = address_tags(con, "bitcoin", ALI_BTC)
    assert ali["programs"] == "CYBER2"
    # every remark that mentions addresses contributed them, except truncated last ones
    # every address the remarks mention is stored, except those a truncated remark cut off
    listed = re.findall(r"Digital Currency Address - \S+ ([^\s;]+)", path.read_text())
    cut = {m.group(1) for w in result.warnings if (m := re.search(r"truncated at '(.*)'", w))}
    clean = {a.rstrip('."') for a in listed} - cut - {""}
    expected = {a.lower() for a in clean}
    assert {t["address"].lower() for t in list_tags(con)} == expected
    assert len(cut) == 6  # (an address listed for two assets, e.g. XBT and BCH, is two tags)


def test_real_sdn_entities_json_restores_case_from_known_addresses(
    con: duckdb.DuckDBPyConnection, shared_data: Path
) -> None:
    import_file(con, shared_data / OFAC / "0xb10c-lists" / "sanctioned_addresses_XBT.txt")
    (result,) = import_file(con, shared_data / OFAC / "sdn-entities" / "sanctioned-addresses.json")
    assert result.kind == "ofac-sdn-json" and result.tags > 0
    ofac = [t for t in list_tags(con, chain="bitcoin") if t["tagpack"] == "ofac-sdn"]
    base58 = [t for t in ofac if not t["address"].startswith("bc1")]
    assert base58, "case restoration found none of the lower-cased Base58 addresses"
    for t in base58:  # every restored address passes its Base58Check checksum
        assert resolve("BTC", None, t["address"], "test")[1] == t["address"]
    laz = address_tags(con, "ethereum", LAZ_ETH)
    assert [t["programs"] for t in laz] == ["DPRK3"]
    assert any("lost its letter case" in w for w in result.warnings)


def test_address_under_two_entries_is_one_tag_with_both(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    ensure_curated(con)
    path = _write(tmp_path, "sdn.xml", sdn_xml("05/03/2024", [("XBT", ALI_BTC)]))
    (result,) = import_file(con, path)
    assert result.tags == 1
    (tag,) = address_tags(con, "bitcoin", ALI_BTC)
    assert tag["label"] == "LAZARUS GROUP; KHORASHADIZADEH, Ali"
    assert (tag["programs"], tag["actor"]) == ("CYBER2, DPRK3", "lazarusgroup")
    assert tag["source"].endswith("entry 27307; entry 26137")
