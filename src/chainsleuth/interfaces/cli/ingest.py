"""`chainsleuth ingest bitcoin|ethereum --from KIND LOCATION`."""

from __future__ import annotations

import importlib
import os
from dataclasses import asdict
from enum import StrEnum
from pathlib import Path
from typing import Any

import duckdb
import typer

from chainsleuth.chains.ethereum.tokens import token_list_rows
from chainsleuth.errors import InputError
from chainsleuth.ingest.common import (
    ETL_BATCH_TXS,
    FILE_BATCH_TXS,
    INGEST_MEMORY_LIMIT,
    NODE_BATCH_BLOCKS,
    IngestOptions,
    IngestSummary,
)
from chainsleuth.interfaces.cli.context import memory_option, output, settings, store
from chainsleuth.interfaces.output import progress
from chainsleuth.store.account import upsert_token_rows
from chainsleuth.store.db import limit_memory

FROM_HELP = "Source kind and location: rpc URL | blk DIR | raw FILE | etl DIR."
# (chain, --from kind) -> "module:function" of `chainsleuth.ingest` (imported when used).
SOURCES = {
    ("bitcoin", "rpc"): "bitcoin_rpc:ingest_rpc",
    ("bitcoin", "blk"): "bitcoin_files:ingest_blk",
    ("bitcoin", "raw"): "bitcoin_files:ingest_raw",
    ("bitcoin", "etl"): "bitcoin_etl:ingest_etl",
    ("ethereum", "rpc"): "ethereum_rpc:ingest_eth_rpc",
    ("ethereum", "etl"): "ethereum_etl:ingest_eth_etl",
}


class Network(StrEnum):
    """Bitcoin networks (address encodings and block-file magic)."""

    mainnet = "mainnet"
    testnet = "testnet"
    signet = "signet"
    regtest = "regtest"


def _run(
    ctx: typer.Context,
    chain: str,
    source: tuple[str, str],
    opts: IngestOptions,
    token_list: Path | None = None,
) -> None:
    kind, location = source
    target = SOURCES.get((chain, kind))
    if target is None:
        allowed = ", ".join(k for c, k in SOURCES if c == chain)
        raise InputError(f"--from {kind!r} is not a source for {chain}; use one of: {allowed}")
    module, function = target.split(":")
    ingest = getattr(importlib.import_module(f"chainsleuth.ingest.{module}"), function)
    tokens = token_list_rows(token_list) if token_list is not None else None  # checked first
    if opts.follow and kind != "rpc":
        raise InputError(f"--follow needs --from rpc: a {kind} source has no tip to follow")
    if opts.start_block is not None and kind != "blk":
        raise InputError(f"--start-block needs --from blk: a {kind} source is ordered already")
    s = settings(ctx)
    con = store(ctx)
    limit_memory(con, opts.memory_limit)
    with progress(s.quiet) as bar:
        opts.progress = bar
        summary: IngestSummary = ingest(con, location, opts)
    result: dict[str, Any] = asdict(summary)
    result["alerts"] = _alerts(con, summary)
    if tokens is not None:  # after the blocks, so the list's names win over bare events
        result["token_list"] = upsert_token_rows(con, chain, tokens)
    output(ctx, result, title=f"ingested {chain}")


def _alerts(con: duckdb.DuckDBPyConnection, summary: IngestSummary) -> int:
    """Scan the newly ingested blocks against the watchlists (UTXO chains)."""
    if summary.chain != "bitcoin" or summary.first_height is None or summary.last_height is None:
        return 0
    if not con.execute("SELECT count(*) FROM watchlist_items").fetchall()[0][0]:
        return 0
    from chainsleuth.services.screening import alerts
    from chainsleuth.services.screening.engine import Screener
    from chainsleuth.services.screening.policy import load_policy

    made = alerts.scan(
        con,
        summary.chain,
        summary.first_height,
        summary.last_height,
        Screener(con, load_policy(os.environ.get("CHAINSLEUTH_POLICY")), fingerprints=False),
    )
    if made:
        alerts.deliver_pending(con)
    return made


