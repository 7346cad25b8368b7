"""The screening hook of the guard.

The screening engine (issue 8) is not part of this package yet; the guard takes any
callable `screen(chain, address) -> (score 0-100, explanation) | None` (None: nothing
known about the address) and denies a payment destination whose score reaches the
policy's `risk_threshold`, quoting the explanation (the exposure path).
"""

from __future__ import annotations

from typing import Protocol


class Screener(Protocol):
    """Risk of an address: (score 0-100, explanation with the exposure path) or None."""

    def __call__(self, chain: str, address: str) -> tuple[int, str] | None: ...
