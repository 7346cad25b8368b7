"""History of allowed withdrawals, for the rolling 24-hour limits.

A JSON Lines file (one object per allowed request: `id`, `chain`, `asset`, `amount` as a
string of base units, `destination`, `time` in ISO 8601 UTC). `guard check --history FILE`
reads it and appends the request when the decision is allow. Re-checking a request already
recorded does not count it twice.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

from chainsleuth.errors import InputError
from chainsleuth.services.guard.model import Request

WINDOW = dt.timedelta(hours=24)


@dataclass(frozen=True)
class Entry:
    """One allowed withdrawal."""

    id: str
    chain: str
    asset: str
    amount: int
    time: dt.datetime


def read(path: Path) -> list[Entry]:
    """The entries of a history file (an absent file is an empty history)."""
    if not path.exists():
        return []
    entries = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            time = dt.datetime.fromisoformat(obj["time"].replace("Z", "+00:00"))
            entries.append(
                Entry(
                    str(obj["id"]),
                    obj["chain"],
                    obj["asset"],
                    int(obj["amount"]),
                    time if time.tzinfo else time.replace(tzinfo=dt.UTC),
                )
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise InputError(
                f"history {path}: line {number} is not a valid entry ({exc})"
            ) from None
    return entries


def spent_in_window(entries: list[Entry], request: Request) -> int:
    """What was allowed in the same chain and asset in the 24 hours up to the request."""
    end = request.utc_time()
    return sum(
        e.amount
        for e in entries
        if e.chain == request.chain
        and e.asset.upper() == request.asset.upper()
        and e.id != request.id
        and end - WINDOW < e.time <= end
    )


def append(path: Path, request: Request) -> None:
    """Record an allowed request (once: a request id already present is not repeated)."""
    if any(e.id == request.id for e in read(path)):
        return
    line = {
        "id": request.id,
        "chain": request.chain,
        "asset": request.asset,
        "amount": str(request.amount),
        "destination": request.destination,
        "time": request.utc_time().isoformat().replace("+00:00", "Z"),
    }
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(line) + "\n")
