"""The approved withdrawal request the guard checks a transaction against.

JSON fields (issue 9): `id`, `chain` (`bitcoin` or `ethereum`), `chain_id` (EIP-155 id for
Ethereum; Bitcoin network name, default `mainnet`), `asset` (`BTC`, `ETH`, an ERC-20
contract address or a symbol the policy maps to one), `amount` (base units, as a string),
`destination`, `approvers`, `time` (ISO 8601), `wallet` and optionally `kind` (default
`transfer`; Safe administration must be requested as what it is) and
`destination_balance` (for the hot-wallet cap).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from chainsleuth.errors import InputError

Kind = Literal[
    "transfer",
    "owner_change",
    "module_change",
    "guard_change",
    "fallback_handler_change",
    "upgrade",
    "approval",
]


def _base_units(value: Any) -> int:
    """An amount in base units: an integer or a string of digits, never a float."""
    if isinstance(value, bool | float):
        raise ValueError("amounts are integers in base units (a string of digits), not floats")
    if isinstance(value, str):
        if not value.strip().isdigit():
            raise ValueError(f"{value!r} is not a whole number of base units")
        return int(value.strip())
    if isinstance(value, int) and value >= 0:
        return value
    raise ValueError("expected a non-negative integer in base units")


BaseUnits = Annotated[int, BeforeValidator(_base_units)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SafeWallet(_Strict):
    """A Safe multisig: its address, contract version (selects the EIP-712 domain) and,
    for execTransaction calldata that does not carry it, the current nonce."""

    type: Literal["safe"]
    address: str
    version: str
    nonce: int | None = None


class AccountWallet(_Strict):
    """An Ethereum externally owned account (hot wallet) sending plain transactions."""

    type: Literal["account"]
    address: str


class BitcoinWallet(_Strict):
    """A Bitcoin wallet: output descriptors and/or addresses that prove change."""

    type: Literal["bitcoin"]
    descriptors: list[str] = []
    addresses: list[str] = []


class Request(_Strict):
    """An approved withdrawal (see the module docstring for the fields)."""

    id: str
    chain: Literal["bitcoin", "ethereum"]
    chain_id: int | str | None = None
    asset: str
    amount: BaseUnits
    destination: str
    approvers: list[str]
    time: dt.datetime
    wallet: Annotated[SafeWallet | AccountWallet | BitcoinWallet, Field(discriminator="type")]
    kind: Kind = "transfer"
    destination_balance: BaseUnits | None = None

    def bitcoin_network(self) -> str:
        """The Bitcoin network name (chain_id, default mainnet)."""
        return str(self.chain_id) if self.chain_id is not None else "mainnet"

    def ethereum_chain_id(self) -> int:
        """The EIP-155 chain id the transaction must carry."""
        if isinstance(self.chain_id, int):
            return self.chain_id
        if isinstance(self.chain_id, str) and self.chain_id.isdigit():
            return int(self.chain_id)
        raise InputError(f"request {self.id}: chain_id must be an integer for ethereum")

    def utc_time(self) -> dt.datetime:
        """`time` as an aware UTC datetime (naive times are taken as UTC)."""
        t = self.time
        return t.replace(tzinfo=dt.UTC) if t.tzinfo is None else t.astimezone(dt.UTC)


def parse_request(data: Any, *, where: str = "request") -> Request:
    """Validate a request object; InputError names the first bad field."""
    try:
        return Request.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        raise InputError(f"{where}: field {loc}: {err['msg']}") from None


def load_request(path: Path) -> Request:
    """Read and validate a request JSON file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"request {path}: cannot read ({exc.strerror})") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"request {path}: invalid JSON at line {exc.lineno}: {exc.msg}") from None
    return parse_request(data, where=f"request {path}")
