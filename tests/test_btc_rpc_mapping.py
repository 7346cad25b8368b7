"""Core `getblock` JSON to staging tables: exact amounts, script types, Core version shapes.

Recorded answers come from `../shared/data` (see tests/test_btc_rpc.py); the addresses
Core itself printed (old `addresses` lists) are the independent expectation.
"""

from __future__ import annotations

import copy
import decimal
from typing import Any

import pytest

from chainsleuth.chains.bitcoin.rpc import blocks_to_staging, btc_to_sat, check_network
from chainsleuth.errors import SourceError
from tests import test_btc_rpc

rec = test_btc_rpc.rec  # the recordings fixture
Recordings = test_btc_rpc.Recordings


@pytest.mark.parametrize(
    ("btc", "sat"),
    [
        ("50.00000000", 5_000_000_000),
        ("0.00000001", 1),
        ("0", 0),
        ("20999999.99999999", 2_099_999_999_999_999),
        ("21000000", 2_100_000_000_000_000),
    ],
)
def test_btc_to_sat_is_exact(btc: str, sat: int) -> None:
    assert btc_to_sat(decimal.Decimal(btc), "here") == sat


@pytest.mark.parametrize("bad", ["0.000000001", "-1", "21000000.00000001"])
def test_btc_to_sat_rejects_fractions_and_out_of_range(bad: str) -> None:
    with pytest.raises(SourceError, match=f"here: amount {bad} BTC is not a valid number"):
        btc_to_sat(decimal.Decimal(bad), "here")


def test_btc_to_sat_rejects_floats() -> None:
    with pytest.raises(SourceError, match="is not a decimal number"):
        btc_to_sat(0.1, "here")


def test_network_names() -> None:
    check_network({"chain": "testnet4"}, "testnet", "node")
    check_network({"chain": "regtest"}, "regtest", "node")
    with pytest.raises(SourceError, match="node serves Bitcoin chain 'main', not signet; pass"):
        check_network({"chain": "main"}, "signet", "node")


def new_core_shape(block: dict[str, Any]) -> dict[str, Any]:
    """The block as Core 22+ prints it: one `address` (none for P2PK), no `reqSigs`."""
    block = copy.deepcopy(block)
    for tx in block["tx"]:
        for vout in tx["vout"]:
            spk = vout["scriptPubKey"]
            addresses = spk.pop("addresses")
            spk.pop("reqSigs")
            if spk["type"] != "pubkey":
                spk["address"] = addresses[0]
    return block


def test_old_and_new_core_shapes_give_the_same_rows(rec: Recordings) -> None:
    blocks = [rec.blocks[h] for h in sorted(rec.blocks)]
    old = blocks_to_staging(blocks, "mainnet")
    new = blocks_to_staging([new_core_shape(b) for b in blocks], "mainnet")
    assert old == new
    outputs = old["stg_outputs"].to_pylist()
    core = [
        (vout["scriptPubKey"]["addresses"][0], vout["scriptPubKey"]["type"])
        for b in blocks
        for tx in b["tx"]
        for vout in tx["vout"]
    ]
    assert [(o["address"], o["script_type"]) for o in outputs] == [
        (address, test_btc_rpc.ETL_TYPES[kind]) for address, kind in core
    ]


def test_block_rows(rec: Recordings) -> None:
    tables = blocks_to_staging([rec.blocks[0], rec.blocks[50001]], "mainnet")
    genesis, b50001 = tables["stg_blocks"].to_pylist()
    assert (
        genesis["parent_hash"] == "0" * 64 and genesis["time"].isoformat() == "2009-01-03T18:15:05"
    )
    assert (b50001["height"], b50001["tx_count"]) == (50001, 3)
    txs = tables["stg_txs"].to_pylist()
    assert [t["weight"] for t in txs] == [4 * t["size"] for t in txs]  # no witness data
    assert [t["is_coinbase"] for t in txs] == [True, True, False, False]
    # Coinbase inputs are not staged; verbosity 2 leaves address and value to the store.
    inputs = tables["stg_inputs"].to_pylist()
    assert [
        (i["tx_hash"][:8], i["position"], i["n"], i["address"], i["value"]) for i in inputs
    ] == [
        ("7940cdde", 1, 0, None, None),  # block 50001's transactions 1 and 2 (0: coinbase)
        ("7940cdde", 1, 1, None, None),
        ("f8476145", 2, 0, None, None),
    ]


def test_txids_only_answer_is_refused(rec: Recordings) -> None:
    block = copy.deepcopy(rec.blocks[1])
    block["tx"] = [tx["txid"] for tx in block["tx"]]
    with pytest.raises(SourceError, match=r"block 1 \S+: getblock gave txids only"):
        blocks_to_staging([block], "mainnet")


def test_malformed_answers_name_block_and_tx(rec: Recordings) -> None:
    block = copy.deepcopy(rec.blocks[50002])
    block["tx"][0]["vout"][0]["value"] = decimal.Decimal("0.123456789")
    txid = block["tx"][0]["txid"]
    with pytest.raises(SourceError, match=f"block 50002 .* tx {txid} output 0: amount"):
        blocks_to_staging([block], "mainnet")
    del block["tx"][0]["vout"][0]["scriptPubKey"]
    with pytest.raises(SourceError, match=rf"block 50002 \S+ tx {txid}: malformed getblock answer"):
        blocks_to_staging([block], "mainnet")
