"""Published headline figures, and their reconciliation with our incident list.

`reconcile` sets each published figure beside the total of our incidents in the same scope
(years by theft date, optionally one victim country), with the difference and its likely
reasons: the curated `known_differences` of the figure, and reasons measured on our list
(incident counts, disputed attributions, unvalued incidents, and, when prices are
stored, the same incidents re-valued at the daily close of their theft date). A gap over
`TOLERANCE` with no reason at all is reported as `unexplained`.
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Any

import duckdb
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from chainsleuth.countries import ISO_3166_ALPHA2
from chainsleuth.errors import InputError
from chainsleuth.services.incidents.model import check_source
from chainsleuth.services.incidents.valuation import daily_close_values

TOLERANCE = Decimal("0.10")
"""Relative gap up to which our total counts as consistent with a published one."""


class ReasonKind(StrEnum):
    """Why a published figure and ours differ."""

    missing_incidents = "missing_incidents"
    valuation = "valuation"
    scope = "scope"
    attribution = "attribution"
    count_definition = "count_definition"


class Reason(BaseModel):
    """One likely reason for a difference."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: ReasonKind
    text: str = Field(min_length=1)


class Scope(BaseModel):
    """Years (inclusive) and optionally the victim country a figure covers."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    from_year: int
    to_year: int
    country: str | None = None

    @field_validator("country")
    @classmethod
    def _iso(cls, value: str | None) -> str | None:
        if value is not None and value not in ISO_3166_ALPHA2:
            raise ValueError(f"{value!r} is not an ISO 3166-1 alpha-2 country code")
        return value

    def label(self) -> str:
        """`2017-2022 JP`, `2024`."""
        years = (
            str(self.from_year)
            if self.from_year == self.to_year
            else f"{self.from_year}-{self.to_year}"
        )
        return f"{years} {self.country}" if self.country else years


class PublishedFigure(BaseModel):
    """A headline figure with its source."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(min_length=1)
    publisher: str = Field(min_length=1)
    title: str = Field(min_length=1)
    published: dt.date
    scope: Scope
    stolen_usd: int = Field(ge=0)
    incident_count: int | None = Field(default=None, ge=0)
    sources: list[str] = Field(min_length=1)
    notes: str | None = None
    known_differences: list[Reason] = []

    @field_validator("sources")
    @classmethod
    def _sources(cls, values: list[str]) -> list[str]:
        for value in values:
            check_source(value)
        return values


def load_figures(path: Path | None = None) -> list[PublishedFigure]:
    """The published figures of `path`, else the table shipped in the package."""
    if path is None:
        text = (resources.files("chainsleuth") / "data" / "published_figures.yaml").read_text(
            encoding="utf-8"
        )
        where = "chainsleuth/data/published_figures.yaml"
    else:
        where = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"{where}: cannot read: {exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InputError(f"{where}: not valid YAML: {exc}") from None
    if not isinstance(data, list):
        raise InputError(f"{where}: expected a list of published figures")
    figures = []
    for index, item in enumerate(data):
        try:
            figures.append(PublishedFigure.model_validate(item))
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"])
            message = str(first["msg"]).removeprefix("Value error, ")
            raise InputError(f"{where}: [{index}].{field}: {message}") from None
    return figures


def _ours(con: duckdb.DuckDBPyConnection, scope: Scope) -> dict[str, int]:
    row = con.execute(
        "SELECT count(*), coalesce(sum(usd_value), 0)::HUGEINT,"
        " coalesce(sum(usd_value) FILTER (WHERE disputed), 0)::HUGEINT,"
        " count(*) FILTER (WHERE disputed), count(*) FILTER (WHERE usd_value IS NULL)"
        " FROM incidents WHERE year(date) BETWEEN ? AND ?"
        " AND (?::VARCHAR IS NULL OR victim_country = ?)",
        [scope.from_year, scope.to_year, scope.country, scope.country],
    ).fetchone()
    assert row is not None
    keys = ("incidents", "stolen_usd", "disputed_usd", "disputed", "unvalued")
    ours = {k: int(v) for k, v in zip(keys, row, strict=True)}
    recorded = dict(
        con.execute(
            "SELECT incident_id, usd_value FROM incidents WHERE usd_value IS NOT NULL"
            " AND year(date) BETWEEN ? AND ? AND (?::VARCHAR IS NULL OR victim_country = ?)",
            [scope.from_year, scope.to_year, scope.country, scope.country],
        ).fetchall()
    )
    revalued = daily_close_values(con, list(recorded)) if recorded else {}
    ours["revalued"] = len(revalued)
    ours["revalued_usd"] = sum(revalued.values())
    ours["revalued_recorded_usd"] = sum(int(recorded[i]) for i in revalued)
    return ours


