"""Guard on Bitcoin: the DMM-like case (a PSBT that pays nearly everything elsewhere),
a legitimate withdrawal with change proven by the wallet's descriptor, PSBT v0/v2 and raw
transactions, fee-rate ceilings.

Transactions are built with python-bitcoinlib (an independent serialiser); the wallet is
BIP-84's published account 0 (its `zpub` re-encoded as an `xpub`), whose first receive and
change addresses BIP-84 lists.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import base58
import pytest
from bitcoin.core import CMutableTransaction, CMutableTxIn, CMutableTxOut, COutPoint, lx
from bitcoin.wallet import CBitcoinAddress
from typer.testing import CliRunner

from chainsleuth.errors import AddressError
from chainsleuth.interfaces.cli.main import app
from chainsleuth.services.guard import check, default_policy, load_policy, parse_request

_ZPUB = (
    "zpub6rFR7y4Q2AijBEqTUquhVz398htDFrtymD9xYYfG1m4wAcvPhXNfE3EfH1r1ADqtfSdVCToUG868RvUUkgD"
    "Kf31mGDtKsAYz2oz2AGutZYs"
)
XPUB = base58.b58encode_check(
    bytes.fromhex("0488b21e") + base58.b58decode_check(_ZPUB)[4:]
).decode()
WALLET = f"wpkh([00000000/84'/0'/0']{XPUB}/<0;1>/*)"
RECEIVE_0 = "bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu"  # BIP-84 m/84'/0'/0'/0/0
CHANGE_0 = "bc1q8c6fshw2dlwun7ekn9qwf37cu2rn755upcp6el"  # BIP-84 m/84'/0'/0'/1/0
DESTINATION = "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4"  # BIP-173 example
ATTACKER = "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2"
PREV_TXID = "75ddabb27b8845f5247975c8a5ba7c6f336c4570708ebe230caf6db5217ae858"
COIN = 100_000_000
INPUT_VALUE = 5 * COIN


def script_of(address: str) -> bytes:
    return bytes(CBitcoinAddress(address).to_scriptPubKey())


def unsigned_tx(outputs: list[tuple[str, int]]) -> bytes:
    tx = CMutableTransaction(
        [CMutableTxIn(COutPoint(lx(PREV_TXID), 0), nSequence=0xFFFFFFFD)],
        [
            CMutableTxOut(amount, CBitcoinAddress(addr).to_scriptPubKey())
            for addr, amount in outputs
        ],
        nLockTime=0,
        nVersion=2,
    )
    return bytes(tx.serialize())


def _kv(key: bytes, value: bytes) -> bytes:
    size = bytes([len(value)]) if len(value) < 253 else b"\xfd" + len(value).to_bytes(2, "little")
    return bytes([len(key)]) + key + size + value


def witness_utxo(amount: int, address: str) -> bytes:
    spk = script_of(address)
    return amount.to_bytes(8, "little") + bytes([len(spk)]) + spk


def psbt_v0(outputs: list[tuple[str, int]]) -> bytes:
    """A BIP-174 PSBT spending 5 BTC from the wallet's first receive address."""
    raw = unsigned_tx(outputs)
    parts = [b"psbt\xff", _kv(b"\x00", raw), b"\x00"]
    parts += [_kv(b"\x01", witness_utxo(INPUT_VALUE, RECEIVE_0)), b"\x00"]
    parts += [b"\x00"] * len(outputs)
    return b"".join(parts)


def psbt_v2(outputs: list[tuple[str, int]]) -> bytes:
    """The same spend as a BIP-370 version 2 PSBT."""
    parts = [
        b"psbt\xff",
        _kv(b"\x02", (2).to_bytes(4, "little")),
        _kv(b"\x04", b"\x01"),
        _kv(b"\x05", bytes([len(outputs)])),
        _kv(b"\xfb", (2).to_bytes(4, "little")),
        b"\x00",
        _kv(b"\x01", witness_utxo(INPUT_VALUE, RECEIVE_0)),
        _kv(b"\x0e", bytes.fromhex(PREV_TXID)[::-1]),
        _kv(b"\x0f", (0).to_bytes(4, "little")),
        b"\x00",
    ]
    for address, amount in outputs:
        parts += [
            _kv(b"\x03", amount.to_bytes(8, "little")),
            _kv(b"\x04", script_of(address)),
            b"\x00",
        ]
    return b"".join(parts)


LEGIT = [(DESTINATION, COIN), (CHANGE_0, INPUT_VALUE - COIN - 14_100)]
DMM_LIKE = [(ATTACKER, INPUT_VALUE - 14_100)]


