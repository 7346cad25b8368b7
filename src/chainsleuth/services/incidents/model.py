"""The incident record: one theft, its victim, what was taken, who is blamed and by whom.

Amounts. `assets[].amount` is the quantity taken in whole units of the asset, written as a
quoted decimal string (`"4502.9"` BTC) or an integer; YAML floats are refused because they
are not exact. `decimals` is the number of base-unit decimals of the asset (8 for BTC, 18
for ETH); it may be omitted for the assets of `KNOWN_DECIMALS`. The exact integer in base
units is `amount × 10**decimals` (`AssetAmount.base_units`) and must be whole. An asset whose
quantity is not known is listed without `amount`; an `amount` without `asset` is an error.

Money. `usd_value` is whole US dollars at the time of the theft; `valuation` says how it was
obtained (`reported`: the figure a cited source gave; `daily_close`: our assets × the daily
close of the theft date; `estimate`: a rounded figure from several reports).
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any
from urllib.parse import urlparse

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from chainsleuth.countries import ISO_3166_ALPHA2

KNOWN_DECIMALS: dict[str, int] = {
    "BTC": 8,
    "BCH": 8,
    "LTC": 8,
    "ETH": 18,
    "STETH": 18,
    "METH": 18,
    "CMETH": 18,
    "BNB": 18,
    "MATIC": 18,
    "USDT": 6,
    "USDC": 6,
    "XRP": 6,
    "XEM": 6,
    "TRX": 6,
    "EOS": 4,
    "SOL": 9,
}
"""Base-unit decimals of the assets that need no `decimals` field."""

ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]*$")
REFERENCE_PATTERN = re.compile(r"^(doc|github):\S.*$")
"""A non-URL source: `doc:<publisher, title, date>` or `github:<owner/repo@commit:path>`."""


class VictimType(StrEnum):
    """What kind of organisation (or person) lost the funds."""

    centralised_exchange = "centralised_exchange"
    bridge = "bridge"
    defi = "defi"
    wallet = "wallet"
    gaming = "gaming"
    payment_processor = "payment_processor"
    gambling = "gambling"
    mining = "mining"
    company = "company"
    individual = "individual"


class Confidence(StrEnum):
    """How firm the attribution is."""

    high = "high"
    medium = "medium"
    low = "low"


class Valuation(StrEnum):
    """How `usd_value` was obtained."""

    reported = "reported"
    daily_close = "daily_close"
    estimate = "estimate"


class DatePrecision(StrEnum):
    """How precise `date` is: the day, or only the month (then `date` is its first day)."""

    day = "day"
    month = "month"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Victim(_Strict):
    """Who lost the funds."""

    name: str = Field(min_length=1)
    type: VictimType
    country: str | None = None
    """ISO 3166-1 alpha-2 code of the victim's main place of business; null when unknown."""

    @field_validator("country")
    @classmethod
    def _iso_country(cls, value: str | None) -> str | None:
        if value is not None and value not in ISO_3166_ALPHA2:
            raise ValueError(f"{value!r} is not an ISO 3166-1 alpha-2 country code")
        return value


