"""Ingest Bitcoin blocks from a Bitcoin Core node over JSON-RPC: resume, follow, reorgs.

One run: check the node serves the requested network (`getblockchaininfo`), then walk
the heights as `ingest.node` says. Each batch of `opts.batch_blocks` heights is one
JSON-RPC batch of `getblockhash` (including the height below the batch) and batches of
`getblock` of up to GETBLOCK_PER_REQUEST blocks; it is committed whole by
`store.utxo.apply_staged`.

Reorgs: before fetching a batch, the node's hashes are compared with the stored ones at
the same heights, including the height just below the batch, which is exactly "the new
block's parent is not our stored block"; a mismatch is rolled back with
`store.utxo.rollback` (`ingest.node`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import duckdb

from chainsleuth.chains.bitcoin.rpc import BitcoinNode, blocks_to_staging, check_network
from chainsleuth.chains.jsonrpc import JsonRpcClient, RetryPolicy
from chainsleuth.errors import SourceError
from chainsleuth.ingest.common import IngestOptions, IngestSummary
from chainsleuth.ingest.node import SOURCE, NodeRun
from chainsleuth.store.utxo import apply_staged, rollback, stage_arrow

CHAIN = "bitcoin"
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
        return _BitcoinRun(con, node, opts).run()


class _BitcoinRun(NodeRun):
    """A run from a Bitcoin Core node."""

    def __init__(self, con: duckdb.DuckDBPyConnection, node: BitcoinNode, opts: IngestOptions):
        super().__init__(con, opts, CHAIN, rollback)
        self.node = node

    def tip(self) -> int:
        return self.node.block_count()

    def node_hashes(self, heights: Sequence[int]) -> list[str]:
        return self.node.block_hashes(heights)

    def ingest(self, first: int, last: int) -> int:
        node_hashes, resume = self.check(max(first - 1, 0), last)
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

    def finish(self) -> None:
        if self.node.verbosity < 3:
            self.summary.notes.append(
                "node refused getblock verbosity 3: input addresses and values were resolved"
                " from stored outputs"
            )
        self.summary.note_unresolved_inputs()
