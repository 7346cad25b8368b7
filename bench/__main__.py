"""Run every benchmark module in turn: `python -m bench`."""

from __future__ import annotations

import importlib

MODULES = ["parse_block"]

for name in MODULES:
    print(f"== bench.{name}")
    importlib.import_module(f"bench.{name}").main([])
