"""Bitcoin Core block files and raw block files, end to end through the CLI.

The block files are built here from real blocks (genesis, 99960, 99993 of Core's
checkblock vectors, the testnet block, 413567, 702861): each non-genesis block gets a new
header pointing at the previous one (its transactions and merkle root unchanged), so they
form a chain genesis <- b1 <- ... The records are written shuffled over two files, with a
stale fork block and zero padding, with and without a Core 28 xor.dat key.
"""

from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from random import Random
from typing import Any

import duckdb
import pytest
from bench.parse_block import load_block413567
from bitcoin.core import CBlock

from chainsleuth.chains.bitcoin import blkfiles
from chainsleuth.chains.bitcoin.address import sha256d
from chainsleuth.chains.bitcoin.blkfiles import BlockFiles, best_chain
from chainsleuth.chains.bitcoin.network import get
from chainsleuth.chains.bitcoin.rawblock import parse_block
from chainsleuth.chains.bitcoin.serial import compact_size
from chainsleuth.errors import InputError, ParseError
from chainsleuth.ingest.bitcoin_files import ingest_blk, ingest_raw, read_raw_block
from chainsleuth.ingest.common import IngestOptions
from chainsleuth.store.db import connect

MAGIC = get("mainnet").magic
CHAINSLEUTH = [sys.executable, "-m", "chainsleuth.interfaces.cli.main"]
REGTEST_BITS = 0x207FFFFF  # lowest difficulty: re-headered blocks need no proof of work
RAW = "bitcoin/raw-blocks"


def block_hash(block: bytes) -> str:
    return sha256d(block[:80])[::-1].hex()


def reheader(block: bytes, parent: str, nonce: int) -> bytes:
    """The same transactions under a header whose parent is `parent`."""
    version, _, merkle, t = struct.unpack("<i32s32sI", block[:72])
    header = struct.pack(
        "<i32s32sIII", version, bytes.fromhex(parent)[::-1], merkle, t, REGTEST_BITS, nonce
    )
    return header + block[80:]


@dataclass
class Fixture:
    chain: list[bytes]  # best chain, genesis first
    stale: list[bytes]


def real_bodies(shared_data: Path, big: bool) -> list[bytes]:
    vectors = json.loads((shared_data / "bitcoin/test-vectors/checkblock_valid.json").read_text())
    blocks = [bytes.fromhex(r[4]) for r in vectors if len(r) == 5]
    genesis, b99960, b99993 = blocks[0], blocks[2], blocks[3]
    testnet = next((shared_data / RAW).glob("testnet_block_*.raw")).read_bytes()
    bodies = [genesis, b99960, b99993, testnet]
    if big:
        bodies.append(load_block413567(shared_data))
        bodies.append(next((shared_data / RAW).glob("mainnet_block_*.raw")).read_bytes())
    return bodies


def build_chain(shared_data: Path, big: bool = False) -> Fixture:
    bodies = real_bodies(shared_data, big)
    chain = [bodies[0]]
    for i, body in enumerate(bodies[1:], 1):
        chain.append(reheader(body, block_hash(chain[-1]), i))
    # A competitor of chain[2] (same parent, same txs, other nonce) that nobody built on.
    stale = [reheader(bodies[2], block_hash(chain[1]), 999)]
    return Fixture(chain, stale)


def write_blocks_dir(
    directory: Path, blocks: list[bytes], key: bytes | None = None, seed: int = 1
) -> Path:
    """blk00000.dat and blk00001.dat holding `blocks` shuffled, optionally xor-ed."""
    directory.mkdir(parents=True, exist_ok=True)
    order = list(blocks)
    Random(seed).shuffle(order)
    half = len(order) // 2
    for n, part in enumerate((order[:half], order[half:])):
        data = b"".join(MAGIC + len(b).to_bytes(4, "little") + b for b in part)
        data += bytes(4096)  # Core pre-allocates: the tail of a file is zeros
        if key is not None:
            data = bytes(c ^ key[i % 8] for i, c in enumerate(data))
        (directory / f"blk{n:05d}.dat").write_bytes(data)
    if key is not None:
        (directory / "xor.dat").write_bytes(key)
    return directory


