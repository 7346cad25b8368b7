"""Risk scores from exposures under a policy: pure arithmetic, no I/O.

- Direct exposure: the address's own entity carries a risk concept; its score is the
  policy weight of that concept (the highest if several).
- Indirect exposure: the share of everything the address received that came, under the
  haircut model, from an entity with a risk concept, per hop. Each (concept, hop) adds
  `weight × decay^(hop-1) × min(1, share / saturation)`, summed per concept; the indirect
  score is the largest concept sum, capped at 100. With the default saturation of 0.1, a
  tenth of one's funds straight from a sanctioned entity already counts in full.
- The score is the larger of the two; levels come from the policy's thresholds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Policy:
    """Weights per risk concept (0–100), hop decay, saturation share and level thresholds."""

    version: str
    weights: dict[str, float]
    hops: int = 3
    decay: float = 0.5
    saturation: float = 0.1
    levels: dict[str, float] = field(
        default_factory=lambda: {"medium": 25.0, "high": 50.0, "severe": 75.0}
    )

    def level(self, score: float) -> str:
        """low, medium, high or severe."""
        found = "low"
        for name, threshold in sorted(self.levels.items(), key=lambda kv: kv[1]):
            if score >= threshold:
                found = name
        return found


@dataclass(frozen=True)
class Exposure:
    """Tainted value an address received from one risk concept at one hop."""

    concept: str
    hop: int
    tainted: float
    received: int

    @property
    def share(self) -> float:
        """Tainted share of everything received."""
        return self.tainted / self.received if self.received else 0.0


def score(
    direct: list[dict[str, Any]], exposures: list[Exposure], policy: Policy
) -> dict[str, Any]:
    """Score, level and the breakdown that explains them.

    `direct` holds the risk tags of the address's entity (each with `concept`).
    """
    direct_rows = [{**d, "weight": policy.weights.get(d["concept"], 0.0)} for d in direct]
    direct_score = max((d["weight"] for d in direct_rows), default=0.0)
    per_concept: dict[str, float] = {}
    indirect_rows = []
    for e in sorted(exposures, key=lambda e: (e.concept, e.hop)):
        if e.hop > policy.hops:
            continue
        weight = policy.weights.get(e.concept, 0.0)
        part = weight * policy.decay ** (e.hop - 1) * min(1.0, e.share / policy.saturation)
        per_concept[e.concept] = per_concept.get(e.concept, 0.0) + part
        indirect_rows.append(
            {
                "concept": e.concept,
                "hop": e.hop,
                "share": e.share,
                "amount": round(e.tainted),
                "received": e.received,
                "contribution": part,
            }
        )
    indirect_score = min(100.0, max(per_concept.values(), default=0.0))
    total = max(direct_score, indirect_score)
    return {
        "score": round(total),
        "level": policy.level(total),
        "direct_score": round(direct_score),
        "indirect_score": round(indirect_score),
        "direct": direct_rows,
        "indirect": indirect_rows,
        "policy_version": policy.version,
    }
