"""PSBT and raw-transaction properties: arbitrary or corrupted bytes only ever raise
ParseError, and whatever decodes re-encodes to the same bytes. Raw transactions are also
cross-checked against python-bitcoinlib's serialiser."""

from __future__ import annotations

import contextlib

from bitcoin.core import CTransaction
from hypothesis import given, settings
from hypothesis import strategies as st

from chainsleuth.chains.bitcoin import psbt
from chainsleuth.errors import ParseError
from tests.test_psbt_vectors import BIP174_VALID, BIP370_VALID

VALID = [bytes.fromhex(h) for _, h in BIP174_VALID + BIP370_VALID]


def _exercise(data: bytes) -> None:
    with contextlib.suppress(ParseError):
        decoded = psbt.decode(data)
        assert decoded.encode() == data
        decoded.transaction()
        for i in range(len(decoded.inputs)):
            decoded.input_value(i)


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_only_raise_parse_error(data: bytes) -> None:
    _exercise(b"psbt\xff" + data)
    with contextlib.suppress(ParseError):
        tx = psbt.decode_tx(data)
        assert tx.encode() == data


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(VALID), st.data())
def test_corrupted_valid_psbts_only_raise_parse_error(raw: bytes, data: st.DataObject) -> None:
    position = data.draw(st.integers(min_value=5, max_value=len(raw) - 1))
    byte = data.draw(st.integers(min_value=0, max_value=255))
    cut = data.draw(st.integers(min_value=position, max_value=len(raw)))
    _exercise(raw[:position] + bytes([byte]) + raw[position + 1 :])
    _exercise(raw[:cut])


def test_unsigned_transactions_match_python_bitcoinlib() -> None:
    for raw in VALID[:6]:
        decoded = psbt.decode(raw)
        if decoded.version != 0:
            continue
        tx = decoded.transaction()
        reference = CTransaction.deserialize(tx.encode())
        assert reference.GetTxid()[::-1].hex() == tx.txid()
        assert [o.nValue for o in reference.vout] == [o.amount for o in tx.outputs]
        assert [bytes(o.scriptPubKey) for o in reference.vout] == [o.script for o in tx.outputs]
