"""Loading the risk policy (YAML) with clear errors."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from chainsleuth.analytics.scoring.score import Policy
from chainsleuth.errors import InputError


def load_policy(path: str | Path | None = None) -> Policy:
    """The policy in `path`, or the packaged default."""
    if path is None:
        text = (
            resources.files("chainsleuth.services.screening")
            .joinpath("default_policy.yaml")
            .read_text(encoding="utf-8")
        )
        where = "default policy"
    else:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise InputError(f"policy {path}: {exc.strerror}") from exc
        where = str(path)
    try:
        raw: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InputError(f"{where}: not valid YAML ({exc})") from exc
    if not isinstance(raw, dict):
        raise InputError(f"{where}: expected a mapping at the top level")
    weights = raw.get("weights")
    if not isinstance(weights, dict) or not weights:
        raise InputError(f"{where}: 'weights' must map risk concepts to numbers 0-100")
    for concept, weight in weights.items():
        if not isinstance(weight, int | float) or not 0 <= weight <= 100:
            raise InputError(f"{where}: weights.{concept} must be a number from 0 to 100")
    levels = raw.get("levels", {"medium": 25, "high": 50, "severe": 75})
    if not isinstance(levels, dict) or not all(isinstance(v, int | float) for v in levels.values()):
        raise InputError(f"{where}: 'levels' must map level names to score thresholds")
    try:
        return Policy(
            version=str(raw.get("version", where)),
            weights={str(k): float(v) for k, v in weights.items()},
            hops=int(raw.get("hops", 3)),
            decay=float(raw.get("decay", 0.5)),
            saturation=float(raw.get("saturation", 0.1)),
            levels={str(k): float(v) for k, v in levels.items()},
        )
    except (TypeError, ValueError) as exc:
        raise InputError(f"{where}: {exc}") from exc