def register(app: typer.Typer) -> None:
    """Add the `ingest` group."""
    group = typer.Typer(help="Ingest chain data into the store (idempotent, resumable).")
    app.add_typer(group, name="ingest")

    @group.command("bitcoin")
    def bitcoin(
        ctx: typer.Context,
        source: tuple[str, str] = typer.Option(..., "--from", help=FROM_HELP),
        start: int = typer.Option(None, "--start", help="First height (default: resume)."),
        end: int = typer.Option(None, "--end", help="Last height (inclusive)."),
        start_block: str = typer.Option(
            None,
            "--start-block",
            help="Block files: order the chain from this block hash (its height: --start,"
            " else its BIP-34 height), on a store without Bitcoin blocks.",
        ),
        follow: bool = typer.Option(False, "--follow", help="Keep following the tip (RPC)."),
        behind: int = typer.Option(6, "--behind", help="With --follow, stay N blocks behind."),
        network: Network = typer.Option(Network.mainnet, "--network", help="Bitcoin network."),
        rpc_user: str = typer.Option(None, "--rpc-user", envvar="CHAINSLEUTH_RPC_USER"),
        rpc_password: str = typer.Option(None, "--rpc-password", envvar="CHAINSLEUTH_RPC_PASSWORD"),
        rpc_cookie: str = typer.Option(None, "--rpc-cookie", help="Bitcoin Core .cookie file."),
        batch: int = typer.Option(
            None,
            "--batch",
            help="Blocks per committed batch (default 100 from a node; block files and ETL"
            " exports: no cap but --batch-txs).",
        ),
        batch_txs: int = typer.Option(
            None,
            "--batch-txs",
            help=f"Block files and ETL exports: transactions per batch, whole blocks (default"
            f" {FILE_BATCH_TXS:,} and {ETL_BATCH_TXS:,}).",
        ),
        memory_limit: str = memory_option(INGEST_MEMORY_LIMIT),
    ) -> None:
        """Ingest Bitcoin blocks from a node, block files, a raw block or ETL exports."""
        _run(
            ctx,
            "bitcoin",
            source,
            IngestOptions(
                start=start,
                end=end,
                start_block=start_block.lower() if start_block else None,
                follow=follow,
                behind=behind,
                batch_blocks=batch,
                batch_txs=batch_txs,
                network=network.value,
                rpc_user=rpc_user,
                rpc_password=rpc_password,
                rpc_cookie=rpc_cookie,
                memory_limit=memory_limit,
            ),
        )

    @group.command("ethereum")
    def ethereum(
        ctx: typer.Context,
        source: tuple[str, str] = typer.Option(..., "--from", help="rpc URL | etl DIR."),
        start: int = typer.Option(None, "--start", help="First height (default: resume)."),
        end: int = typer.Option(None, "--end", help="Last height (inclusive)."),
        follow: bool = typer.Option(False, "--follow", help="Keep following the tip (RPC)."),
        behind: int = typer.Option(6, "--behind", help="With --follow, stay N blocks behind."),
        batch: int = typer.Option(NODE_BATCH_BLOCKS, "--batch", help="Blocks per committed batch."),
        memory_limit: str = memory_option(INGEST_MEMORY_LIMIT),
        token_list: Path = typer.Option(
            None,
            "--token-list",
            help="A Uniswap token-list JSON file: symbols, names and decimals of tokens.",
        ),
    ) -> None:
        """Ingest Ethereum blocks, transactions, traces and token transfers."""
        _run(
            ctx,
            "ethereum",
            source,
            IngestOptions(
                start=start,
                end=end,
                follow=follow,
                behind=behind,
                batch_blocks=batch,
                memory_limit=memory_limit,
            ),
            token_list,
        )
