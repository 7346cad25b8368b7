"""Explorer labels (brianleect/etherscan-labels `combinedAccountLabels.json`) as tags.

Each entry `{address: {"name": ..., "labels": [...]}}` becomes one tag: label = the name
(or the first label slug when the name is empty), confidence `web_crawl`, source the
explorer page of the address, category from the label slugs below when one matches.
The chain comes from the explorer directory (etherscan -> ethereum, bscscan -> bsc, ...).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from chainsleuth.analytics.attribution.currency import resolve
from chainsleuth.analytics.attribution.marked import Problems
from chainsleuth.analytics.attribution.model import Dataset, Tag
from chainsleuth.analytics.attribution.taxonomy import chain_codes, confidence_levels
from chainsleuth.errors import InputError, ParseError

# explorer directory -> (chain, explorer host)
EXPLORERS = {
    "etherscan": ("ethereum", "etherscan.io"),
    "bscscan": ("bsc", "bscscan.com"),
    "polygonscan": ("polygon", "polygonscan.com"),
    "arbiscan": ("arbitrum", "arbiscan.io"),
    "optimism": ("optimism", "optimistic.etherscan.io"),
    "ftmscan": ("fantom", "ftmscan.com"),
    "avalanche": ("avalanche", "snowtrace.io"),
}
# label slug -> (category, abuse)
CATEGORIES: dict[str, tuple[str, str | None]] = {
    "exchange": ("exchange", None),
    "dex": ("defi_dex", None),
    "bridge": ("defi_bridge", None),
    "defi": ("defi", None),
    "lending": ("defi_lending", None),
    "mining": ("miner", None),
    "gambling": ("gambling", None),
    "tornado-cash": ("mixing_service", None),
    "ofac-sanctions-lists": ("sanctioned", "sanction"),
    "heist": ("perpetrator", "service_hack"),
    "exploit": ("perpetrator", "service_hack"),
    "phish-hack": ("perpetrator", "phishing"),
}


def explorer_of(file: str) -> tuple[str, str]:
    """(chain, host) of a labels file, from the explorer directory in its path."""
    for part in reversed(Path(file).parts):
        if part in EXPLORERS:
            return EXPLORERS[part]
    return EXPLORERS["etherscan"]


def parse_labels(text: str, file: str, *, skip_invalid: bool = False) -> Dataset:
    """The tags of one combinedAccountLabels.json file."""
    try:
        doc: dict[str, Any] = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ParseError(f"{file}:{exc.lineno}: malformed JSON: {exc.msg}") from None
    chain, host = explorer_of(file)
    code = chain_codes()[chain]
    ds = Dataset(f"{host.split('.')[0]}-labels", "etherscan-labels", file, [], title=host)
    problems = Problems(file)
    level = confidence_levels()["web_crawl"]
    for n, (key, entry) in enumerate(doc.items(), start=1):
        slugs = [str(s) for s in entry.get("labels", [])]
        label = str(entry.get("name") or "").strip() or (slugs[0] if slugs else key)
        category, abuse = next((CATEGORIES[s] for s in slugs if s in CATEGORIES), (None, None))
        try:
            _, address = resolve(code, None, key, f"entry {n}")
        except InputError as exc:
            if skip_invalid:
                ds.warnings.append(f"{file}: {exc}; skipped")
            else:
                problems.add(0, str(exc))
            continue
        ds.tags.append(
            Tag(
                chain=chain,
                address=address,
                tx_hash=None,
                currency=code,
                label=label,
                source=f"https://{host}/address/{key}",
                confidence="web_crawl",
                confidence_level=level,
                category=category,
                abuse=abuse,
                concepts=[],
                context=json.dumps({"explorer_labels": slugs}) if slugs else None,
                line=n,
            )
        )
    problems.raise_if_any()
    return ds
