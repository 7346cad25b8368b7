"""Ingest Bitcoin blocks from Bitcoin Core's block files or from single raw block files.

`ingest_blk`: scan a `blocks/` directory, keep the best chain (see `blkfiles`), and apply
it in batches of whole blocks holding at most `--batch-txs` transactions (default
FILE_BATCH_TXS; the count is read with each header) and at most `--batch` blocks if given,
each one transaction of `store.utxo`: a crash leaves whole blocks or nothing, and a
re-run resumes after the stored tip (after rolling back a stored tip that the files show
as stale: a reorg).

`ingest_raw`: one block, binary or hex (detected), optionally still in its blk framing
(magic + size). Its height is `--start` if given, else the BIP-34 height in its coinbase;
if the store holds the block below that height, it must be the new block's parent.
"""

from __future__ import annotations

import contextlib
import string
from collections.abc import Sequence
from pathlib import Path

import duckdb
from rich.progress import TaskID

from chainsleuth.chains.bitcoin.blkfiles import (
    BlockFiles,
    BlockLocation,
    best_chain,
    steps_to_chain,
)
from chainsleuth.chains.bitcoin.network import get
from chainsleuth.chains.bitcoin.rawblock import ParsedBlock, parse_block, staging_tables
from chainsleuth.errors import InputError, ParseError
from chainsleuth.ingest.common import FILE_BATCH_TXS, IngestOptions, IngestSummary, batches
from chainsleuth.store.utxo import apply_staged, rollback, stage_arrow, stored_tip

CHAIN = "bitcoin"
_HEX = frozenset(string.hexdigits.encode() + string.whitespace.encode())


def _apply(
    con: duckdb.DuckDBPyConnection,
    blocks: list[tuple[int, ParsedBlock]],
    source: str,
    summary: IngestSummary,
) -> None:
    """Stage and commit one batch of (height, block) pairs; empties `blocks` once staged
    (the parsed buffers are copied into the staging tables: holding both doubles the peak)."""
    # DuckDB 2 refuses `register` while an earlier `fetchone()` (migrate, stored_tip)
    # left its result open; draining the connection's pending result is harmless.
    with contextlib.suppress(duckdb.InvalidInputException):  # no result at all
        con.fetchall()
    tables = staging_tables(blocks)
    blocks.clear()
    stage_arrow(con, tables)
    del tables
    summary.add(apply_staged(con, CHAIN, source))


def _first_height(bf: BlockFiles, root: BlockLocation, network: str, opts: IngestOptions) -> int:
    """Height of the first block of a chain that does not start at a stored tip."""
    if root.hash == get(network).genesis_hash:
        return 0
    if opts.start is not None:
        return opts.start
    height = parse_block(bf.block(root), network, where=root.path.name).bip34_height
    if height is None:
        raise InputError(
            f"{root.path.name}: the first block {root.hash} has no BIP-34 height and is not"
            " genesis; give its height with --start"
        )
    return height


def _plan(
    con: duckdb.DuckDBPyConnection,
    bf: BlockFiles,
    records: list[BlockLocation],
    opts: IngestOptions,
    summary: IngestSummary,
) -> tuple[list[BlockLocation], int]:
    """The blocks still to ingest and the height of the first one.

    On an empty store: the best chain from `--start-block` when given (it must be in the
    files), else from genesis, else from the heaviest parentless block.

    Resuming: the files' best chain after the stored tip. If the files hold the stored tip
    as a stale block (a heavier branch overtook it), the stored blocks after the fork point
    are rolled back first and the run continues on the heavier branch (a reorg).
    """
    tip = stored_tip(con, CHAIN)
    if opts.start_block is not None:
        if tip is not None:
            raise InputError(
                f"--start-block: the store already holds Bitcoin blocks up to height {tip[0]};"
                " ingestion resumes after them (use a new store to start elsewhere)"
            )
        if all(r.hash != opts.start_block for r in records):
            raise InputError(f"--start-block {opts.start_block}: not in the block files")
    full = best_chain(records, root=opts.start_block or get(opts.network).genesis_hash)
    if tip is None:
        return full, (_first_height(bf, full[0], opts.network, opts) if full else 0)
    tip_height, tip_hash = tip
    fork = steps_to_chain(records, full, tip_hash)
    if fork is None:  # the files start after the stored tip, or do not reach it
        return best_chain(records, after=tip_hash), tip_height + 1
    back, index = fork
    if back:
        removed = rollback(con, CHAIN, tip_height - back + 1)
        summary.reorgs.append({"from_height": tip_height - back + 1, "blocks_removed": removed})
    return full[index + 1 :], tip_height - back + 1


