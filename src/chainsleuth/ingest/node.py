"""One ingestion run from a node over JSON-RPC, whatever the chain: resume, follow, reorgs.

A run walks heights from `--start` (default: one above the stored tip) to `--end`
(default: the node's tip; with `--follow`, `--behind` blocks below it, polling every
`poll_seconds` until `--end`), one batch of `--batch` heights at a time, each committed
whole by the chain's writer.

Reorgs are found in two places. Before a batch is stored, the stored blocks at its
heights and the one just below it must be the node's (each chain checks that in its own
`ingest`, with the hashes it fetches anyway). When there is nothing new to ingest, the
stored block at the top of the run must still be the node's block at that height: a tip
replaced at the same height brings no new block to notice it by. On a mismatch we walk
down comparing stored hashes with the node's until they agree (the fork point), roll back
everything above it, record it in `summary.reorgs`, and ingest again from there.

Stopping: SIGINT (Ctrl-C) or SIGTERM (a service manager) ends the run after the batch in
hand is committed, or at once while it waits for new blocks; the run's result says so
and the next run resumes where it stopped. A second signal stops the process at once
(whole batches are still all that is ever stored).
"""

from __future__ import annotations

import signal
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from types import FrameType

import duckdb

from chainsleuth.ingest.common import IngestOptions, IngestSummary
from chainsleuth.store.utxo import stored_tip

SOURCE = "rpc"


def stored_hashes(
    con: duckdb.DuckDBPyConnection, chain: str, low: int, high: int
) -> dict[int, str]:
    """Stored block hashes of `chain` by height in low..high."""
    found = con.execute(
        "SELECT height, hash FROM blocks WHERE chain = ? AND height BETWEEN ? AND ?",
        [chain, low, high],
    ).fetchall()
    return {int(h): str(x) for h, x in found}


@contextmanager
def stop_requests() -> Iterator[threading.Event]:
    """An event set by the first SIGINT or SIGTERM received inside the block, which also
    puts the previous handlers back so that a second signal acts as it did before.
    Outside the main thread (where signals cannot be caught) the event is never set."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, signal.SIG_DFL if handler is None else handler)

    def requested(signum: int, frame: FrameType | None) -> None:
        stop.set()
        restore()

    for sig in previous:
        signal.signal(sig, requested)
    try:
        yield stop
    finally:
        restore()


class NodeRun(ABC):
    """The state of one run (next height, summary, progress task) and its loop; a chain
    says how to ask its node for the tip and for hashes, and how to ingest a batch."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        opts: IngestOptions,
        chain: str,
        rollback: Callable[[duckdb.DuckDBPyConnection, str, int], int],
    ):
        self.con = con
        self.opts = opts
        self.chain = chain
        self.rollback = rollback
        self.summary = IngestSummary(chain, SOURCE)
        if opts.start is not None:
            self.next = opts.start
        else:
            tip = stored_tip(con, chain)
            self.next = tip[0] + 1 if tip else 0
        self.task = opts.progress.add_task(f"{chain} rpc", total=None) if opts.progress else None

    @abstractmethod
    def tip(self) -> int:
        """The height of the node's tip."""

    @abstractmethod
    def node_hashes(self, heights: Sequence[int]) -> list[str]:
        """The node's block hashes at `heights` (lower-case hex, as stored)."""

    @abstractmethod
    def ingest(self, first: int, last: int) -> int:
        """Ingest heights first..last, or roll back a reorg found on the way (`reorg`);
        the next height to ingest."""

    @abstractmethod
    def finish(self) -> None:
        """Add what the run should say about its node to `summary.notes`."""

    def run(self) -> IngestSummary:
        """Ingest until the target height (following the tip with --follow)."""
        self.opts.blocks_per_batch()  # refuses --batch 0 before the first request
        with stop_requests() as stop:
            self._loop(stop)
        if stop.is_set():
            self.summary.notes.append(
                f"stopped on request; the next run resumes at height {self.next}"
            )
        self.finish()
        return self.summary

    def _loop(self, stop: threading.Event) -> None:
        """Ingest batches until the target is reached (or, following, `--end`) or `stop`."""
        first = self.next
        while not stop.is_set():
            tip = self.tip()
            target = tip - self.opts.behind if self.opts.follow else tip
            if self.opts.end is not None:
                target = min(target, self.opts.end)
            if self.opts.progress is not None and self.task is not None:
                self.opts.progress.update(
                    self.task, total=max(target - first + 1, 0), completed=self.next - first
                )
            if self.next <= target:
                last = min(target, self.next + self.opts.blocks_per_batch() - 1)
                self.next = self.ingest(self.next, last)
                continue
            # Nothing new: the block below may still have been replaced at the same height.
            if 0 < self.next <= tip + 1:
                resume = self.check(self.next - 1, self.next - 1)[1]
                if resume is not None:
                    self.next = resume
                    continue
            if not self.opts.follow or (self.opts.end is not None and self.next > self.opts.end):
                break
            stop.wait(self.opts.poll_seconds)

    def check(self, low: int, high: int) -> tuple[dict[int, str], int | None]:
        """The node's hashes at low..high, and where to resume if a stored one differs
        (after rolling back from the fork below it)."""
        node = dict(zip(range(low, high + 1), self.node_hashes(range(low, high + 1)), strict=True))
        return node, self.diverged(low, node)

    def diverged(self, low: int, node: dict[int, str]) -> int | None:
        """Compare the stored hashes at `node`'s heights (from `low`) with the node's; on a
        difference roll back from the fork below it and return where to resume."""
        stored = stored_hashes(self.con, self.chain, low, max(node))
        mismatch = [h for h in sorted(stored) if stored[h] != node[h]]
        return self.reorg(mismatch[0]) if mismatch else None

    def reorg(self, mismatch: int) -> int:
        """Walk back from `mismatch` (our block there is stale) to the last height where the
        store and the node agree, roll back everything above it, record the reorg, and
        return the first height to ingest again."""
        fork = mismatch - 1
        while fork >= 0:
            ours = stored_hashes(self.con, self.chain, fork, fork).get(fork)
            if ours is None or ours == self.node_hashes([fork])[0]:
                break
            fork -= 1
        removed = self.rollback(self.con, self.chain, fork + 1)
        self.summary.reorgs.append({"from_height": fork + 1, "blocks_removed": removed})
        return fork + 1
