"""What every ingestion source reports, and the options they share."""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.progress import Progress


@dataclass
class IngestOptions:
    """Options common to every source (`--start`, `--end`, `--follow`, `--behind`)."""

    start: int | None = None
    end: int | None = None
    follow: bool = False
    behind: int = 6
    batch_blocks: int = 100
    network: str = "mainnet"
    rpc_user: str | None = None
    rpc_password: str | None = None
    rpc_cookie: str | None = None
    poll_seconds: float = 10.0
    progress: Progress | None = None


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
    reorgs: list[dict[str, int]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(
        self, blocks: int, txs: int, new_addresses: int, first: int | None, last: int | None
    ) -> None:
        """Account for one applied batch."""
        self.blocks += blocks
        self.txs += txs
        self.new_addresses += new_addresses
        if first is not None:
            self.first_height = (
                first if self.first_height is None else min(self.first_height, first)
            )
        if last is not None:
            self.last_height = last if self.last_height is None else max(self.last_height, last)