def ingest_blk(con: duckdb.DuckDBPyConnection, location: str, opts: IngestOptions) -> IngestSummary:
    """Ingest the best chain of a Bitcoin Core `blocks/` directory, resuming at the tip."""
    summary = IngestSummary(chain=CHAIN, source="blk")
    with BlockFiles(location, opts.network) as bf:
        task = opts.progress.add_task("blk: scanning", total=None) if opts.progress else None
        records = list(bf.scan())
        chain, height = _plan(con, bf, records, opts, summary)
        summary.notes.append(
            f"{len(records)} block records in {len(bf.files)} files, best chain"
            f" {len(chain)} blocks, {len(records) - len(chain)} stale or already stored"
        )
        planned = [
            (height + i, loc)
            for i, loc in enumerate(chain)
            if (opts.start is None or height + i >= opts.start)
            and (opts.end is None or height + i <= opts.end)
        ]
        if opts.progress is not None and task is not None:
            opts.progress.update(task, description="blk: ingesting", total=len(planned))
        _ingest_batches(con, bf, planned, opts, summary, task)
    summary.note_unresolved_inputs()
    return summary


def _ingest_batches(
    con: duckdb.DuckDBPyConnection,
    bf: BlockFiles,
    planned: Sequence[tuple[int, BlockLocation]],
    opts: IngestOptions,
    summary: IngestSummary,
    task: TaskID | None,
) -> None:
    at = dict(planned)
    for first, last in batches(
        [(height, loc.tx_count) for height, loc in planned],
        opts.blocks_per_batch(default=len(planned) or 1),
        opts.txs_per_batch(FILE_BATCH_TXS),
    ):
        batch = []
        for height, loc in ((h, at[h]) for h in range(first, last + 1)):
            block = parse_block(
                bf.block(loc), opts.network, where=loc.path.name, base_offset=loc.offset
            )
            if block.size != loc.size:
                raise ParseError(
                    f"{loc.path.name}: block {loc.hash} at byte offset {loc.offset} is"
                    f" {block.size} bytes but its record says {loc.size}"
                )
            batch.append((height, block))
        _apply(con, batch, "blk", summary)
        if opts.progress is not None and task is not None:
            opts.progress.advance(task, last - first + 1)


def read_raw_block(path: Path, network: str) -> bytes:
    """The block bytes of a raw block file: binary or hex, with or without blk framing."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror})") from None
    if data and set(data) <= _HEX:
        try:
            data = bytes.fromhex(data.decode("ascii"))
        except ValueError:
            raise ParseError(f"{path}: looks like hex but does not decode (odd length?)") from None
    if data[:4] == get(network).magic:
        data = data[8 : 8 + int.from_bytes(data[4:8], "little")]
    return data


def ingest_raw(con: duckdb.DuckDBPyConnection, location: str, opts: IngestOptions) -> IngestSummary:
    """Ingest one raw block (binary or hex); height from --start or its BIP-34 coinbase."""
    path = Path(location)
    summary = IngestSummary(chain=CHAIN, source="raw")
    data = read_raw_block(path, opts.network)
    block = parse_block(data, opts.network, where=str(path))
    if block.size != len(data):
        raise ParseError(
            f"{path}: {len(data) - block.size} trailing bytes after the block at byte offset"
            f" {block.size}"
        )
    height = opts.start if opts.start is not None else block.bip34_height
    if height is None:
        raise InputError(
            f"{path}: block {block.header.hash} has no BIP-34 height; give it with --start"
        )
    below = con.execute(
        "SELECT hash FROM blocks WHERE chain = ? AND height = ?", [CHAIN, height - 1]
    ).fetchall()
    if below and below[0][0] != block.header.parent_hash:
        raise InputError(
            f"{path}: block {block.header.hash} does not build on the stored block"
            f" {below[0][0]} at height {height - 1}; wrong --start or another chain"
        )
    _apply(con, [(height, block)], "raw", summary)
    summary.note_unresolved_inputs()
    return summary
