"""Address lists published as CSV: FBI notices, Forta's Etherscan labels, the DPRK list.

Three kinds, told apart by their header (`detect_csv`), one module each: `fbi`
(transcribed FBI notices), `forta` (Etherscan's malicious labels from Forta's datasets),
`dprk` (the combined list of DPRK-attributed addresses); `rows` holds what they share.


Addresses are checked per chain with `currency.resolve` (Base58Check/bech32, EIP-55, Tron);
every bad row is reported with its file and line and the file imports nothing, unless
"""

from __future__ import annotations

from chainsleuth.analytics.attribution.csvlists.dprk import (
    DPRK_COLUMNS,
    KIND_DPRK,
    parse_dprk_combined,
)
from chainsleuth.analytics.attribution.csvlists.fbi import FBI_COLUMNS, KIND_FBI, parse_fbi
from chainsleuth.analytics.attribution.csvlists.forta import (
    FORTA_LAYOUTS,
    KIND_FORTA,
    parse_forta,
)

__all__ = [
    "KIND_DPRK",
    "KIND_FBI",
    "KIND_FORTA",
    "detect_csv",
    "parse_dprk_combined",
    "parse_fbi",
    "parse_forta",
]


def detect_csv(header: list[str]) -> str | None:
    """The kind of a CSV from its header row, or None when it is none of these lists."""
    columns = {c.strip().lower() for c in header}
    if columns >= DPRK_COLUMNS:
        return KIND_DPRK
    if columns >= FBI_COLUMNS:
        return KIND_FBI
    if any(columns >= layout for layout in FORTA_LAYOUTS.values()):
        return KIND_FORTA
    return None
