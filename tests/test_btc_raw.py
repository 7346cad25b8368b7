"""The raw block parser on real blocks, against python-bitcoinlib as an independent oracle.

Every block's merkle root is re-derived from the txids we compute (a wrong byte anywhere
fails it); txids, wtxids, weights, every output's value and address, and every input's
outpoint and sequence are compared with python-bitcoinlib's deserialisation.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import bitcoin
import pytest
from bench.parse_block import BLOCK_413567, load_block413567
from bitcoin.core import CBlock, CTransaction, b2lx
from bitcoin.wallet import CBitcoinAddress, CBitcoinAddressError

from chainsleuth.chains.bitcoin import _parser
from chainsleuth.chains.bitcoin.address import hash160
from chainsleuth.chains.bitcoin.network import get
from chainsleuth.chains.bitcoin.rawblock import bip34_height, parse_block, staging_tables
from chainsleuth.chains.bitcoin.script import SCRIPT_TYPES, classify
from chainsleuth.errors import ParseError

RAW = Path("bitcoin/raw-blocks")
MAINNET_702861 = RAW / (
    "mainnet_block_000000000000000000000c835b2adcaedc20fdf6ee440009c249452c726dafae.raw"
)
TESTNET = RAW / "testnet_block_000000000000045e0b1660b6445b5e5c5ab63c9a4f956be7e1e69be04fa4497b.raw"


@pytest.fixture
def select_params() -> Iterator[Any]:
    """python-bitcoinlib's network is global: select one for a test and restore mainnet."""
    yield bitcoin.SelectParams
    bitcoin.SelectParams("mainnet")


def oracle_address(script: bytes) -> str | None:
    """python-bitcoinlib's address for a scriptPubKey, or None where it has none."""
    try:
        return str(CBitcoinAddress.from_scriptPubKey(bitcoin.core.script.CScript(script)))
    except (CBitcoinAddressError, ValueError):
        return None


def compare_with_oracle(data: bytes, network: str, height: int) -> None:
    block = parse_block(data, network)
    oracle = CBlock.deserialize(data)
    assert block.header.hash == b2lx(oracle.GetHash())
    assert block.header.merkle_root == b2lx(oracle.hashMerkleRoot)
    assert block.tx_count == len(oracle.vtx)
    assert block.size == len(data)
    assert block.txids.to_pylist() == [b2lx(tx.GetTxid()) for tx in oracle.vtx]
    assert block.wtxids.to_pylist() == [b2lx(tx.GetHash()) for tx in oracle.vtx]
    tables = block.staging_tables(height)
    txs = tables["stg_txs"].to_pylist()
    assert [t["weight"] for t in txs] == [tx.calc_weight() for tx in oracle.vtx]
    assert [t["size"] for t in txs] == [len(tx.serialize()) for tx in oracle.vtx]
    assert [t["locktime"] for t in txs] == [tx.nLockTime for tx in oracle.vtx]
    outputs = tables["stg_outputs"].to_pylist()
    expected = [
        (b2lx(tx.GetTxid()), pos, n, out.nValue, bytes(out.scriptPubKey))
        for pos, tx in enumerate(oracle.vtx)
        for n, out in enumerate(tx.vout)
    ]
    assert len(outputs) == len(expected)
    for got, (txid, pos, n, value, script) in zip(outputs, expected, strict=True):
        assert (got["tx_hash"], got["position"], got["n"], got["value"]) == (txid, pos, n, value)
        assert (got["script_type"], got["address"]) == classify(script, network)
        want = oracle_address(script)
        if got["script_type"] in ("p2pkh", "p2sh", "p2wpkh", "p2wsh") or (
            want is not None and got["script_type"] != "p2pk"
        ):
            assert got["address"] == want, (txid, n)
    inputs = tables["stg_inputs"].to_pylist()
    expected_in = [
        (b2lx(tx.GetTxid()), pos, n, b2lx(i.prevout.hash), i.prevout.n, i.nSequence)
        for pos, tx in enumerate(oracle.vtx)
        if pos > 0
        for n, i in enumerate(tx.vin)
    ]
    got_in = [
        (i["tx_hash"], i["position"], i["n"], i["prev_tx_hash"], i["prev_n"], i["sequence"])
        for i in inputs
    ]
    assert got_in == expected_in
    assert all(i["address"] is None and i["value"] is None for i in inputs)
    assert tables["stg_blocks"].to_pylist()[0]["height"] == height


