"""A simulated theft of `truth.json` as an incident record of the incident database.

The record is valid for `chainsleuth incidents validate` and `incidents import`: it lets the
incident commands (`verify`, `stats`, `report incident`) run on a chain whose truth is
known. What the simulator knows becomes the record:

- `id`: `sim-s<seed>-<theft id>` (e.g. `sim-s7-dmm-like-btc`), the file `<id>.yaml`;
- `date`: the UTC day of the theft (Bitcoin: the truth's `time`; Ethereum: the time of the
  theft's block, from the simulator's start time and block interval);
- `victim`: the robbed entity's label; `type` from its kind (an exchange is a
  `centralised_exchange`); `country` as given (default unknown);
- `assets`: the chain's native asset and the stolen amount, exact in base units, and any
  stolen tokens by their symbol;
- `attribution`: the simulated thief, `high` confidence, attributed by the ground truth;
- `seeds`: the theft transaction and the addresses that received the stolen value;
- `sources`: `doc:chainsleuth simulator seed N, truth.json theft ID`.

No market value is invented: `usd_value` is absent unless given.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from chainsleuth.errors import InputError

NATIVE = {"bitcoin": ("BTC", 8), "ethereum": ("ETH", 18)}
VICTIM_TYPES = {"exchange": "centralised_exchange", "otc": "company", "merchant": "company"}
ATTRIBUTED_BY = "chainsleuth simulator ground truth"


def _theft_time(truth: dict[str, Any], theft: dict[str, Any]) -> dt.datetime:
    if theft.get("time"):
        return dt.datetime.fromisoformat(str(theft["time"]).replace("Z", "+00:00"))
    if theft.get("chain") == "ethereum" and theft.get("height") is not None:
        from chainsleuth.sim.eth_config import BLOCK_SECONDS, START_TIME

        seconds = START_TIME + BLOCK_SECONDS * int(theft["height"])
        return dt.datetime.fromtimestamp(seconds, dt.UTC)
    raise InputError(f"truth.json theft {theft.get('id')!r}: no 'time' and no 'height'")


def _token_assets(truth: dict[str, Any], theft: dict[str, Any], chain: str) -> list[dict[str, Any]]:
    """Tokens stolen besides the native asset (Ethereum), by the symbol the chain stores."""
    known = truth.get("tokens") or {}
    found = []
    for contract, stolen in sorted((theft.get("stolen_tokens") or {}).items()):
        token = known.get(contract)
        if token is None:
            raise InputError(
                f"truth.json theft {theft['id']!r}: token {contract} is not in 'tokens'"
            )
        decimals = int(token["decimals"])
        amount = format(Decimal(int(stolen)).scaleb(-decimals).normalize(), "f")
        found.append(
            {"chain": chain, "asset": token["symbol"], "amount": amount, "decimals": decimals}
        )
    return found


def incident_id(truth: dict[str, Any], theft: dict[str, Any]) -> str:
    """The record id of a simulated theft: `sim-s<seed>-<theft id>`."""
    return f"sim-s{truth.get('seed', 0)}-{theft['id']}".lower().replace("_", "-")


def theft_incident(
    truth: dict[str, Any],
    theft: dict[str, Any],
    *,
    country: str | None = None,
    usd_value: int | None = None,
) -> dict[str, Any]:
    """The incident record (a dict ready for YAML) of one theft of a parsed truth.json."""
    chain = str(theft.get("chain") or truth.get("chain") or "bitcoin")
    if chain not in NATIVE:
        raise InputError(f"truth.json theft {theft.get('id')!r}: unknown chain {chain!r}")
    asset, decimals = NATIVE[chain]
    seed = truth.get("seed", 0)
    when = _theft_time(truth, theft)
    stolen = int(theft["stolen"])
    amount = format(Decimal(stolen).scaleb(-decimals).normalize(), "f")
    victim = theft.get("victim") or {}
    thief = theft.get("thief") or {}
    addresses = list(theft["seed"].get("addresses") or [])
    if not addresses:
        addresses = sorted({o["address"] for o in theft["seed"].get("outputs") or []})
    txid = str(theft["seed"]["txid"]).lower()
    record: dict[str, Any] = {
        "id": incident_id(truth, theft),
        "name": f"Simulated: {theft.get('name') or theft['id']}",
        "date": when.date().isoformat(),
        "victim": {
            "name": str(victim.get("label") or "simulated victim"),
            "type": VICTIM_TYPES.get(str(victim.get("kind")), "company"),
            "country": country,
        },
        "assets": [
            {"chain": chain, "asset": asset, "amount": amount, "decimals": decimals},
            *_token_assets(truth, theft, chain),
        ],
        "usd_value": None if usd_value is None else int(usd_value),
        "valuation": "estimate",
        "valuation_note": (
            "simulated theft: no market value"
            if usd_value is None
            else "simulated theft: a nominal value given by the caller"
        ),
        "attribution": {
            "actor": f"{thief.get('label') or 'thief'} (simulated)",
            "confidence": "high",
            "attributed_by": [ATTRIBUTED_BY],
        },
        "seeds": {
            "addresses": [{"chain": chain, "address": a, "role": "attacker"} for a in addresses],
            "txids": [{"chain": chain, "txid": txid}],
        },
        "sources": [f"doc:chainsleuth simulator seed {seed}, truth.json theft {theft['id']}"],
        "notes": (
            f"Simulated {chain} chain (seed {seed}, {truth.get('txs', '?')} transactions); "
            f"theft at height {theft.get('height')} ({when.isoformat()}), "
            f"{stolen} base units stolen. Ground truth of where it went: truth.json."
        ),
    }
    if usd_value is None:
        del record["usd_value"]
    return record


def write_incidents(
    truth_path: Path,
    out_dir: Path,
    *,
    country: str | None = None,
    usd_value: int | None = None,
) -> list[Path]:
    """Write one `<id>.yaml` per theft of `truth_path` into `out_dir`; return the paths."""
    try:
        truth = json.loads(truth_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"{truth_path}: cannot read truth.json ({exc})") from None
    thefts = truth.get("thefts") or []
    if not thefts:
        raise InputError(f"{truth_path}: no 'thefts' (is it a simulator truth.json?)")
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for theft in thefts:
        record = theft_incident(truth, theft, country=country, usd_value=usd_value)
        path = out_dir / f"{record['id']}.yaml"
        path.write_text(yaml.safe_dump(record, sort_keys=False), encoding="utf-8")
        written.append(path)
    return written
