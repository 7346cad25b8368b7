"""Ingest Ethereum blocks from a node over JSON-RPC: resume, follow, reorgs.

One run walks the heights as `ingest.node` says. Each batch of `opts.batch_blocks`
heights is fetched with a few batched requests (`chains.ethereum.rpc`), decoded
(`chains.ethereum.flows`) and committed whole by `store.account.apply_staged`.

Reorgs: a batch's first block must have our stored block below it as parent, and stored
blocks inside the batch must have the node's hashes; a mismatch is rolled back with
`store.account.rollback` (`ingest.node`).
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb

from chainsleuth.chains.ethereum.flows import build_staging
from chainsleuth.chains.ethereum.raw import stage_raw
from chainsleuth.chains.ethereum.rpc import EthereumNode, Json, to_raw
from chainsleuth.chains.ethereum.tokens import fetch_metadata
from chainsleuth.chains.jsonrpc import JsonRpcClient, RetryPolicy
from chainsleuth.errors import SourceError
from chainsleuth.ingest.common import IngestOptions, IngestSummary
from chainsleuth.ingest.node import SOURCE, NodeRun
from chainsleuth.store.account import (
    apply_staged,
    rollback,
    tokens_never_described,
    upsert_token_rows,
)

CHAIN = "ethereum"
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
        return _EthereumRun(con, EthereumNode(client), opts).run()


class _EthereumRun(NodeRun):
    """A run from an Ethereum node."""

    def __init__(self, con: duckdb.DuckDBPyConnection, node: EthereumNode, opts: IngestOptions):
        super().__init__(con, opts, CHAIN, rollback)
        self.node = node

    def tip(self) -> int:
        return self.node.block_number()

    def node_hashes(self, heights: Sequence[int]) -> list[str]:
        return self.node.block_hashes(heights)

    def ingest(self, first: int, last: int) -> int:
        self.node.detect_traces(first)
        blocks = self.node.blocks(range(first, last + 1))
        resume = self.diverged(max(first - 1, 0), self._hashes(first, blocks))
        if resume is not None:
            return resume
        receipts = self.node.receipts(blocks)
        stage_raw(self.con, to_raw(blocks, receipts, self.node.trace_rows(blocks)))
        self.summary.note(*build_staging(self.con, self.node.trace_method))
        result = apply_staged(self.con, CHAIN, SOURCE)
        self._describe_tokens()
        self.summary.add(result)
        return last + 1

    def finish(self) -> None:
        self.summary.note(*self.node.notes)

    def _describe_tokens(self) -> None:
        """Ask the node for symbol/name/decimals of tokens seen for the first time."""
        contracts = tokens_never_described(self.con, CHAIN)
        for i in range(0, len(contracts), TOKEN_CHUNK):
            rows = fetch_metadata(self.node.client, contracts[i : i + TOKEN_CHUNK])
            upsert_token_rows(self.con, CHAIN, rows)

    @staticmethod
    def _hashes(first: int, blocks: list[Json]) -> dict[int, str]:
        """The node's hashes by height as its blocks first.. (and their parent) say, checked
        to link up."""
        node = {first - 1: blocks[0]["parentHash"].lower()} if first > 0 else {}
        for h, block in enumerate(blocks, start=first):
            node[h] = block["hash"].lower()
            parent = block["parentHash"].lower()
            if h > first and parent != node[h - 1]:
                raise SourceError(
                    f"block {h} {node[h]}: parent {parent} is not block {h - 1} {node[h - 1]}"
                    " of the same answer (the node reorganised mid-batch; run again)"
                )
        return node
