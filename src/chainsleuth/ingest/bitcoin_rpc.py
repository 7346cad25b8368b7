"""Ingest Bitcoin blocks from a Bitcoin Core node over JSON-RPC: resume, follow, reorgs.

One run: check the node serves the requested network (`getblockchaininfo`), then walk
heights from `--start` (default: one above the stored tip) to `--end` (default: the node's
tip; with `--follow`, `--behind` blocks below it, polling for new blocks until `--end`).
Each batch of `opts.batch_blocks` heights is one JSON-RPC batch of `getblockhash`
(including the height below the batch) and batches of `getblock` of up to
GETBLOCK_PER_REQUEST blocks; it is committed whole by `store.utxo.apply_staged`.

Reorgs: before fetching a batch, the node's hashes are compared with the stored ones at
the same heights, including the height just below the batch, which is exactly "the new
block's parent is not our stored block". On a mismatch we walk down comparing our stored
hashes with `getblockhash` until they agree (the fork point), roll back everything above
it with `store.utxo.rollback`, record it in `summary.reorgs`, and ingest from there.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import duckdb

from chainsleuth.chains.bitcoin.rpc import BitcoinNode, blocks_to_staging, check_network
from chainsleuth.chains.jsonrpc import JsonRpcClient, RetryPolicy
from chainsleuth.errors import SourceError
from chainsleuth.ingest.common import IngestOptions, IngestSummary, stored_hashes, undo_reorg
from chainsleuth.store.utxo import apply_staged, rollback, stage_arrow, stored_tip

CHAIN = "bitcoin"
SOURCE = "rpc"
# Blocks per getblock request: a mainnet block is megabytes of JSON, so a 100-block
# batch is fetched (and mapped) in slices rather than held as one answer.
GETBLOCK_PER_REQUEST = 10


def ingest_rpc(
    con: duckdb.DuckDBPyConnection,
    url: str,
    opts: IngestOptions,
    *,
    policy: RetryPolicy | None = None,
) -> IngestSummary:
    """Ingest blocks from the Bitcoin Core node at `url` (see the module docstring).

    `policy` sets the HTTP timeout and retry backoff (default `RetryPolicy()`).
    """
    with JsonRpcClient(
        url,
        user=opts.rpc_user,
        password=opts.rpc_password,
        cookie_file=opts.rpc_cookie,
        policy=policy,
    ) as client:
        node = BitcoinNode(client)
        check_network(node.chain_info(), opts.network, client.where)
        return _Run(con, node, opts).run()


class _Run:
    """The state of one ingestion run: next height, summary, progress task."""

    def __init__(self, con: duckdb.DuckDBPyConnection, node: BitcoinNode, opts: IngestOptions):
        self.con = con
        self.node = node
        self.opts = opts
        self.summary = IngestSummary(CHAIN, SOURCE)
        if opts.start is not None:
            self.next = opts.start
        else:
            tip = stored_tip(con, CHAIN)
            self.next = tip[0] + 1 if tip else 0
        self.task = opts.progress.add_task(f"{CHAIN} rpc", total=None) if opts.progress else None

    def run(self) -> IngestSummary:
        """Ingest until the target height (following the tip with --follow)."""
        self.opts.blocks_per_batch()  # refuses --batch 0 before the first request
        first = self.next
        while True:
            count = self.node.block_count()
            target = count - self.opts.behind if self.opts.follow else count
            if self.opts.end is not None:
                target = min(target, self.opts.end)
            if self.opts.progress is not None and self.task is not None:
                self.opts.progress.update(
                    self.task, total=max(target - first + 1, 0), completed=self.next - first
                )
            if self.next <= target:
                last = min(target, self.next + self.opts.blocks_per_batch() - 1)
                self.next = self._batch(self.next, last)
                continue
            # Nothing new: the block below may still have been replaced at the same height.
            if 0 < self.next <= count + 1:
                resume = self._check(self.next - 1, self.next - 1)[1]
                if resume is not None:
                    self.next = resume
                    continue
            if not self.opts.follow or (self.opts.end is not None and self.next > self.opts.end):
                break
            time.sleep(self.opts.poll_seconds)
        self._notes()
        return self.summary

    def _check(self, low: int, high: int) -> tuple[dict[int, str], int | None]:
        """The node's hashes at low..high, and where to resume if a stored one differs.

        A stored block whose hash the node no longer has at its height is on a stale
        branch: roll back from the fork below it (the resume height is then returned).
        """
        node_hashes = dict(
            zip(range(low, high + 1), self.node.block_hashes(range(low, high + 1)), strict=True)
        )
        stored = stored_hashes(self.con, CHAIN, low, high)
        diverged = [h for h in sorted(stored) if stored[h] != node_hashes[h]]
        return node_hashes, self._reorg(diverged[0]) if diverged else None

    def _batch(self, first: int, last: int) -> int:
        """Ingest heights first..last, or handle a reorg; return the next height to do."""
        node_hashes, resume = self._check(max(first - 1, 0), last)
        if resume is not None:
            return resume
        blocks = self._fetch(list(range(first, last + 1)), node_hashes)
        stage_arrow(self.con, blocks_to_staging(blocks, self.opts.network))
        self.summary.add(apply_staged(self.con, CHAIN, SOURCE))
        return last + 1

    def _fetch(self, heights: list[int], node_hashes: dict[int, str]) -> Iterator[dict[str, Any]]:
        """The blocks at `heights`, fetched GETBLOCK_PER_REQUEST at a time (bounded memory)."""
        for i in range(0, len(heights), GETBLOCK_PER_REQUEST):
            chunk = heights[i : i + GETBLOCK_PER_REQUEST]
            blocks = self.node.blocks([node_hashes[h] for h in chunk])
            for h, block in zip(chunk, blocks, strict=True):
                parent = block.get("previousblockhash")
                if block.get("height") != h or (h > 0 and parent != node_hashes[h - 1]):
                    raise SourceError(
                        f"block {h} {node_hashes[h]} at {self.node.client.where}: height "
                        f"{block.get('height')} / parent {parent} disagree with getblockhash"
                    )
                yield block

    def _reorg(self, mismatch: int) -> int:
        """Roll back from the fork below `mismatch`; the next height to ingest."""
        return undo_reorg(
            self.con,
            CHAIN,
            mismatch,
            lambda h: self.node.block_hashes([h])[0],
            rollback,
            self.summary,
        )

    def _notes(self) -> None:
        if self.node.verbosity < 3:
            self.summary.notes.append(
                "node refused getblock verbosity 3: input addresses and values were resolved"
                " from stored outputs"
            )
        self.summary.note_unresolved_inputs()
