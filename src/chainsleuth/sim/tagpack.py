"""A GraphSense TagPack of a simulated chain's known services, from its ground truth.

Real investigations start from labelled services (exchange wallets, OTC desks) and from
the attacker addresses a victim publishes; this pack gives a simulated chain the same:
`share` of each exchange's, OTC desk's, bridge's, mixer's and DEX pool's addresses (all by
default, so an evaluation measures the taint models, not the labelling), and each theft's
seed addresses as the perpetrator. The pack's currency is the truth's chain's (Bitcoin for a
cross-chain truth); a tag of an entity or theft on another chain names its own currency, so
one pack covers both chains of a cross-chain truth. `chainsleuth tags
import` reads it like any other pack.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import yaml

SOURCE = "chainsleuth simulator ground truth"
#: Entity kinds of the simulators with the GraphSense concept that names them (GraphSense
#: has no OTC concept: desks are labelled exchanges).
SERVICES = {
    "exchange": "exchange",
    "otc": "exchange",
    "bridge": "defi_bridge",
    "mixer": "mixing_service",
    "dex": "defi_dex",
}


CURRENCY = {"bitcoin": "BTC", "ethereum": "ETH"}


def _addresses_by_entity(truth: dict[str, Any]) -> dict[int, list[str]]:
    owned: dict[int, list[str]] = {}
    for address, entity in truth["addresses"].items():
        owned.setdefault(int(entity), []).append(address)
    return owned


def build_tagpack(truth: dict[str, Any], share: float = 1.0, seed: int = 7) -> dict[str, Any]:
    """The TagPack document (a dict ready for YAML) for a parsed truth.json."""
    rng = np.random.default_rng(seed)
    owned = _addresses_by_entity(truth)
    chain = truth.get("chain", "bitcoin")
    tags: list[dict[str, Any]] = []
    for entity in truth["entities"]:
        category = SERVICES.get(entity["kind"])
        if category is None:
            continue
        own = {"currency": CURRENCY[entity["chain"]]} if entity.get("chain", chain) != chain else {}
        addresses = sorted(owned.get(int(entity["id"]), []))
        if share < 1.0 and addresses:
            keep = max(1, round(share * len(addresses)))
            addresses = sorted(rng.choice(addresses, size=keep, replace=False).tolist())
        extra = {"context": "OTC desk"} if entity["kind"] == "otc" else {}
        tags += [
            {
                "address": a,
                "label": entity["label"],
                "category": category,
                **own,
                **extra,
            }
            for a in addresses
        ]
    for theft in truth.get("thefts", []):
        for address in theft["seed"]["addresses"]:
            tags.append(
                {
                    "address": address,
                    "label": f"{theft['name']} attacker",
                    **({"currency": CURRENCY[theft["chain"]]} if theft["chain"] != chain else {}),
                    "category": "perpetrator",
                    "abuse": "service_hack",
                }
            )
    return {
        "title": f"Simulated chain services (seed {truth.get('seed')})",
        "creator": "chainsleuth sim",
        "description": "Known services and attacker addresses of a simulated chain.",
        "is_public": True,
        "confidence": "ownership",
        "source": SOURCE,
        "currency": CURRENCY[chain],
        "lastmod": "2026-01-01",
        "tags": tags,
    }


def write_tagpack(truth_path: Path, out: Path, share: float = 1.0) -> int:
    """Write the pack for `truth_path` to `out`; returns the number of tags."""
    truth = json.loads(truth_path.read_text(encoding="utf-8"))
    pack = build_tagpack(truth, share)
    out.write_text(yaml.safe_dump(pack, sort_keys=False), encoding="utf-8")
    return len(pack["tags"])
