"""One simulated chain, two sources: its block files and its ETL export give the same store.

Block files carry no prevouts, so every input is resolved by the writer from the output it
spends, within a batch or stored by an earlier one (small batches make most of them the
latter). The enriched ETL export gives every input's address and value as the simulator
wrote them: the oracle. Txids differ (the block files' are the hashes of real
serialisations, the simulator's are random), so rows are compared by place: height,
position in the block, index.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from bench.ingest_blk import height_push, merkle_root, write_blk

from chainsleuth.chains.bitcoin.address import sha256d
from chainsleuth.chains.bitcoin.rawblock import bip34_height
from chainsleuth.ingest.bitcoin_etl import ingest_etl
from chainsleuth.ingest.bitcoin_files import ingest_blk
from chainsleuth.ingest.common import IngestOptions
from chainsleuth.sim import SimConfig, simulate_bitcoin
from chainsleuth.store.db import connect

BY_PLACE = {
    "blocks": "SELECT height, time, tx_count FROM blocks ORDER BY ALL",
    "txs": "SELECT block_height, position, is_coinbase, input_count, output_count,"
    " input_value, output_value, fee FROM txs ORDER BY ALL",
    "outputs": "SELECT t.block_height, t.position, o.n, a.address, o.value, o.script_type,"
    " o.spent_height, s.position FROM outputs o JOIN txs t ON t.tx_hash = o.tx_hash"
    " LEFT JOIN txs s ON s.tx_hash = o.spent_by LEFT JOIN addresses a USING (address_id)"
    " ORDER BY ALL",
    "inputs": "SELECT t.block_height, t.position, i.n, p.block_height, p.position, i.prev_n,"
    " a.address, i.value FROM inputs i JOIN txs t ON t.tx_hash = i.tx_hash"
    " JOIN txs p ON p.tx_hash = i.prev_tx_hash LEFT JOIN addresses a USING (address_id)"
    " ORDER BY ALL",
}


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sources") / "etl"
    out.mkdir()
    simulate_bitcoin(out, SimConfig(txs=3_000, seed=4))
    return out


def by_place(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    with connect(db, read_only=True) as con:
        return {name: con.execute(sql).fetchall() for name, sql in BY_PLACE.items()}


@pytest.mark.parametrize(
    "opts", [IngestOptions(batch_blocks=7), IngestOptions(batch_txs=140)], ids=["blocks", "txs"]
)
def test_block_files_and_etl_export_store_the_same_chain(
    chain: Path, tmp_path: Path, opts: IngestOptions
) -> None:
    """Batches of 7 blocks, or of whole blocks up to 140 transactions (about 7 of these
    20-transaction blocks)."""
    with connect(tmp_path / "etl.duckdb") as con:
        ingest_etl(con, str(chain), IngestOptions())
    with connect(tmp_path / "blk.duckdb") as con:
        summary = ingest_blk(con, str(write_blk(chain)), opts)
    assert summary.blocks > 100  # about 150 blocks: some 20 batches
    etl, blk = by_place(tmp_path / "etl.duckdb"), by_place(tmp_path / "blk.duckdb")
    for name in BY_PLACE:
        assert blk[name] == etl[name], name
    spends = etl["inputs"]
    assert len(spends) > 2_000 and all(row[7] is not None for row in spends)
    # most spends reach back across batches of 7 blocks: the stored-output path
    assert sum(row[0] // 7 != row[3] // 7 for row in spends) > len(spends) / 2


@pytest.mark.parametrize("height", [0, 1, 16, 17, 127, 128, 255, 256, 65535, 840_000])
def test_coinbase_height_push_reads_back(height: int) -> None:
    assert bip34_height(2, height_push(height) + b"\x00" * 4) == height


def test_merkle_root_pairs_the_last_txid_with_itself() -> None:
    a, b, c = (bytes([n]) * 32 for n in (1, 2, 3))
    assert merkle_root([a]) == a
    assert merkle_root([a, b, c]) == sha256d(sha256d(a + b) + sha256d(c + c))
