"""What every ingestion source reports, and the options they share."""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.progress import Progress

from chainsleuth.errors import InputError
from chainsleuth.store.utxo import BatchResult

NODE_BATCH_BLOCKS = 100
ETL_BATCH_TXS = 1_000_000
# Block files are parsed into Python/Arrow memory before DuckDB sees a batch (ETL rows stay
# in DuckDB, under its cap): 200,000 transactions keep the process under about 2 GB.
FILE_BATCH_TXS = 200_000
INGEST_MEMORY_LIMIT = "1.6GB"  # DuckDB's cap: the whole process then peaks under 2 GB


@dataclass
class IngestOptions:
    """Options common to every source (`--start`, `--end`, `--follow`, `--behind`, `--batch`;
    `--start-block` for block files, `--batch-txs` for block files and ETL exports)."""

    start: int | None = None
    end: int | None = None
    start_block: str | None = None  # blk: the block the chain is ordered from
    follow: bool = False
    behind: int = 6
    batch_blocks: int | None = None  # None: NODE_BATCH_BLOCKS; files and exports: no cap
    batch_txs: int | None = None  # None: FILE_BATCH_TXS or ETL_BATCH_TXS
    network: str = "mainnet"
    rpc_user: str | None = None
    rpc_password: str | None = None
    rpc_cookie: str | None = None
    poll_seconds: float = 10.0
    memory_limit: str = INGEST_MEMORY_LIMIT
    progress: Progress | None = None

    def blocks_per_batch(self, default: int = NODE_BATCH_BLOCKS) -> int:
        """`--batch` (blocks per committed batch), else `default`; at least 1."""
        blocks = default if self.batch_blocks is None else self.batch_blocks
        if blocks < 1:
            raise InputError("--batch must be at least 1 block")
        return blocks

    def txs_per_batch(self, default: int) -> int:
        """`--batch-txs` (transactions per committed batch), else `default`; at least 1."""
        txs = default if self.batch_txs is None else self.batch_txs
        if txs < 1:
            raise InputError("--batch-txs must be at least 1 transaction")
        return txs


def batches(pending: list[tuple[int, int]], max_blocks: int, max_txs: int) -> list[tuple[int, int]]:
    """(first, last) height ranges of consecutive pending (height, transactions) blocks, each
    of at most `max_blocks` blocks and `max_txs` transactions (a larger block is a batch of
    its own)."""
    ranges: list[tuple[int, int]] = []
    start, blocks, txs = 0, 0, 0
    for i, (_, count) in enumerate(pending):
        if blocks and (blocks == max_blocks or txs + count > max_txs):
            ranges.append((pending[start][0], pending[i - 1][0]))
            start, blocks, txs = i, 0, 0
        blocks, txs = blocks + 1, txs + count
    if blocks:
        ranges.append((pending[start][0], pending[-1][0]))
    return ranges


@dataclass
class IngestSummary:
    """What one ingestion run did."""

    chain: str
    source: str
    blocks: int = 0
    txs: int = 0
    new_addresses: int = 0
    first_height: int | None = None
    last_height: int | None = None
    unresolved_inputs: int = 0  # UTXO chains: inputs stored without address and value
    reorgs: list[dict[str, int]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, batch: BatchResult) -> None:
        """Account for one applied batch."""
        self.blocks += batch.blocks
        self.txs += batch.txs
        self.new_addresses += batch.new_addresses
        self.unresolved_inputs += batch.unresolved_inputs
        first, last = batch.first_height, batch.last_height
        if first is not None:
            self.first_height = (
                first if self.first_height is None else min(self.first_height, first)
            )
        if last is not None:
            self.last_height = last if self.last_height is None else max(self.last_height, last)

    def note(self, *texts: str) -> None:
        """Add notes, each once however many batches say it."""
        self.notes.extend(t for t in dict.fromkeys(texts) if t not in self.notes)

    def note_unresolved_inputs(self) -> None:
        """Say, at the end of a UTXO run, how many inputs spend outputs it could not find."""
        if self.unresolved_inputs:
            self.notes.append(
                f"{self.unresolved_inputs} inputs spend outputs that are not stored (address"
                " and value unknown); ingest from an earlier height to resolve them"
            )
