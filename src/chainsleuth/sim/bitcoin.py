"""Simulate a Bitcoin chain: bitcoin-etl enriched JSON plus its ground truth.

    simulate_bitcoin(Path("out"), SimConfig(txs=100_000, seed=7))

writes `out/blocks.json`, `out/transactions.json` and `out/truth.json`. The same seed and
size always give byte-identical files.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from rich.progress import Progress, TaskID

from chainsleuth.sim.config import BOOTSTRAP_BLOCKS, MATURITY, SimConfig
from chainsleuth.sim.economy import Economy, Script
from chainsleuth.sim.etl_writer import EtlWriter
from chainsleuth.sim.model import TxBatch
from chainsleuth.sim.theft import DmmTheft, TheftOutcome
from chainsleuth.sim.truth import (
    FORMAT,
    Namer,
    coinjoins_json,
    entities_json,
    theft_json,
    write_truth,
)

# Rounds are written together until this many transactions are buffered.
WRITE_CHUNK = 200_000


@dataclass
class SimSummary:
    """What a simulation wrote."""

    out_dir: str
    seed: int
    txs: int
    blocks: int
    addresses: int
    entities: int
    coinjoins: int
    stolen: int | None
    seconds: float


def simulate_bitcoin(out_dir: Path, cfg: SimConfig, progress: Progress | None = None) -> SimSummary:
    """Run the economy of `cfg` and write blocks.json, transactions.json and truth.json."""
    cfg.validate()
    began = time.perf_counter()
    econ = Economy(cfg)
    run = run_bitcoin(out_dir, econ, progress)
    names = Namer(econ.world, cfg.seed)
    thefts = [theft_json(out, names, int(econ.block_time.view[out.height])) for out in run.thefts]
    head = {
        "format": FORMAT,
        "chain": "bitcoin",
        **run.header(),
        "entities": entities_json(econ.world),
        "coinjoins": coinjoins_json(econ.coinjoin_ids.view, cfg.seed),
        "thefts": thefts,
    }
    write_truth(out_dir / "truth.json", head, econ.world)
    return SimSummary(
        out_dir=str(out_dir),
        seed=cfg.seed,
        txs=run.txs,
        blocks=run.blocks,
        addresses=econ.world.book.count,
        entities=econ.world.entity_count,
        coinjoins=econ.coinjoin_ids.size,
        stolen=thefts[0]["stolen"] if thefts else None,
        seconds=round(time.perf_counter() - began, 3),
    )


@dataclass
class BitcoinRun:
    """What `run_bitcoin` produced: sizes and the dmm-like theft's outcome."""

    seed: int
    txs: int
    blocks: int
    thefts: list[TheftOutcome]

    def header(self) -> dict[str, int]:
        """The chain's sizes as truth.json states them."""
        return {
            "seed": self.seed,
            "txs": self.txs,
            "blocks": self.blocks,
            "first_height": 0,
            "last_height": self.blocks - 1,
        }


def round_starts(cfg: SimConfig) -> list[int]:
    """The first height of every round `run_bitcoin` generates (the last may be short)."""
    height = BOOTSTRAP_BLOCKS + MATURITY
    blocks = math.ceil((cfg.txs - height) / cfg.block_txs)
    return list(range(height, height + blocks, cfg.blocks_per_round))


def run_bitcoin(
    out_dir: Path,
    econ: Economy,
    progress: Progress | None = None,
    scripts: Sequence[Script] = (),
    bridge_funds: int = 0,
) -> BitcoinRun:
    """Generate the chain of `econ` round by round and write blocks.json and
    transactions.json; `scripts` act in every round besides the dmm-like theft (if on)."""
    cfg = econ.cfg
    theft = DmmTheft(econ) if cfg.theft else None
    task: TaskID | None = progress.add_task("simulating", total=cfg.txs) if progress else None
    pending: list[TxBatch] = []

    # Writing runs in a second thread (NumPy and Arrow release the GIL), one batch at a
    # time, while the economy generates the next rounds.
    with EtlWriter(out_dir, econ.world, cfg.seed) as writer, ThreadPoolExecutor(1) as pool:
        writing: Future[None] | None = None

        def flush() -> None:
            nonlocal writing
            if writing is not None:
                writing.result()
            if pending:
                writing = pool.submit(
                    writer.write, TxBatch.concat(pending), econ.block_time.view.copy()
                )
                pending.clear()

        pending.append(econ.bootstrap(bridge_funds))
        produced = pending[0].size
        height = BOOTSTRAP_BLOCKS + MATURITY
        per_block = cfg.block_txs
        round_txs = cfg.blocks_per_round * per_block
        theft_at = height + (cfg.txs - produced) // per_block // 2
        while produced < cfg.txs:
            remaining = cfg.txs - produced
            n_blocks = min(cfg.blocks_per_round, math.ceil(remaining / per_block))
            target = min(remaining, n_blocks * per_block)
            last_full = remaining - target < round_txs
            due = theft is not None and theft.outcome is None and (height >= theft_at or last_full)
            acting: list[Script] = [theft] if due and theft is not None else []
            batch = econ.run_round(height, n_blocks, target, [*acting, *scripts])
            pending.append(batch)
            produced += batch.size
            height += n_blocks
            if sum(p.size for p in pending) >= WRITE_CHUNK:
                flush()
            if progress is not None and task is not None:
                progress.update(task, completed=produced)
        flush()
        flush()  # wait for the last batch
    outcomes = []
    if theft is not None and theft.outcome is not None:
        if theft.outcome.balance() != 0:
            raise AssertionError(f"theft accounting is off by {theft.outcome.balance()} satoshi")
        outcomes.append(theft.outcome)
    return BitcoinRun(cfg.seed, produced, writer.blocks, outcomes)