class AssetAmount(_Strict):
    """One asset taken: chain, asset symbol and quantity in whole units (see module doc)."""

    chain: str = Field(min_length=1)
    asset: str | None = None
    amount: Decimal | None = None
    decimals: int | None = Field(default=None, ge=0, le=36)

    @field_validator("amount", mode="before")
    @classmethod
    def _exact_amount(cls, value: Any) -> Any:
        if value is None or isinstance(value, Decimal):
            return value
        if isinstance(value, bool | float):
            raise ValueError("write the amount as a quoted decimal string, e.g. '4502.9'")
        if isinstance(value, int):
            return Decimal(value)
        if isinstance(value, str):
            try:
                parsed = Decimal(value.replace("_", ""))
            except InvalidOperation:
                raise ValueError(f"{value!r} is not a decimal number") from None
            if not parsed.is_finite() or parsed < 0:
                raise ValueError(f"{value!r} is not a non-negative decimal number")
            return parsed
        raise ValueError("expected a quoted decimal string")

    @model_validator(mode="after")
    def _asset_and_units(self) -> AssetAmount:
        if self.amount is not None and not self.asset:
            raise ValueError("asset: an amount needs the asset it counts")
        if self.amount is not None and self.base_units is None:
            raise ValueError(
                f"decimals: unknown for asset {self.asset!r}; give `decimals`, or an amount "
                f"that is whole in base units"
            )
        return self

    @property
    def resolved_decimals(self) -> int | None:
        """`decimals`, else the known decimals of the asset."""
        if self.decimals is not None:
            return self.decimals
        return KNOWN_DECIMALS.get((self.asset or "").upper())

    @property
    def base_units(self) -> int | None:
        """The exact quantity in base units, or None when the amount or decimals are unknown
        or the amount has more fractional digits than the asset's decimals."""
        decimals = self.resolved_decimals
        if self.amount is None or decimals is None:
            return None
        scaled = self.amount.scaleb(decimals)
        if scaled != scaled.to_integral_value():
            return None
        return int(scaled)


class Attribution(_Strict):
    """Who is blamed, how firmly, and by whom."""

    actor: str = Field(min_length=1)
    confidence: Confidence
    attributed_by: list[str] = Field(min_length=1)
    disputed: bool = False
    note: str | None = None

    @model_validator(mode="after")
    def _disputed_needs_note(self) -> Attribution:
        if self.disputed and not self.note:
            raise ValueError("note: a disputed attribution must say why")
        return self


class SeedAddress(_Strict):
    """An on-chain address to start tracing from."""

    chain: str = Field(min_length=1)
    address: str = Field(min_length=1)
    role: str = "attacker"


class SeedTx(_Strict):
    """A theft transaction."""

    chain: str = Field(min_length=1)
    txid: str = Field(pattern=r"^(0x)?[0-9a-f]{64}$")


class Seeds(_Strict):
    """Where tracing starts."""

    addresses: list[SeedAddress] = []
    txids: list[SeedTx] = []


def check_source(value: str) -> str:
    """`value` if it is an http(s) URL with a host or a `doc:`/`github:` reference."""
    parsed = urlparse(value)
    if parsed.scheme in ("http", "https") and parsed.netloc and " " not in value:
        return value
    if REFERENCE_PATTERN.match(value):
        return value
    raise ValueError(
        f"{value!r} is neither an http(s) URL nor a reference (doc:… or github:owner/repo…)"
    )


class Incident(_Strict):
    """One theft attributed to a DPRK-linked actor."""

    id: str = Field(pattern=ID_PATTERN.pattern)
    name: str = Field(min_length=1)
    date: dt.date
    date_precision: DatePrecision = DatePrecision.day
    victim: Victim
    assets: list[AssetAmount] = []
    usd_value: int | None = Field(default=None, ge=0)
    valuation: Valuation
    valuation_note: str | None = None
    attribution: Attribution
    seeds: Seeds = Seeds()
    sources: list[str] = Field(min_length=1)
    notes: str | None = None

    @field_validator("date")
    @classmethod
    def _not_future(cls, value: dt.date) -> dt.date:
        today = dt.datetime.now(dt.UTC).date()
        if value > today:
            raise ValueError(f"{value.isoformat()} is in the future (today is {today} UTC)")
        return value

    @model_validator(mode="after")
    def _month_starts(self) -> Incident:
        if self.date_precision is DatePrecision.month and self.date.day != 1:
            raise ValueError("date: with date_precision 'month' the date is the month's first day")
        return self

    @field_validator("sources")
    @classmethod
    def _sources(cls, values: list[str]) -> list[str]:
        for index, value in enumerate(values):
            try:
                check_source(value)
            except ValueError as exc:
                raise ValueError(f"[{index}]: {exc}") from None
        return values

    @field_validator("usd_value", mode="before")
    @classmethod
    def _whole_dollars(cls, value: Any) -> Any:
        if isinstance(value, float):
            raise ValueError("write whole US dollars as an integer")
        return value