def request(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "wd-2024-05-31-001",
        "chain": "bitcoin",
        "chain_id": "mainnet",
        "asset": "BTC",
        "amount": str(COIN),
        "destination": DESTINATION,
        "approvers": ["ops-1", "ops-2"],
        "time": "2024-05-31T04:00:00Z",
        "wallet": {"type": "bitcoin", "descriptors": [WALLET]},
    }
    base.update(overrides)
    return base


def codes(req: dict[str, Any], raw: bytes, policy: Any = None, **kw: Any) -> set[str]:
    decision = check(parse_request(req), raw, policy or default_policy(), **kw)
    return {r.code for r in decision.reasons}


def run_cli(tmp_path: Path, req: dict[str, Any], tx: bytes | str, *extra: str) -> Any:
    r = tmp_path / "request.json"
    r.write_text(json.dumps(req))
    t = tmp_path / "tx.psbt"
    t.write_bytes(tx if isinstance(tx, bytes) else tx.encode())
    args = ["--format", "json", "guard", "check", "--request", str(r), "--tx", str(t)]
    return CliRunner().invoke(app, [*args, *extra])


def test_dmm_like_psbt_is_denied(tmp_path: Path) -> None:
    """Request: 1 BTC to A. PSBT: nearly all 5 BTC to another address."""
    result = run_cli(tmp_path, request(), base64.b64encode(psbt_v0(DMM_LIKE)).decode())
    assert result.exit_code == 3, result.output
    out = json.loads(result.stdout)
    assert out["decision"] == "deny"
    assert [r["code"] for r in out["reasons"]] == ["destination_mismatch"]
    assert ATTACKER in out["reasons"][0]["message"]
    assert f"{INPUT_VALUE - 14_100} sat to {ATTACKER}" in out["summary"]


def test_dmm_like_with_altered_amount_and_hidden_output() -> None:
    altered = [(DESTINATION, COIN // 10), (ATTACKER, INPUT_VALUE - COIN // 10 - 14_100)]
    assert codes(request(), psbt_v0(altered)) == {"amount_mismatch", "extra_recipient"}


def test_legitimate_psbt_with_proven_change_is_allowed(tmp_path: Path) -> None:
    wallet = tmp_path / "wallet.txt"
    wallet.write_text("// exchange hot wallet\n" + WALLET + "\n")
    req = request(wallet={"type": "bitcoin"})
    result = run_cli(tmp_path, req, psbt_v0(LEGIT), "--wallet", str(wallet))
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["decision"] == "allow"
    roles = [(t["to"], t["role"]) for t in out["transfers"]]
    assert roles == [(DESTINATION, "payment"), (CHANGE_0, "change")]
    assert "fee 14100 sat" in out["summary"]


def test_change_without_wallet_proof_is_an_extra_recipient() -> None:
    req = request(wallet={"type": "bitcoin"})
    assert codes(req, psbt_v0(LEGIT)) == {"extra_recipient"}
    by_address = request(wallet={"type": "bitcoin", "addresses": [CHANGE_0]})
    assert codes(by_address, psbt_v0(LEGIT)) == set()


def test_psbt_v2_and_raw_transaction_forms() -> None:
    assert codes(request(), psbt_v2(LEGIT)) == set()
    assert codes(request(), psbt_v2(DMM_LIKE)) == {"destination_mismatch"}
    raw_hex = unsigned_tx(LEGIT).hex().encode()
    decision = check(parse_request(request()), raw_hex, default_policy())
    assert decision.allowed
    assert any("fee unknown" in n for n in decision.notes)


def test_fee_rate_ceiling(tmp_path: Path) -> None:
    policy_path = tmp_path / "p.yaml"
    policy_path.write_text("bitcoin:\n  max_fee_rate: 50\n")
    policy = load_policy(policy_path)
    # 1 P2WPKH input, 2 outputs: ~141 vB; 14,100 sat is 100 sat/vB.
    assert codes(request(), psbt_v0(LEGIT), policy) == {"fee_rate_too_high"}
    cheap = [(DESTINATION, COIN), (CHANGE_0, INPUT_VALUE - COIN - 1_410)]
    assert codes(request(), psbt_v0(cheap), policy) == set()
    raw = unsigned_tx(cheap).hex().encode()
    assert codes(request(), raw, policy) == {"fee_unknown"}


def test_wrong_network_destination_is_an_input_error() -> None:
    req = request(destination="tb1qw508d6qejxtdg4y5r3zarvary0c5xw7kxpjzsx")
    with pytest.raises(AddressError, match="request destination"):
        codes(req, psbt_v0(LEGIT))
