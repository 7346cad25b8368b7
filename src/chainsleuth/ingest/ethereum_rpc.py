"""Ingest Ethereum blocks from a node over JSON-RPC: resume, follow, reorgs.

One run walks heights from `--start` (default: one above the stored tip) to `--end`
(default: the node's tip; with `--follow`, `--behind` blocks below it, polling for new
blocks until `--end`). Each batch of `opts.batch_blocks` heights is fetched with a few
batched requests (`chains.ethereum.rpc`), decoded (`chains.ethereum.flows`) and committed
whole by `store.account.apply_staged`.

Reorgs: a batch's first block must have our stored block below it as parent, and stored
blocks inside the batch must have the node's hashes. On a mismatch we walk down comparing
our stored hashes with the node's until they agree (the fork point), roll back everything
above it with `store.account.rollback`, record it in `summary.reorgs`, and go on from there.
"""

from __future__ import annotations

import time

import duckdb

from chainsleuth.chains.ethereum.flows import build_staging
from chainsleuth.chains.ethereum.raw import stage_raw
from chainsleuth.chains.ethereum.rpc import EthereumNode, Json, to_raw
from chainsleuth.chains.ethereum.tokens import fetch_metadata
from chainsleuth.chains.jsonrpc import JsonRpcClient, RetryPolicy
from chainsleuth.errors import SourceError
from chainsleuth.ingest.common import IngestOptions, IngestSummary, stored_hashes, undo_reorg
from chainsleuth.store.account import (
    apply_staged,
    rollback,
    tokens_never_described,
    upsert_token_rows,
)
from chainsleuth.store.utxo import stored_tip

CHAIN = "ethereum"
SOURCE = "rpc"
TOKEN_CHUNK = 100  # contracts per eth_call batch (3 calls each)


def ingest_eth_rpc(
    con: duckdb.DuckDBPyConnection,
    url: str,
    opts: IngestOptions,
    *,
    policy: RetryPolicy | None = None,
) -> IngestSummary:
    """Ingest blocks from the Ethereum node at `url` (see the module docstring)."""
    opts.blocks_per_batch()  # refuses --batch 0 before connecting
    with JsonRpcClient(
        url, user=opts.rpc_user, password=opts.rpc_password, policy=policy
    ) as client:
        return _Run(con, EthereumNode(client), opts).run()


class _Run:
    """The state of one ingestion run: next height, summary, progress task."""

    def __init__(self, con: duckdb.DuckDBPyConnection, node: EthereumNode, opts: IngestOptions):
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
        first = self.next
        while True:
            target = self._target()
            if self.opts.progress is not None and self.task is not None:
                self.opts.progress.update(
                    self.task, total=max(target - first + 1, 0), completed=self.next - first
                )
            if self.next > target:
                done = self.opts.end is not None and self.next > self.opts.end
                if not self.opts.follow or done:
                    break
                time.sleep(self.opts.poll_seconds)
                continue
            self.next = self._batch(
                self.next, min(target, self.next + self.opts.blocks_per_batch() - 1)
            )
        for note in self.node.notes:
            if note not in self.summary.notes:
                self.summary.notes.append(note)
        return self.summary

    def _target(self) -> int:
        """Highest height to ingest now: the node's tip (less --behind when following)."""
        tip = self.node.block_number()
        target = tip - self.opts.behind if self.opts.follow else tip
        return target if self.opts.end is None else min(target, self.opts.end)

    def _batch(self, first: int, last: int) -> int:
        """Ingest heights first..last, or handle a reorg; return the next height to do."""
        self.node.detect_traces(first)
        blocks = self.node.blocks(range(first, last + 1))
        fork = self._divergence(first, blocks)
        if fork is not None:
            return self._reorg(fork)
        receipts = self.node.receipts(blocks)
        stage_raw(self.con, to_raw(blocks, receipts, self.node.trace_rows(blocks)))
        for note in build_staging(self.con, self.node.trace_method):
            if note not in self.summary.notes:
                self.summary.notes.append(note)
        result = apply_staged(self.con, CHAIN, SOURCE)
        self._describe_tokens()
        self.summary.add(result)
        return last + 1

    def _describe_tokens(self) -> None:
        """Ask the node for symbol/name/decimals of tokens seen for the first time."""
        contracts = tokens_never_described(self.con, CHAIN)
        for i in range(0, len(contracts), TOKEN_CHUNK):
            rows = fetch_metadata(self.node.client, contracts[i : i + TOKEN_CHUNK])
            upsert_token_rows(self.con, CHAIN, rows)

    def _divergence(self, first: int, blocks: list[Json]) -> int | None:
        """The lowest height whose stored block is not the node's, or None."""
        stored = stored_hashes(self.con, CHAIN, first - 1, first + len(blocks) - 1)
        node = {first - 1: blocks[0]["parentHash"].lower()} if first > 0 else {}
        for h, block in enumerate(blocks, start=first):
            node[h] = block["hash"].lower()
            parent = block["parentHash"].lower()
            if h > first and parent != node[h - 1]:
                raise SourceError(
                    f"block {h} {node[h]}: parent {parent} is not block {h - 1} {node[h - 1]}"
                    " of the same answer (the node reorganised mid-batch; run again)"
                )
        diverged = [h for h in sorted(stored) if stored[h] != node[h]]
        return diverged[0] if diverged else None

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