@pytest.mark.slow
def test_block_413567_matches_oracle(shared_data: Path) -> None:
    data = load_block413567(shared_data)
    block = parse_block(data, "mainnet")
    assert block.header.hash == BLOCK_413567
    assert block.tx_count == 1557 and block.bip34_height == 413567
    compare_with_oracle(data, "mainnet", 413567)


def test_block_413567_as_shipped_fails_its_merkle_root(shared_data: Path) -> None:
    """The shared copy has 3 bytes of a signature altered ('btc' -> 'arc'): detected."""
    data = (shared_data / "bitcoin/raw-blocks/block413567.raw").read_bytes()
    if data[255675:255678] != b"arc":
        pytest.skip("the shared copy of block 413567 has been repaired")
    with pytest.raises(ParseError, match=f"block {BLOCK_413567} merkle root mismatch"):
        parse_block(data, "mainnet")


@pytest.mark.slow
def test_segwit_block_702861_matches_oracle(shared_data: Path) -> None:
    data = (shared_data / MAINNET_702861).read_bytes()
    block = parse_block(data, "mainnet")
    assert block.bip34_height == 702861 and block.tx_count == 2500
    assert block.txids.to_pylist() != block.wtxids.to_pylist()  # it has segwit spends
    compare_with_oracle(data, "mainnet", 702861)


def test_testnet_block_matches_oracle(shared_data: Path, select_params: Any) -> None:
    select_params("testnet")
    data = (shared_data / TESTNET).read_bytes()
    compare_with_oracle(data, "testnet", 0)
    outputs = parse_block(data, "testnet").staging_tables(0)["stg_outputs"]
    assert all(
        a is None or a[0] in "mn2" or a.startswith(("tb1", "nonstandard"))
        for a in outputs.column("address").to_pylist()
    )


def test_blocks_staged_together_equal_each_staged_alone(shared_data: Path) -> None:
    """A batch's tables are built from its blocks' joined buffers (transaction indexes and
    address offsets shifted per block): they equal each block's own tables, in order."""
    blocks = [
        (5, parse_block((shared_data / TESTNET).read_bytes(), "testnet")),
        (702861, parse_block((shared_data / MAINNET_702861).read_bytes(), "mainnet")),
        (7, parse_block((shared_data / TESTNET).read_bytes(), "testnet")),
    ]
    together = staging_tables(blocks)
    for name, table in together.items():
        alone = [row for h, b in blocks for row in b.staging_tables(h)[name].to_pylist()]
        assert table.to_pylist() == alone, name
    outputs = together["stg_outputs"]
    assert outputs.column("address").null_count > 0  # outputs without an address kept in place


def checkblock_vectors(shared_data: Path) -> list[tuple[str, bytes]]:
    rows = json.loads((shared_data / "bitcoin/test-vectors/checkblock_valid.json").read_text())
    return [(r[0], bytes.fromhex(r[4])) for r in rows if len(r) == 5 and not r[1]]


def test_checkblock_valid_vectors(shared_data: Path) -> None:
    vectors = checkblock_vectors(shared_data)
    assert len(vectors) == 4  # genesis (twice, different check times), 99960, 99993
    genesis = parse_block(vectors[0][1], "mainnet")
    assert genesis.header.hash == get("mainnet").genesis_hash
    assert genesis.bip34_height is None  # version 1: no committed height
    for _, data in vectors:
        compare_with_oracle(data, "mainnet", 1)


def single_tx_block(tx: bytes) -> bytes:
    """A block holding one transaction, its merkle root set from the oracle's txid."""
    txid = CTransaction.deserialize(tx).GetTxid()
    header = struct.pack("<i32s32sIII", 1, bytes(32), txid, 0, 0x207FFFFF, 0)
    return header + b"\x01" + tx


