"""The taxonomies tags are checked against, shipped in `chainsleuth/data/attribution/`.

- confidence: GraphSense's named confidence levels, each with a numeric level (0..100);
- concepts: GraphSense's concept taxonomy (categories, abuses), plus two marked extensions;
- currencies: the currency codes we accept, the chain each is stored under and the address
  check applied to it (see `currency.py`).

Sources and licences: `data/attribution/README.md`.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from functools import cache
from importlib import resources

UNKNOWN_CONFIDENCE = "unknown"
TAG_TYPES = frozenset({"actor", "event", "mention"})


@dataclass(frozen=True)
class Currency:
    """One way to store a currency's addresses: its chain and the address check."""

    code: str
    chain: str
    check: str  # bitcoin | evm | tron | text


def data_text(name: str) -> str:
    """The text of one packaged attribution data file."""
    path = resources.files("chainsleuth").joinpath("data", "attribution", name)
    return path.read_text(encoding="utf-8")


def _rows(name: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data_text(name))))


@cache
def confidence_levels() -> dict[str, int]:
    """Named confidence level -> numeric level."""
    return {r["id"]: int(r["level"]) for r in _rows("confidence.csv")}


@cache
def concepts() -> dict[str, str]:
    """Concept id -> broader concept id ('' for the top concept)."""
    return {r["id"]: r["broader"] for r in _rows("concepts.csv")}


@cache
def currencies() -> dict[str, tuple[Currency, ...]]:
    """Upper-case currency code -> its storage options, in order of preference."""
    found: dict[str, list[Currency]] = {}
    for r in _rows("currencies.csv"):
        found.setdefault(r["code"], []).append(Currency(r["code"], r["chain"], r["format"]))
    return {code: tuple(options) for code, options in found.items()}


@cache
def chain_codes() -> dict[str, str]:
    """Chain -> the first currency code stored under it (the chain's network code)."""
    codes: dict[str, str] = {}
    for code, options in currencies().items():
        for option in options:
            codes.setdefault(option.chain, code)
    return codes


@cache
def chain_checks() -> dict[str, str]:
    """Chain -> the address check of its first currency row (evm, bitcoin, tron, text)."""
    checks: dict[str, str] = {}
    for options in currencies().values():
        for option in options:
            checks.setdefault(option.chain, option.check)
    return checks
