"""The request bodies of the screening service (validated by pydantic before a route runs)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from chainsleuth.analytics.tracing.taint import Model

MAX_BATCH = 10_000


class BatchItem(BaseModel):
    """One item to screen: an address, or a transaction with its role."""

    chain: str
    address: str | None = None
    tx: str | None = None
    role: Literal["deposit", "withdrawal"] = "deposit"


class BatchRequest(BaseModel):
    """Up to 10,000 items screened in one call."""

    items: list[BatchItem] = Field(..., min_length=1, max_length=MAX_BATCH)


class TraceRequest(BaseModel):
    """A trace job (same options as `chainsleuth trace`)."""

    chain: str = "bitcoin"
    seeds: list[str] = Field(..., min_length=1, max_length=100)
    model: Model = Model.haircut
    direction: Literal["forward", "backward"] = "forward"
    max_hops: int = Field(10, ge=1, le=50)
    min_amount: int = Field(0, ge=0)


class GuardCheckRequest(BaseModel):
    """A withdrawal to check: the approved request and the transaction about to be signed."""

    request: dict[str, Any]
    tx: str = Field(..., min_length=1, description="PSBT (base64), raw hex, or tx/Safe JSON")
    wallet: list[str] = Field(default_factory=list, max_length=100)


class WatchItem(BaseModel):
    """What a watchlist watches."""

    kind: Literal["address", "entity", "actor"]
    value: str
    chain: str | None = None
    note: str | None = None


class WatchlistRequest(BaseModel):
    """A new watchlist."""

    name: str = Field(..., min_length=1, max_length=200)
    items: list[WatchItem] = Field(default_factory=list, max_length=100_000)
    webhooks: list[str] = Field(default_factory=list, max_length=20)


class WatchItemsRequest(BaseModel):
    """A replacement set of items."""

    items: list[WatchItem] = Field(..., max_length=100_000)