def test_tx_valid_vectors_parse(shared_data: Path) -> None:
    rows = json.loads((shared_data / "bitcoin/test-vectors/tx_valid.json").read_text())
    txs = [bytes.fromhex(r[1]) for r in rows if isinstance(r[0], list)]
    assert len(txs) == 32
    for tx in txs:
        block = parse_block(single_tx_block(tx), "mainnet")  # merkle check = txid check
        assert block.size == 81 + len(tx)
        oracle = CTransaction.deserialize(tx)
        got = block.staging_tables(0)["stg_outputs"].column("value").to_pylist()
        assert got == [o.nValue for o in oracle.vout]


def test_c_classifier_matches_python_reference(shared_data: Path) -> None:
    """Differential test: the C classifier against script.classify on real and odd scripts."""
    scripts: list[bytes] = []
    for path in (MAINNET_702861, TESTNET):
        for tx in CBlock.deserialize((shared_data / path).read_bytes()).vtx:
            scripts.extend(bytes(o.scriptPubKey) for o in tx.vout)
    key = b"\x03" + bytes(range(32))
    scripts += [
        b"",
        b"\x6a",
        b"\x6a\x4c",
        b"\x6a\x4d\xff",
        b"\x6a\x50\x51",
        b"\x6a\x61",
        b"\x00\x14" + bytes(19),
        b"\x60\x28" + bytes(40),
        b"\x51\x29" + bytes(41),
        bytes([33]) + key + b"\xac",
        b"\x51\x21" + key + b"\x51\xae",
        b"\x52\x21" + key + b"\x51\xae",
        b"\x51\x4c\x21" + key + b"\x51\xae",
        b"\x51\x21" + key[:-1],
    ]
    rng = random.Random(7)
    scripts += [bytes(rng.randrange(256) for _ in range(rng.randrange(45))) for _ in range(3000)]
    for network in ("mainnet", "regtest"):
        p = get(network)
        for s in scripts:
            code, address = _parser.classify(s, p.p2pkh_version, p.p2sh_version, p.hrp, hash160)
            assert (SCRIPT_TYPES[code], address) == classify(s, network), s.hex()


def test_portable_sha256_matches_hashlib() -> None:
    accelerated = _parser.sha_accelerated()
    try:
        for use in (False, True):
            _parser.use_sha_ni(use)
            for n in (0, 1, 55, 56, 63, 64, 65, 119, 120, 1000, 100_000):
                data = os.urandom(n)
                want = hashlib.sha256(hashlib.sha256(data).digest()).digest()
                assert _parser.sha256d(data) == want, (use, n)
    finally:
        _parser.use_sha_ni(accelerated)


def test_bip34_heights() -> None:
    assert bip34_height(2, bytes.fromhex("03ff4e06")) == 413439
    assert bip34_height(2, b"\x51") == 1
    assert bip34_height(1, bytes.fromhex("03ff4e06")) is None
    assert bip34_height(2, b"\x01\x80") is None
    assert bip34_height(2, b"\x04ab") is None


# ---------------------------------------------------------------- bad input

GENESIS_HEX = (
    "0100000000000000000000000000000000000000000000000000000000000000000000003ba3edfd7a7b12b27a"
    "c72c3e67768f617fc81bc3888a51323a9fb8aa4b1e5e4a29ab5f49ffff001d1dac2b7c01010000000100000000"
    "00000000000000000000000000000000000000000000000000000000ffffffff4d04ffff001d010445546865"
    "2054696d65732030332f4a616e2f32303039204368616e63656c6c6f72206f6e206272696e6b206f66207365"
    "636f6e64206261696c6f757420666f722062616e6b73ffffffff0100f2052a01000000434104678afdb0fe55"
    "48271967f1a67130b7105cd6a828e03909a67962e0ea1f61deb649f6bc3f4cef38c4f35504e51ec112de5c38"
    "4df7ba0b8d578a4c702b6bf11d5fac00000000"
)
GENESIS = bytes.fromhex(GENESIS_HEX)