@pytest.mark.parametrize("key", [None, bytes.fromhex("5f3a9c01e27d44b8")])
def test_scan_orders_shuffled_files_and_skips_stale(
    shared_data: Path, tmp_path: Path, key: bytes | None
) -> None:
    fx = build_chain(shared_data)
    d = write_blocks_dir(tmp_path / "blocks", fx.chain + fx.stale, key)
    with BlockFiles(d, "mainnet") as bf:
        records = list(bf.scan())
        assert len(records) == len(fx.chain) + len(fx.stale)
        chain = best_chain(records, root=get("mainnet").genesis_hash)
        assert [b.hash for b in chain] == [block_hash(b) for b in fx.chain]
        assert [bf.block(loc) for loc in chain] == fx.chain
        # read with the header, before any block is parsed: batches are sized by it
        counts = [parse_block(b, "mainnet", where="test").tx_count for b in fx.chain]
        assert [loc.tx_count for loc in chain] == counts
        resumed = best_chain(records, after=block_hash(fx.chain[1]))
        assert [b.hash for b in resumed] == [block_hash(b) for b in fx.chain[2:]]
        assert best_chain(records, after=block_hash(fx.chain[-1])) == []


def test_blocks_read_across_more_files_than_are_kept_open(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Files are closed and reopened as chain order moves between them."""
    monkeypatch.setattr(blkfiles, "_OPEN_FILES", 1)
    fx = build_chain(shared_data)
    d = write_blocks_dir(tmp_path / "blocks", fx.chain + fx.stale)
    with BlockFiles(d, "mainnet") as bf:
        chain = best_chain(list(bf.scan()), root=get("mainnet").genesis_hash)
        assert len({loc.path for loc in chain}) == 2
        assert [bf.block(loc) for loc in chain] == fx.chain
        assert len(bf._open) == 1


@pytest.mark.parametrize("n", [0, 1, 0xFC, 0xFD, 1557, 0x10000, 2**32 + 1])
def test_transaction_count_after_the_header_in_every_compact_size_width(n: int) -> None:
    assert blkfiles._count(bytes(80) + compact_size(n) + bytes(8)) == n


def test_root_without_genesis_is_the_heaviest_parentless_block(
    shared_data: Path, tmp_path: Path
) -> None:
    fx = build_chain(shared_data)
    d = write_blocks_dir(tmp_path / "blocks", fx.chain[1:] + fx.stale)
    with BlockFiles(d, "mainnet") as bf:
        chain = best_chain(list(bf.scan()))
    assert [b.hash for b in chain] == [block_hash(b) for b in fx.chain[1:]]


def scan_fails(d: Path, match: str) -> None:
    """Scanning the block files in `d` stops with a ParseError matching `match`."""
    with pytest.raises(ParseError, match=match), BlockFiles(d, "mainnet") as bf:
        list(bf.scan())


def test_wrong_or_missing_xor_key_is_reported(shared_data: Path, tmp_path: Path) -> None:
    fx = build_chain(shared_data)
    d = write_blocks_dir(tmp_path / "blocks", fx.chain, bytes.fromhex("0102030405060708"))
    (d / "xor.dat").write_bytes(bytes.fromhex("0807060504030201"))
    scan_fails(
        d,
        r"blk00000\.dat: bad network magic .* at byte offset 0"
        r".*xor\.dat key may be wrong",
    )
    (d / "xor.dat").unlink()
    scan_fails(d, r"xor\.dat key may be missing")


def test_bad_magic_and_truncated_records_name_file_and_offset(
    shared_data: Path, tmp_path: Path
) -> None:
    genesis = build_chain(shared_data).chain[0]
    record = MAGIC + len(genesis).to_bytes(4, "little") + genesis
    d = tmp_path / "blocks"
    d.mkdir()
    (d / "blk00000.dat").write_bytes(record + get("testnet").magic + record[4:])
    scan_fails(
        d,
        rf"blk00000\.dat: bad network magic 0b110907 at byte"
        rf" offset {len(record)}, expected f9beb4d9 for mainnet",
    )
    (d / "blk00000.dat").write_bytes(record + record[:100])
    scan_fails(d, rf"blk00000\.dat: truncated .* offset {len(record)}")


def cli(db: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [*CHAINSLEUTH, "--db", str(db), "--quiet", "--format", "json", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if check:
        assert result.returncode == 0, result.stderr
    return result


def kill_after_first_commit(db: Path, args: list[str], settle: float) -> None:
    """Run `chainsleuth --db DB ARGS` on a fresh store and SIGKILL it `settle` seconds
    after its first batch is committed (when the write-ahead log appears)."""
    connect(db).close()  # migrated and checkpointed: no write-ahead log yet
    wal = db.with_name(db.name + ".wal")
    proc = subprocess.Popen(
        [*CHAINSLEUTH, "--db", str(db), "--quiet", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while not wal.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    time.sleep(settle)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


def snapshot(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every table, address ids replaced by their strings (ids are surrogate keys)."""
    con = duckdb.connect(str(db), read_only=True)
    by_address = (
        "SELECT t.* EXCLUDE (address_id), a.address FROM {} t"
        " LEFT JOIN addresses a USING (address_id) ORDER BY ALL"
    )
    try:
        return {
            t: con.execute(
                by_address.format(t)
                if t in ("outputs", "inputs")
                else f"SELECT * FROM {t} ORDER BY ALL"
            ).fetchall()
            for t in ("blocks", "txs", "outputs", "inputs")
        } | {
            "addresses": con.execute(
                "SELECT chain, address FROM addresses ORDER BY ALL"
            ).fetchall(),
            "address_ids": con.execute(
                "SELECT min(address_id), max(address_id), count(*) FROM addresses"
            ).fetchall(),
        }
    finally:
        con.close()


def test_cli_ingests_blk_dir_and_resumes(shared_data: Path, tmp_path: Path) -> None:
    fx = build_chain(shared_data)
    key = bytes.fromhex("a1b2c3d4e5f60718")
    d = write_blocks_dir(tmp_path / "blocks", fx.chain + fx.stale, key)
    db = tmp_path / "s.duckdb"
    out = json.loads(cli(db, "ingest", "bitcoin", "--from", "blk", str(d), "--batch", "2").stdout)
    assert (out["blocks"], out["first_height"], out["last_height"]) == (4, 0, 3)
    assert out["txs"] == 1 + 3 + 4 + 15
    snap = snapshot(db)
    assert [r[2] for r in snap["blocks"]] == [block_hash(b) for b in fx.chain]
    assert [r[5] for r in snap["blocks"]] == [1, 3, 4, 15]
    con = connect(db)
    try:
        again = ingest_blk(con, str(d), IngestOptions())
    finally:
        con.close()
    assert again.blocks == 0  # resumed after the stored tip: nothing new
    assert snapshot(db) == snap


def test_raw_hex_binary_framing_and_errors(shared_data: Path, tmp_path: Path) -> None:
    testnet = next((shared_data / RAW).glob("testnet_block_*.raw")).read_bytes()
    (tmp_path / "block.hex").write_text(testnet.hex().upper() + "\n")
    (tmp_path / "framed.raw").write_bytes(
        get("testnet").magic + len(testnet).to_bytes(4, "little") + testnet
    )
    for name in ("block.hex", "framed.raw"):
        assert read_raw_block(tmp_path / name, "testnet") == testnet
    db = tmp_path / "s.duckdb"
    out = json.loads(
        cli(
            db,
            "ingest",
            "bitcoin",
            "--network",
            "testnet",
            "--from",
            "raw",
            str(tmp_path / "block.hex"),
        ).stdout
    )
    assert out["blocks"] == 1 and out["txs"] == 15
    # Nothing is stored before it: its inputs spending outputs of earlier blocks are counted
    # as unresolved, those spending its own transactions' outputs are not.
    vtx = CBlock.deserialize(testnet).vtx
    own = {tx.GetTxid() for tx in vtx}
    spends = sum(i.prevout.hash not in own for tx in vtx[1:] for i in tx.vin)
    assert 0 < spends < sum(len(tx.vin) for tx in vtx[1:])
    assert out["unresolved_inputs"] == spends
    assert out["notes"] == [
        f"{spends} inputs spend outputs that are not stored (address and value unknown);"
        " ingest from an earlier height to resolve them"
    ]
    genesis = build_chain(shared_data).chain[0]
    (tmp_path / "genesis.raw").write_bytes(genesis)
    r = cli(db, "ingest", "bitcoin", "--from", "raw", str(tmp_path / "genesis.raw"), check=False)
    assert r.returncode == 2 and "no BIP-34 height; give it with --start" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    before = snapshot(db)
    con = connect(db)
    try:
        (tmp_path / "cut.raw").write_bytes(testnet[:2000])
        with pytest.raises(ParseError, match=r"cut\.raw: .* byte offset"):
            ingest_raw(con, str(tmp_path / "cut.raw"), IngestOptions(network="testnet"))
        (tmp_path / "trailing.raw").write_bytes(testnet + b"\0")
        with pytest.raises(ParseError, match="1 trailing bytes"):
            ingest_raw(con, str(tmp_path / "trailing.raw"), IngestOptions(network="testnet"))
        with pytest.raises(InputError, match="does not build on the stored block"):
            ingest_raw(con, str(tmp_path / "genesis.raw"), IngestOptions(start=924635))
        shipped = shared_data / RAW / "block413567.raw"
        if shipped.read_bytes()[255675:255678] == b"arc":  # the altered shared copy
            with pytest.raises(ParseError, match="merkle root mismatch"):
                ingest_raw(con, str(shipped), IngestOptions())
    finally:
        con.close()
    assert snapshot(db) == before  # nothing stored was lost or added


@pytest.mark.slow
def test_sigkill_mid_ingestion_then_rerun_matches_uninterrupted(
    shared_data: Path, tmp_path: Path
) -> None:
    fx = build_chain(shared_data, big=True)  # the last two blocks are 1.0 and 1.4 MB
    d = write_blocks_dir(tmp_path / "blocks", fx.chain + fx.stale)
    args = ["ingest", "bitcoin", "--from", "blk", str(d), "--batch", "1"]
    reference = tmp_path / "reference.duckdb"
    cli(reference, *args)
    killed = tmp_path / "killed.duckdb"
    kill_after_first_commit(killed, args, settle=0.2)
    partial = snapshot(killed)
    heights = [row[1] for row in partial["blocks"]]
    assert 1 <= len(heights) < len(fx.chain)  # killed after the first commit, before the end
    assert heights == list(range(len(heights)))  # a prefix of whole blocks
    for row in partial["blocks"]:
        assert sum(1 for t in partial["txs"] if t[1] == row[1]) == row[5]
    cli(killed, *args)
    got, want = snapshot(killed), snapshot(reference)
    ids = got.pop("address_ids"), want.pop("address_ids")
    assert got == want, ids
    assert len(snapshot(reference)["blocks"]) == len(fx.chain)


def test_end_then_resume_in_process(shared_data: Path, tmp_path: Path) -> None:
    fx = build_chain(shared_data)
    d = write_blocks_dir(tmp_path / "blocks", fx.chain + fx.stale, seed=5)
    con = connect(tmp_path / "s.duckdb")
    try:
        first = ingest_blk(con, str(d), IngestOptions(end=1, batch_blocks=1))
        assert (first.blocks, first.first_height, first.last_height) == (2, 0, 1)
        rest = ingest_blk(con, str(d), IngestOptions())
        assert (rest.blocks, rest.first_height, rest.last_height) == (2, 2, 3)
        rows = con.execute("SELECT hash FROM blocks ORDER BY height").fetchall()
        state = con.execute("SELECT source, last_height FROM ingest_state").fetchall()
    finally:
        con.close()
    assert [r[0] for r in rows] == [block_hash(b) for b in fx.chain]
    assert ("blk", 3) in state


def test_stored_stale_tip_is_rolled_back_to_the_heavier_branch(
    shared_data: Path, tmp_path: Path
) -> None:
    """The store followed b2' (files of that time); newer files know b2 <- b3: a reorg."""
    fx = build_chain(shared_data)
    old = write_blocks_dir(tmp_path / "old", fx.chain[:2] + fx.stale)
    new = write_blocks_dir(tmp_path / "new", fx.chain + fx.stale, seed=3)
    con = connect(tmp_path / "s.duckdb")
    try:
        ingest_blk(con, str(old), IngestOptions())
        assert con.execute("SELECT max(height) FROM blocks").fetchall() == [(2,)]
        summary = ingest_blk(con, str(new), IngestOptions())
    finally:
        con.close()
    assert summary.reorgs == [{"from_height": 2, "blocks_removed": 1}]
    assert (summary.blocks, summary.first_height, summary.last_height) == (2, 2, 3)
    direct = tmp_path / "direct.duckdb"
    c2 = connect(direct)
    try:
        ingest_blk(c2, str(new), IngestOptions())
    finally:
        c2.close()
    got, want = snapshot(tmp_path / "s.duckdb"), snapshot(direct)
    got.pop("address_ids"), want.pop("address_ids")
    assert got == want


def test_chain_without_genesis_needs_a_height(shared_data: Path, tmp_path: Path) -> None:
    fx = build_chain(shared_data)
    d = write_blocks_dir(tmp_path / "blocks", fx.chain[1:])  # b1 is version 1: no BIP-34
    con = connect(tmp_path / "s.duckdb")
    try:
        with pytest.raises(InputError, match=r"has no BIP-34 height.*--start"):
            ingest_blk(con, str(d), IngestOptions())
        summary = ingest_blk(con, str(d), IngestOptions(start=100))
    finally:
        con.close()
    assert (summary.first_height, summary.last_height) == (100, 102)


def test_start_block_orders_the_chain_from_the_named_block(
    shared_data: Path, tmp_path: Path
) -> None:
    fx = build_chain(shared_data)  # genesis <- b1 <- b2 <- b3, and a stale rival of b2
    d = write_blocks_dir(tmp_path / "blocks", fx.chain + fx.stale)
    b2, rival = block_hash(fx.chain[2]), block_hash(fx.stale[0])
    db = tmp_path / "s.duckdb"
    run = [*CHAINSLEUTH, "--db", str(db), "--quiet", "ingest", "bitcoin", "--from", "blk", str(d)]
    done = subprocess.run([*run, "--start-block", b2.upper(), "--start", "2"], capture_output=True)
    assert done.returncode == 0, done.stderr
    con = duckdb.connect(str(db), read_only=True)
    stored = con.execute("SELECT height, hash FROM blocks ORDER BY height").fetchall()
    con.close()
    assert stored == [(2, b2), (3, block_hash(fx.chain[3]))]
    # A stale block named: its own one-block chain; refused once the store holds blocks.
    refused = subprocess.run([*run, "--start-block", rival, "--start", "2"], capture_output=True)
    assert refused.returncode != 0 and b"already holds Bitcoin blocks up to height 3" in (
        refused.stderr
    )
    con = connect(tmp_path / "t.duckdb")
    try:
        opts = IngestOptions(start_block=rival, start=2)
        assert (ingest_blk(con, str(d), opts).first_height, stored_hashes(con)) == (2, [rival])
        with pytest.raises(InputError, match="--start-block 00ff: not in the block files"):
            ingest_blk(connect(tmp_path / "u.duckdb"), str(d), IngestOptions(start_block="00ff"))
    finally:
        con.close()
    wrong = subprocess.run(
        [
            *CHAINSLEUTH,
            "--db",
            str(tmp_path / "v.duckdb"),
            "ingest",
            "bitcoin",
            "--from",
            "etl",
            str(d),
            "--start-block",
            b2,
        ],
        capture_output=True,
    )
    assert wrong.returncode != 0 and b"--start-block needs --from blk" in wrong.stderr


def stored_hashes(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [str(r[0]) for r in con.execute("SELECT hash FROM blocks ORDER BY height").fetchall()]
