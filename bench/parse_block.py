"""Benchmark: parse real block 413567 (1,557 txs) against python-bitcoinlib, same run.

    python -m bench.parse_block [--repeats N]

Ours: `rawblock.parse_block` (C loop: txids, merkle root check, every output's type and
address) and, separately, the same plus the four staging Arrow tables. Theirs:
`bitcoin.core.CBlock.deserialize` (structure only: no txids, no addresses). Reported as
medians of N repeats, tx/s, the ratio, and the ratio to Bitcoin Core's C++ deserialisation
(about 1.5M tx/s on one core, issue 2's reference).

The copy of block 413567 in ../shared/data has three bytes of one signature altered
("btc" -> "arc", a fork's search-and-replace, at offset 255675) so its merkle root fails;
`load_block413567` restores them, and the merkle root check proves the repair.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from bench.common import SHARED_DATA, shared_missing

BLOCK_FILE = "bitcoin/raw-blocks/block413567.raw"
BLOCK_413567 = "0000000000000000025aff8be8a55df8f89c77296db6198f272d6577325d4069"
CORE_TX_PER_S = 1_500_000
_ALTERED_AT, _ALTERED, _ORIGINAL = 255675, b"arc", b"btc"


def load_block413567(shared_data: Path = SHARED_DATA) -> bytes:
    """Block 413567's bytes, with the known 3-byte alteration of the shared copy undone."""
    data = (shared_data / BLOCK_FILE).read_bytes()
    end = _ALTERED_AT + len(_ALTERED)
    if data[_ALTERED_AT:end] == _ALTERED:
        data = data[:_ALTERED_AT] + _ORIGINAL + data[end:]
    return data


def median_seconds(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Median wall and CPU (process) time of `repeats` calls after one warm-up call.

    CPU time is reported too because the machine is shared: wall time includes waits for
    a core, CPU time does not.
    """
    fn()
    wall, cpu = [], []
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        fn()
        cpu.append(time.process_time() - c)
        wall.append(time.perf_counter() - t)
    return statistics.median(wall), statistics.median(cpu)


def block_and_repeats(argv: list[str] | None, doc: str | None) -> tuple[bytes, int] | None:
    """Block 413567 and `--repeats N` (default 21) of a benchmark described by `doc`, or None
    (saying it is skipped) when the shared data is absent."""
    args = argparse.ArgumentParser(description=doc.splitlines()[0] if doc else None)
    args.add_argument("--repeats", type=int, default=21)
    repeats = args.parse_args(argv).repeats
    if shared_missing(SHARED_DATA / BLOCK_FILE):
        return None
    return load_block413567(), repeats


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print its figures."""
    from bitcoin.core import CBlock

    from chainsleuth.chains.bitcoin import _parser
    from chainsleuth.chains.bitcoin.rawblock import parse_block

    given = block_and_repeats(argv, __doc__)
    if given is None:
        return
    data, repeats = given
    load = os.getloadavg()[0]
    n_tx = parse_block(data, "mainnet").tx_count
    ours = median_seconds(lambda: parse_block(data, "mainnet"), repeats)
    tables = median_seconds(lambda: parse_block(data, "mainnet").staging_tables(413567), repeats)
    theirs = median_seconds(lambda: CBlock.deserialize(data), max(5, repeats // 3))
    print(f"block 413567: {n_tx} txs, {len(data):,} bytes, median of {repeats} runs")
    print(f"  load average at start: {load:.2f} on {os.cpu_count()} cores")
    print(f"  SHA-256 backend: {'SHA-NI' if _parser.sha_accelerated() else 'portable C'}")
    print(f"  {'':<46} {'wall ms':>8} {'wall tx/s':>12} {'CPU ms':>8} {'CPU tx/s':>12}")
    for name, (wall, cpu) in (
        ("chainsleuth parse (txids, merkle, addresses)", ours),
        ("chainsleuth parse + staging Arrow tables", tables),
        ("python-bitcoinlib CBlock.deserialize", theirs),
    ):
        print(
            f"  {name:<46} {wall * 1e3:8.2f} {n_tx / wall:>12,.0f}"
            f" {cpu * 1e3:8.2f} {n_tx / cpu:>12,.0f}"
        )
    for label, (wall, cpu) in (("parse", ours), ("parse+tables", tables)):
        print(
            f"  ratio {label} / python-bitcoinlib: wall {theirs[0] / wall:5.1f}x,"
            f" CPU {theirs[1] / cpu:5.1f}x"
        )
    print(
        f"  parse vs Bitcoin Core ~1.5M tx/s: wall {n_tx / ours[0] / CORE_TX_PER_S:.2f}x,"
        f" CPU {n_tx / ours[1] / CORE_TX_PER_S:.2f}x"
    )


if __name__ == "__main__":
    main()
