"""Guard checks beyond the incident cases: hot-wallet cap, approvals, a Safe transaction
wrapped in the executor's EIP-1559 transaction, Safe gas refunds, the JSON form of a
transaction, policy errors, and random input that must end in a clear error."""

from __future__ import annotations

import contextlib
import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainsleuth.chains.ethereum.transaction import DYNAMIC_FEE, Transaction
from chainsleuth.errors import ChainsleuthError, InputError
from chainsleuth.services.guard import Policy, check, default_policy, load_policy, parse_request
from tests.test_guard_bitcoin import LEGIT, psbt_v0
from tests.test_guard_bitcoin import request as btc_request
from tests.test_guard_ethereum import (
    BYBIT_SAFE,
    DEST,
    USDT,
    bybit_request,
    call,
    decide,
    eip1559,
    exec_calldata,
    hot_request,
    safe_json,
)


def test_hot_wallet_cap(tmp_path: Path) -> None:
    policy_file = tmp_path / "p.yaml"
    policy_file.write_text(f"assets:\n  ETH:\n    hot_wallet: {{address: '{DEST}', cap: '3000'}}\n")
    policy = load_policy(policy_file)
    raw = eip1559(DEST, 1000)

    def codes(**kw: object) -> set[str]:
        decision = check(parse_request(hot_request(amount="1000", **kw)), raw, policy)
        return {r.code for r in decision.reasons}

    assert codes() == {"hot_wallet_balance_unknown"}
    assert codes(destination_balance="2000") == set()
    assert codes(destination_balance="2001") == {"hot_wallet_cap"}


def test_approval_must_match_an_approval_request() -> None:
    approve = eip1559(USDT, 0, call("approve(address,uint256)", DEST, 500))
    request = hot_request(asset=USDT, amount="500", kind="approval")
    assert decide(request, approve) == set()
    assert decide(
        hot_request(asset=USDT, amount="500", kind="approval", destination="0x" + "12" * 20),
        approve,
    ) == {"approval_mismatch"}
    assert decide(request, eip1559(DEST, 0)) == {"kind_mismatch"}


def test_executor_transaction_wrapping_exec_transaction(shared_data: Path) -> None:
    """The executor's EIP-1559 tx calling execTransaction on the Safe: the inner Safe
    transaction is what is checked (the real Bybit malicious record, nonce 71)."""
    path = shared_data / "ethereum" / "bybit-safe-tx" / "bybit-safe-tx-71.json"
    record = next(r for r in json.loads(path.read_text())["results"] if r["operation"] == 1)
    outer = Transaction(
        tx_type=DYNAMIC_FEE,
        chain_id=1,
        nonce=0,
        gas_limit=200_000,
        to=BYBIT_SAFE.lower(),
        value=0,
        data=exec_calldata(record),
        max_priority_fee_per_gas=10**9,
        max_fee_per_gas=10**10,
    ).encode()
    request = bybit_request(
        wallet={"type": "safe", "address": BYBIT_SAFE, "version": "1.1.1", "nonce": 71}
    )
    decision = check(parse_request(request), outer, default_policy())
    assert decision.safe_tx_hash == record["safeTxHash"]
    assert "delegatecall_not_allowlisted" in {r.code for r in decision.reasons}
    assert decision.source == "EIP-1559 transaction calling execTransaction"


def test_safe_gas_refund_is_an_extra_recipient() -> None:
    raw = json.loads(safe_json("0x88a1493366D48225fc3cEFbdae9eBb23E323Ade3", value=30_000 * 10**18))
    raw.update(gasPrice="1000000000", baseGas=50_000, refundReceiver="0x" + "77" * 20)
    codes = decide(bybit_request(), json.dumps(raw).encode())
    assert codes == {"extra_recipient"}


def test_unknown_calldata_is_unverifiable() -> None:
    raw = eip1559(DEST, 10**18, bytes.fromhex("deadbeef") + bytes(32))
    assert decide(hot_request(), raw) == {"unverifiable_call"}


def test_json_transaction_form() -> None:
    tx = {
        "type": "0x2",
        "chainId": "0x1",
        "nonce": "0x0",
        "to": DEST,
        "value": hex(10**18),
        "gas": "0x5208",
        "maxFeePerGas": "0x6fc23ac00",
        "maxPriorityFeePerGas": "0x3b9aca00",
        "data": "0x",
    }
    assert decide(hot_request(), json.dumps(tx).encode()) == set()


def test_policy_errors_name_the_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("assets:\n  BTC:\n    max_per_tx: 1.5\n")
    with pytest.raises(InputError, match=r"assets\.BTC\.max_per_tx"):
        load_policy(bad)
    bad.write_text("min_approvers: [\n")
    with pytest.raises(InputError, match="invalid YAML"):
        load_policy(bad)


def test_bitcoin_tx_for_ethereum_request_is_refused() -> None:
    with pytest.raises(InputError):
        check(parse_request(hot_request()), psbt_v0(LEGIT), default_policy())
    assert decide(btc_request(), psbt_v0(LEGIT)) == set()


REQUESTS = {
    "eth": parse_request(hot_request()),
    "safe": parse_request(bybit_request()),
    "btc": parse_request(btc_request()),
}
POLICY = default_policy()


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=300), st.sampled_from(sorted(REQUESTS)))
def test_random_transactions_end_in_a_clear_error(data: bytes, which: str) -> None:
    for raw in (data, data.hex().encode(), b"psbt\xff" + data):
        with contextlib.suppress(ChainsleuthError):
            check(REQUESTS[which], raw, POLICY)


def test_bare_erc20_calldata() -> None:
    request = hot_request(asset="USDT", amount="5000000")
    data = call("transfer(address,uint256)", DEST, 5_000_000)
    policy = load_policy_text("tokens: {USDT: '" + USDT + "'}\n")
    decision = check(parse_request(request), data.hex().encode(), policy)
    assert decision.allowed and decision.source == "ERC-20 calldata"
    stolen = call("transferFrom(address,address,uint256)", DEST, "0x" + "66" * 20, 5_000_000)
    denied = check(parse_request(request), stolen.hex().encode(), policy)
    assert [r.code for r in denied.reasons] == ["destination_mismatch"]


def load_policy_text(text: str) -> Policy:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "policy.yaml"
        path.write_text(text)
        return load_policy(path)
