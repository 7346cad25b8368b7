"""Etherscan's malicious labels from forta-network/labelled-datasets (kind `forta-csv`).

Layouts:
`banned_address,wallet_tag,data_source` (etherscan-heist/exploit/phish-hack-list),
`address,etherscan_tag,etherscan_labels,is_contract` (phishing) and
`contract_address,contract_tag,contract_creator,...` (malicious contracts: the contract,
and its deployer when Etherscan labels the deployer). Category `perpetrator`, abuse
`service_hack` (heist, exploit) or `phishing` (phish-hack), confidence `web_crawl` (as the
other explorer labels), source the explorer page of the address. The chain comes from the
chain-id directory (`labels/1/` Ethereum, `labels/10/` Optimism, ...). Rows repeating a
tag (the same address in another letter case, same label) are stored once.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from pathlib import Path

from chainsleuth.analytics.attribution.csvlists.rows import (
    Collector,
    Row,
    context_json,
    listed_address,
    read_rows,
)
from chainsleuth.analytics.attribution.labels import CATEGORIES, EXPLORERS
from chainsleuth.analytics.attribution.model import Dataset, Tag
from chainsleuth.analytics.attribution.taxonomy import chain_codes, confidence_levels
from chainsleuth.errors import InputError, ParseError

KIND_FORTA = "forta-csv"
FORTA_LAYOUTS: dict[str, frozenset[str]] = {
    "banned_address": frozenset({"banned_address", "wallet_tag", "data_source"}),
    "address": frozenset({"address", "etherscan_tag", "etherscan_labels"}),
    "contract_address": frozenset({"contract_address", "contract_tag", "contract_creator"}),
}
# EVM chain id (Forta's directory names) -> chain
CHAIN_IDS = {
    "1": "ethereum",
    "10": "optimism",
    "56": "bsc",
    "137": "polygon",
    "250": "fantom",
    "42161": "arbitrum",
    "43114": "avalanche",
}
_HOSTS = dict(EXPLORERS.values())


def forta_chain(file: str) -> str:
    """The chain of a Forta labels file, from its chain-id directory (default Ethereum)."""
    parent = Path(file).parent.name
    if parent.isdigit():
        if parent not in CHAIN_IDS:
            raise InputError(f"{file}: unknown EVM chain id {parent} (directory name)")
        return CHAIN_IDS[parent]
    return "ethereum"


def _slug_role(slugs: list[str], where: str) -> tuple[str, str | None]:
    """(category, abuse) of Etherscan label slugs (heist, exploit, phish-hack)."""
    for slug in slugs:
        if slug in CATEGORIES:
            return CATEGORIES[slug]
    raise InputError(f"{where}: no known Etherscan label in {slugs!r} (heist, exploit, phish-hack)")


def parse_forta(text: str, file: str, *, skip_invalid: bool = False) -> Dataset:
    """One of Forta's labelled-datasets CSVs (malicious labels, phishing, contracts)."""
    first = next(csv.reader(io.StringIO(text)), [])
    columns = {c.strip().lower() for c in first}
    layout = next((k for k, cols in FORTA_LAYOUTS.items() if cols <= columns), None)
    if layout is None:
        raise ParseError(f"{file}:1: not a Forta labelled-datasets header; nothing imported")
    chain = forta_chain(file)
    code, host = chain_codes()[chain], _HOSTS.get(chain, "etherscan.io")
    rows = read_rows(text, file, FORTA_LAYOUTS[layout])
    stem = Path(file).stem
    ds = Dataset(f"forta-{chain}-{stem}", KIND_FORTA, file, [], title=f"Forta {stem} ({chain})")
    ds.creator = "forta-network/labelled-datasets"
    out = Collector(ds, skip_invalid)
    level = confidence_levels()["web_crawl"]

    def tag(line: int, address: str, label: str, role: tuple[str, str | None], **ctx: str) -> Tag:
        return Tag(
            chain=chain,
            address=address,
            tx_hash=None,
            currency=code,
            label=label,
            source=f"https://{host}/address/{address}",
            confidence="web_crawl",
            confidence_level=level,
            category=role[0],
            abuse=role[1],
            context=context_json(dataset=f"forta-network/labelled-datasets {stem}.csv", **ctx),
            line=line,
        )

    for row in out.rows(rows):
        c = row.cells
        try:
            if layout == "banned_address":
                slug = c["data_source"].removeprefix("etherscan-").removesuffix("-list")
                role = _slug_role([slug], "column data_source")
                _, address = listed_address(code, c["banned_address"], "banned_address")
                found = [tag(row.line, address, c["wallet_tag"] or slug, role, list=slug)]
            elif layout == "address":
                slugs = re.split(r"[\s,;|]+", c["etherscan_labels"].strip())
                role = _slug_role(slugs, "column etherscan_labels")
                _, address = listed_address(code, c["address"], "address")
                label = c["etherscan_tag"] or slugs[0]
                ctx = {"labels": c["etherscan_labels"], "is_contract": c.get("is_contract", "")}
                found = [tag(row.line, address, label, role, **ctx)]
            else:
                found = _contract_tags(row, code, tag)
        except InputError as exc:
            out.bad(row.line, str(exc))
            continue
        for t in found:
            out.add(t)
    return out.finish()


def _contract_tags(row: Row, code: str, tag: Callable[..., Tag]) -> list[Tag]:
    """A malicious contract, and its deployer when Etherscan labels the deployer."""
    c = row.cells
    slug = c.get("contract_creator_etherscan_label", "")
    role: tuple[str, str | None] = ("perpetrator", None)
    if slug:
        role = _slug_role([slug], "column contract_creator_etherscan_label")
    _, contract = listed_address(code, c["contract_address"], "contract_address")
    _, creator = listed_address(code, c["contract_creator"], "contract_creator")
    creator_label = c.get("contract_creator_tag", "")
    label = c["contract_tag"] or (f"{creator_label}: contract" if creator_label else "")
    ctx = {"source": c.get("source", ""), "notes": c.get("notes", ""), "deployer": creator}
    found = [tag(row.line, contract, label or "Malicious contract", role, **ctx)]
    if slug:
        found.append(
            tag(row.line, creator, creator_label or f"Etherscan {slug}", role, deployed=contract)
        )
    return found