def test_genesis_parses_with_p2pk_address() -> None:
    block = parse_block(GENESIS, "mainnet")
    out = block.staging_tables(0)["stg_outputs"].to_pylist()
    assert out[0]["script_type"] == "p2pk"
    assert out[0]["address"] == "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"
    assert out[0]["value"] == 50 * 10**8


@pytest.mark.parametrize("cut", [40, 81, 100, 200, len(GENESIS) - 1])
def test_truncated_block_names_offset(cut: int) -> None:
    with pytest.raises(ParseError, match=r"^genesis\.raw: .*(truncated|exceeds).* byte offset"):
        parse_block(GENESIS[:cut], "mainnet", where="genesis.raw")


def test_oversized_and_noncanonical_varints() -> None:
    header = GENESIS[:80]
    with pytest.raises(ParseError, match="oversized varint at byte offset 80"):
        parse_block(header + b"\xff" + (2**40).to_bytes(8, "little"), "mainnet")
    with pytest.raises(ParseError, match="non-canonical varint at byte offset 80"):
        parse_block(header + b"\xfd\x01\x00", "mainnet")
    with pytest.raises(ParseError, match="transaction count exceeds"):
        parse_block(header + b"\xfd\x00\x10" + bytes(100), "mainnet")
    # The output script length of the genesis coinbase (0x43) made huge:
    at = GENESIS.index(bytes.fromhex("434104678a"))
    bad = GENESIS[:at] + b"\xfe\x00\x00\x01\x00" + GENESIS[at + 1 :]
    with pytest.raises(ParseError, match=f"scriptPubKey length exceeds.*offset {at + 5}"):
        parse_block(bad, "mainnet", where="x")


def test_invalid_script_bytes_are_nonstandard_not_a_crash() -> None:
    script = b"\x6a\x4e\xff\xff\xff\xff"  # OP_RETURN PUSHDATA4 of 4 GB: runs past the end
    tx = (
        b"\x01\x00\x00\x00\x01"
        + bytes(32)
        + b"\xff\xff\xff\xff\x00\xff\xff\xff\xff\x01"
        + (5).to_bytes(8, "little")
        + bytes([len(script)])
        + script
        + bytes(4)
    )
    block = parse_block(single_tx_block(tx), "mainnet")
    out = block.staging_tables(0)["stg_outputs"].to_pylist()[0]
    assert out["script_type"] == "nonstandard"
    assert out["address"] == "nonstandard" + hashlib.sha256(script).hexdigest()[:40]


def test_merkle_mismatch_and_mutation_name_the_block() -> None:
    bad = bytearray(GENESIS)
    bad[40] ^= 1  # a merkle root byte
    with pytest.raises(ParseError, match="merkle root mismatch"):
        parse_block(bytes(bad), "mainnet")
    tx = GENESIS[81:]
    txid = CTransaction.deserialize(tx).GetTxid()
    root = hashlib.sha256(hashlib.sha256(txid + txid).digest()).digest()
    mutated = struct.pack("<i32s32sIII", 1, bytes(32), root, 0, 0, 0) + b"\x02" + tx + tx
    with pytest.raises(ParseError, match="duplicate transactions"):
        parse_block(mutated, "mainnet")


def test_mutated_blocks_fail_cleanly(shared_data: Path) -> None:
    """Fuzz the C loop: flipped bytes and cuts give a block or a ParseError, never a crash."""
    data = checkblock_vectors(shared_data)[3][1]  # block 99993, 4 transactions
    rng = random.Random(11)
    outcomes = {"parsed": 0, "error": 0}
    for _ in range(3000):
        bad = bytearray(data[: rng.randrange(81, len(data) + 1)])
        for _ in range(rng.randrange(1, 4)):
            at = rng.randrange(80, len(bad))
            bad[at] = rng.choice((0x00, 0xFD, 0xFE, 0xFF, rng.randrange(256)))
        try:
            parse_block(bytes(bad), "mainnet")
            outcomes["parsed"] += 1
        except ParseError as e:
            assert "byte offset" in str(e) or "merkle root" in str(e), e
            outcomes["error"] += 1
    assert outcomes["error"] > 2900
