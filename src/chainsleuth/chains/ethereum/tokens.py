"""Token metadata: `symbol()`, `name()`, `decimals()` by `eth_call`, or a Uniswap token list.

Contracts answer in more than one way: an ABI `string` (offset, length, bytes), a `bytes32`
padded with zero bytes (early tokens such as EOS and MKR), a length that overstates the
bytes actually meaningful (trailing zero bytes are dropped), or a revert. Anything that
does not decode to printable text is recorded as unknown, never guessed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from chainsleuth.chains.ethereum.address import normalize
from chainsleuth.chains.jsonrpc import JsonRpcClient
from chainsleuth.errors import InputError, ParseError

SYMBOL = "0x95d89b41"
NAME = "0x06fdde03"
DECIMALS = "0x313ce567"
MAINNET = 1


def decode_text(result: Any) -> str | None:
    """A `string` or `bytes32` return value as text (None when it is neither)."""
    if not isinstance(result, str) or not result.startswith("0x"):
        return None
    try:
        data = bytes.fromhex(result[2:])
    except ValueError:
        return None
    raw = data[:32]
    if len(data) >= 64:
        offset = int.from_bytes(data[:32], "big")
        if offset + 32 <= len(data):
            length = int.from_bytes(data[offset : offset + 32], "big")
            if offset + 32 + length <= len(data):
                raw = data[offset + 32 : offset + 32 + length]
    text = raw.rstrip(b"\0")
    try:
        decoded = text.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return decoded if decoded and decoded.isprintable() else None


def decode_small_uint(result: Any, limit: int = 255) -> int | None:
    """A `uint` return value when it is at most `limit` (decimals), else None."""
    if not isinstance(result, str) or len(result) < 3:
        return None
    try:
        value = int(result[:66], 16)
    except ValueError:
        return None
    return value if value <= limit else None


def fetch_metadata(client: JsonRpcClient, contracts: Sequence[str]) -> list[dict[str, Any]]:
    """symbol, name and decimals of each contract by eth_call (reverts give None)."""
    calls = [
        ("eth_call", [{"to": contract, "data": selector}, "latest"])
        for contract in contracts
        for selector in (SYMBOL, NAME, DECIMALS)
    ]
    outcomes = client.batch_outcomes(calls) if calls else []
    rows = []
    for i, contract in enumerate(contracts):
        symbol, name, decimals = (
            o.result if o.error is None else None for o in outcomes[3 * i : 3 * i + 3]
        )
        rows.append(
            {
                "contract": contract,
                "symbol": decode_text(symbol),
                "name": decode_text(name),
                "decimals": decode_small_uint(decimals),
                "standard": None,
                "source": "eth_call",
            }
        )
    return rows


def token_list_rows(path: str | Path, chain_id: int = MAINNET) -> list[dict[str, Any]]:
    """The tokens of a Uniswap token-list JSON file (https://tokenlists.org) for `chain_id`."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"cannot read token list {path}: {exc.strerror}") from exc
    except json.JSONDecodeError as exc:
        raise ParseError(f"token list {path}: not JSON ({exc})") from exc
    tokens = doc.get("tokens") if isinstance(doc, dict) else None
    if not isinstance(tokens, list):
        raise ParseError(f"token list {path}: no 'tokens' array")
    rows = []
    for i, token in enumerate(tokens):
        if not isinstance(token, dict) or token.get("chainId") != chain_id:
            continue
        address, decimals = token.get("address"), token.get("decimals")
        if not isinstance(address, str) or not isinstance(decimals, int):
            raise ParseError(f"token list {path}: token {i} lacks address or decimals")
        rows.append(
            {
                "contract": normalize(address, where=f"token list {path} token {i}"),
                "symbol": token.get("symbol"),
                "name": token.get("name"),
                "decimals": decimals,
                "standard": "erc20",
                "source": "token_list",
            }
        )
    return rows
