"""Benchmarks: plain scripts, `python -m bench.NAME`; `python -m bench` runs them all."""
