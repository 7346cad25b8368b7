"""Run every benchmark module in turn: `python -m bench` (each is also `python -m bench.NAME`).

Modules are discovered: every module of this package with a `main()` is a benchmark.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

MODULES = sorted(
    m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)]) if not m.name.startswith("_")
)

for name in MODULES:
    module = importlib.import_module(f"bench.{name}")
    if callable(getattr(module, "main", None)):
        print(f"== bench.{name}", flush=True)
        module.main()
