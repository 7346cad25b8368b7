"""API keys: shown once at creation, stored only as salted SHA-256 hashes, scoped, revocable.

A key is `cs_<prefix>_<secret>` with 256 bits of randomness, so a fast salted hash is as safe
as a slow one (there is nothing to brute-force) and keeps per-request checks cheap.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

import duckdb

from chainsleuth.errors import InputError, NotFoundError

SCOPES = ("screen", "trace", "guard", "admin")


@dataclass(frozen=True)
class ApiKey:
    """A stored key's public facts."""

    key_id: int
    name: str
    prefix: str
    scopes: tuple[str, ...]
    rate_per_minute: int
    revoked: bool

    def allows(self, scope: str) -> bool:
        """Whether the key may use endpoints of `scope` (admin may use all)."""
        return scope in self.scopes or "admin" in self.scopes


def _digest(salt: str, secret: str) -> str:
    return hashlib.sha256(bytes.fromhex(salt) + secret.encode("utf-8")).hexdigest()


def create_key(
    con: duckdb.DuckDBPyConnection, name: str, scopes: list[str], rate_per_minute: int = 6000
) -> dict[str, Any]:
    """Create a key; the returned `key` is the only time the secret is visible."""
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown or not scopes:
        raise InputError(f"--scopes: unknown {unknown or 'none given'}; use {', '.join(SCOPES)}")
    if not name.strip():
        raise InputError("--name must not be empty")
    prefix = secrets.token_hex(4)
    secret = secrets.token_urlsafe(32)
    salt = secrets.token_hex(16)
    key_id = int(con.execute("SELECT nextval('api_key_seq')").fetchall()[0][0])
    con.execute(
        "INSERT INTO api_keys (key_id, name, prefix, salt, hash, scopes, rate_per_minute)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        [key_id, name, prefix, salt, _digest(salt, secret), scopes, rate_per_minute],
    )
    return {
        "key_id": key_id,
        "name": name,
        "scopes": scopes,
        "key": f"cs_{prefix}_{secret}",
        "rate_per_minute": rate_per_minute,
    }


def list_keys(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """Every key without its secret."""
    rows = con.execute(
        "SELECT key_id, name, prefix, scopes, rate_per_minute, created_at, revoked_at"
        " FROM api_keys ORDER BY key_id"
    ).fetchall()
    return [
        {
            "key_id": r[0],
            "name": r[1],
            "prefix": f"cs_{r[2]}_…",
            "scopes": r[3],
            "rate_per_minute": r[4],
            "created_at": r[5],
            "revoked_at": r[6],
        }
        for r in rows
    ]


def revoke_key(con: duckdb.DuckDBPyConnection, key_id: int) -> None:
    """Revoke a key; it is refused from then on."""
    found = con.execute(
        "UPDATE api_keys SET revoked_at = current_timestamp WHERE key_id = ? AND revoked_at"
        " IS NULL RETURNING key_id",
        [key_id],
    ).fetchall()
    if not found:
        raise NotFoundError(f"no active API key with id {key_id}")


@dataclass(frozen=True)
class KeyTable:
    """Every stored key with its salt and hash, by prefix: a service checks presented keys
    against this copy in memory instead of querying the store on each request."""

    by_prefix: dict[str, list[tuple[ApiKey, str, str]]]

    @classmethod
    def load(cls, con: duckdb.DuckDBPyConnection) -> KeyTable:
        """The key table as stored now (revoked keys included, marked revoked)."""
        table: dict[str, list[tuple[ApiKey, str, str]]] = {}
        for key_id, name, prefix, salt, digest, scopes, rate, revoked in con.execute(
            "SELECT key_id, name, prefix, salt, hash, scopes, rate_per_minute, revoked_at"
            " FROM api_keys"
        ).fetchall():
            key = ApiKey(key_id, name, prefix, tuple(scopes), rate, revoked is not None)
            table.setdefault(prefix, []).append((key, salt, digest))
        return cls(table)

    def find(self, presented: str) -> ApiKey | None:
        """The key record `presented` is the secret of (revoked or not), or None."""
        parts = presented.split("_", 2)
        if len(parts) != 3 or parts[0] != "cs":
            return None
        for key, salt, digest in self.by_prefix.get(parts[1], []):
            if hmac.compare_digest(_digest(salt, parts[2]), digest):
                return key
        return None