def _incidents(count: int) -> str:
    return f"{count} incident" if count == 1 else f"{count} incidents"


def measured_reasons(figure: PublishedFigure, ours: dict[str, int]) -> list[Reason]:
    """Reasons for a gap read off our own list for the figure's scope."""
    reasons = []
    published_count = figure.incident_count
    if published_count is not None and published_count != ours["incidents"]:
        reasons.append(
            Reason(
                kind=ReasonKind.missing_incidents
                if published_count > ours["incidents"]
                else ReasonKind.count_definition,
                text=f"{figure.publisher} counts {published_count} incidents, "
                f"our list {ours['incidents']} for {figure.scope.label()}",
            )
        )
    elif ours["stolen_usd"] < figure.stolen_usd:
        reasons.append(
            Reason(
                kind=ReasonKind.missing_incidents,
                text=f"our curated list holds {ours['incidents']} incidents for "
                f"{figure.scope.label()}; thefts counted by {figure.publisher} but not listed "
                "by us would explain a shortfall",
            )
        )
    if ours["disputed_usd"]:
        reasons.append(
            Reason(
                kind=ReasonKind.attribution,
                text=f"${ours['disputed_usd']:,} of our total rests on disputed "
                f"attributions ({_incidents(ours['disputed'])})",
            )
        )
    if ours["revalued"] and ours["revalued_usd"] != ours["revalued_recorded_usd"]:
        reasons.append(
            Reason(
                kind=ReasonKind.valuation,
                text=f"re-valued at the daily close of the theft date, "
                f"{_incidents(ours['revalued'])} with priced assets: "
                f"${ours['revalued_usd']:,} instead of the recorded "
                f"${ours['revalued_recorded_usd']:,}",
            )
        )
    if ours["unvalued"]:
        reasons.append(
            Reason(
                kind=ReasonKind.valuation,
                text=f"{_incidents(ours['unvalued'])} of ours in scope without a USD value",
            )
        )
    return reasons


def _gap(published: int, ours: int) -> Decimal | None:
    if published == 0:
        return None
    return ((Decimal(ours) - published) / published).quantize(
        Decimal("0.001"), rounding=ROUND_HALF_UP
    )


def reconcile(
    con: duckdb.DuckDBPyConnection, figures: list[PublishedFigure] | None = None
) -> list[dict[str, Any]]:
    """Each published figure beside ours: difference, relative gap, status and reasons.

    `status` is `consistent` (gap within TOLERANCE), `explained` (larger gap with reasons)
    or `unexplained` (larger gap, no reason found).
    """
    rows = []
    for figure in figures if figures is not None else load_figures():
        ours = _ours(con, figure.scope)
        gap = _gap(figure.stolen_usd, ours["stolen_usd"])
        reasons = list(figure.known_differences) + measured_reasons(figure, ours)
        if gap is not None and abs(gap) <= TOLERANCE:
            status = "consistent"
        else:
            status = "explained" if reasons else "unexplained"
        rows.append(
            {
                "id": figure.id,
                "publisher": figure.publisher,
                "scope": figure.scope.label(),
                "published_usd": figure.stolen_usd,
                "ours_usd": ours["stolen_usd"],
                "difference_usd": ours["stolen_usd"] - figure.stolen_usd,
                "gap_pct": None if gap is None else str((gap * 100).quantize(Decimal("0.1"))),
                "published_incidents": figure.incident_count,
                "our_incidents": ours["incidents"],
                "status": status,
                "reasons": [f"{r.kind.value}: {r.text}" for r in reasons],
                "source": figure.sources[0],
            }
        )
    return rows
