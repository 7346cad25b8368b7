"""Safe decoding: SafeTx hashes of the real Bybit record, domain separators by version,
MultiSend batches, strict ABI decoding, and random input that must only raise ParseError."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainsleuth.chains.ethereum import abi, safe
from chainsleuth.chains.ethereum.address import keccak256
from chainsleuth.errors import ParseError

BYBIT = "0x1db92e2eebc8e0c075a02bea49a2935bcd2dfcf4"


def test_real_bybit_hashes_recompute(shared_data: Path) -> None:
    path = shared_data / "ethereum" / "bybit-safe-tx" / "bybit-safe-tx-71.json"
    for record in json.loads(path.read_text())["results"]:
        tx = safe.from_service_json(record)
        assert tx.safe == BYBIT and tx.nonce == 71
        digest = safe.safe_tx_hash(tx, chain_id=1, version="1.1.1")
        assert "0x" + digest.hex() == record["safeTxHash"]


def test_domain_separator_by_version() -> None:
    """Before 1.3.0: keccak(typehash ‖ address); from 1.3.0 the chain id enters."""
    word = bytes(12) + bytes.fromhex(BYBIT[2:])
    old = keccak256(keccak256(b"EIP712Domain(address verifyingContract)") + word)
    assert safe.domain_separator(BYBIT, None, "1.1.1") == old
    new_type = keccak256(b"EIP712Domain(uint256 chainId,address verifyingContract)")
    assert safe.domain_separator(BYBIT, 1, "1.3.0+L2") == keccak256(
        new_type + (1).to_bytes(32, "big") + word
    )
    assert safe.domain_separator(BYBIT, 1, "1.4.1") != safe.domain_separator(BYBIT, 5, "1.4.1")
    with pytest.raises(ParseError):
        safe.parse_version("v1")


def test_safe_tx_typehash_is_the_published_one() -> None:
    """SAFE_TX_TYPEHASH of safe-smart-account (GnosisSafe.sol 1.x)."""
    expected = "bb8310d486368db6bd6f849402fdd73ad53d316b5a4b2644ad6efe0f941286d8"
    text = (
        "SafeTx(address to,uint256 value,bytes data,uint8 operation,uint256 safeTxGas,"
        "uint256 baseGas,uint256 gasPrice,address gasToken,address refundReceiver,uint256 nonce)"
    )
    assert keccak256(text.encode()).hex() == expected


def packed(op: int, to: str, value: int, data: bytes) -> bytes:
    return (
        bytes([op])
        + bytes.fromhex(to[2:])
        + value.to_bytes(32, "big")
        + len(data).to_bytes(32, "big")
        + data
    )


def test_multisend_decoding_is_recursive() -> None:
    inner = packed(0, "0x" + "22" * 20, 5, b"")
    inner_call = abi.selector("multiSend(bytes)") + (32).to_bytes(32, "big")
    inner_call += len(inner).to_bytes(32, "big") + inner + bytes(-len(inner) % 32)
    outer = packed(0, "0x" + "11" * 20, 1, b"") + packed(1, "0x" + "33" * 20, 0, inner_call)
    data = abi.selector("multiSend(bytes)") + (32).to_bytes(32, "big")
    data += len(outer).to_bytes(32, "big") + outer + bytes(-len(outer) % 32)
    tx = safe.SafeTx("0x" + "44" * 20, 0, data, 1, 0, 0, 0, "0x" + "00" * 20, "0x" + "00" * 20, 1)
    tree = safe.call_tree(tx)
    calls = list(tree.walk())
    assert [(c.depth, c.operation, c.to[:4], c.value) for c in calls] == [
        (0, 1, "0x44", 0),
        (1, 0, "0x11", 1),
        (1, 1, "0x33", 0),
        (2, 0, "0x22", 5),
    ]
    with pytest.raises(ParseError, match="runs past the end"):
        safe.decode_multisend(outer[:-1])


def test_abi_rejects_dirty_address_padding() -> None:
    data = abi.selector("transfer(address,uint256)") + b"\x01" + bytes(31) + bytes(32)
    with pytest.raises(ParseError, match="padding"):
        abi.decode_known(data)
    assert abi.decode_known(b"\x12\x34\x56\x78") is None


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=400))
def test_random_calldata_only_raises_parse_error(data: bytes) -> None:
    for blob in (data, abi.selector(abi.KNOWN_SIGNATURES[4]) + data):
        with contextlib.suppress(ParseError):
            safe.decode_exec_transaction(blob, safe=BYBIT, nonce=1)
    with contextlib.suppress(ParseError):
        safe.decode_multisend(data)
