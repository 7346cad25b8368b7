"""API-key authentication, scopes and per-key rate limits."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import duckdb

from chainsleuth.services.screening.keys import ApiKey, KeyTable

REFRESH_SECONDS = 5.0


class ApiError(Exception):
    """An HTTP error with a JSON body `{"error": {"code", "message"}}`."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}


@dataclass
class _Bucket:
    tokens: float
    updated: float


class Guardian:
    """Checks keys and per-key rate limits without touching the store on a request.

    Presented keys are checked against an in-memory copy of the key table; `refresh`
    re-reads it (the service's background thread calls it every `REFRESH_SECONDS`), so a
    key revoked in the store is refused within seconds.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, lock: threading.Lock) -> None:
        self.con, self.lock = con, lock
        # the key table and the keys verified against it (presented secret -> key), swapped
        # as one pair so a cached check never outlives the table it was made against
        self._state: tuple[KeyTable, dict[str, ApiKey]] = (KeyTable({}), {})
        self._buckets: dict[int, _Bucket] = {}
        self._bucket_lock = threading.Lock()
        self.refresh()

    def refresh(self) -> None:
        """Re-read the key table from the store."""
        with self.lock:
            table = KeyTable.load(self.con)
        self._state = (table, {})

    def authenticate(self, presented: str | None, scope: str) -> ApiKey:
        """The key, if present, valid, unrevoked, scoped for `scope` and under its rate."""
        if not presented:
            raise ApiError(401, "missing_key", "send an API key in the X-API-Key header")
        table, verified = self._state
        key = verified.get(presented)
        if key is None:
            key = table.find(presented)
            if key is not None:
                verified[presented] = key
        if key is None or key.revoked:
            raise ApiError(401, "invalid_key", "the API key is unknown or revoked")
        if not key.allows(scope):
            raise ApiError(403, "forbidden", f"the API key lacks the '{scope}' scope")
        self._take(key)
        return key

    def _take(self, key: ApiKey) -> None:
        rate = key.rate_per_minute / 60.0
        burst = max(1.0, key.rate_per_minute / 6.0)  # ten seconds' worth
        now = time.monotonic()
        with self._bucket_lock:
            b = self._buckets.setdefault(key.key_id, _Bucket(burst, now))
            b.tokens = min(burst, b.tokens + (now - b.updated) * rate)
            b.updated = now
            if b.tokens < 1.0:
                wait = (1.0 - b.tokens) / rate
                raise ApiError(
                    429,
                    "rate_limited",
                    "too many requests for this API key",
                    {"Retry-After": str(max(1, round(wait + 0.5)))},
                )
            b.tokens -= 1.0
