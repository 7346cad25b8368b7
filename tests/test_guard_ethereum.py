"""Guard on Ethereum: the real Bybit Safe transaction (nonce 71) and its intended twin,
plain EIP-1559 transfers, ERC-20 calldata, MultiSend batches and Safe administration.

The Bybit record (`../shared/data/ethereum/bybit-safe-tx/bybit-safe-tx-71.json`, Safe
Transaction Service JSON) holds the executed malicious transaction — operation 1
(DELEGATECALL) to 0x9622…7242 with `transfer(address,uint256)` calldata — and the 30,000
ETH transfer the signers meant to approve. Both safeTxHash values are recorded there.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from chainsleuth.chains.ethereum import abi, rlp
from chainsleuth.chains.ethereum.transaction import DYNAMIC_FEE, Transaction
from chainsleuth.interfaces.cli.main import app
from chainsleuth.services.guard import check, default_policy, parse_request

BYBIT_SAFE = "0x1Db92e2EeBC8E0c075a02BeA49a2935BcD2dFCF4"
INTENDED_TO = "0x88a1493366D48225fc3cEFbdae9eBb23E323Ade3"
OWNERS = [
    "0x1F4EB0a903619ac168b19A82F1a6e2e426522211",
    "0x3Cc3A225769900e003E264dd4CB43E90896BC21A",
    "0xe3dF2cCEAc61B1aFA311372ecC5B40A3A6585a9E",
]
MULTISEND_CALL_ONLY_130 = "0x40A2aCCbd92BCA938b02010E17A5b8929b49130D"
HOT = "0x000000000000000000000000000000000000a11c"
DEST = "0x000000000000000000000000000000000000beef"
USDT = "0xdac17f958d2ee523a2206206994597c13d831ec7"


def bybit_request(**overrides: Any) -> dict[str, Any]:
    """The approved request of the intended transfer: 30,000 ETH to 0x88a1…Ade3."""
    request: dict[str, Any] = {
        "id": "bybit-cold-71",
        "chain": "ethereum",
        "chain_id": 1,
        "asset": "ETH",
        "amount": "30000000000000000000000",
        "destination": INTENDED_TO,
        "approvers": OWNERS,
        "time": "2025-02-21T14:00:00Z",
        "wallet": {"type": "safe", "address": BYBIT_SAFE, "version": "1.1.1"},
    }
    request.update(overrides)
    return request


@pytest.fixture(scope="module")
def bybit(shared_data: Path) -> dict[str, dict[str, Any]]:
    """The two Safe Transaction Service records of nonce 71: malicious and intended."""
    path = shared_data / "ethereum" / "bybit-safe-tx" / "bybit-safe-tx-71.json"
    results = json.loads(path.read_text())["results"]
    by_op = {r["operation"]: r for r in results}
    return {"malicious": by_op[1], "intended": by_op[0]}


def run_cli(tmp_path: Path, request: dict[str, Any], tx: str | bytes, *extra: str) -> Any:
    """`chainsleuth --format json guard check` on files written to tmp_path."""
    req = tmp_path / "request.json"
    req.write_text(json.dumps(request))
    tx_path = tmp_path / "tx"
    tx_path.write_bytes(tx if isinstance(tx, bytes) else tx.encode())
    args = ["--format", "json", "guard", "check", "--request", str(req), "--tx", str(tx_path)]
    return CliRunner().invoke(app, [*args, *extra])


def test_bybit_malicious_transaction_is_denied(tmp_path: Path, bybit: dict[str, Any]) -> None:
    record = bybit["malicious"]
    result = run_cli(tmp_path, bybit_request(), json.dumps(record))
    assert result.exit_code == 3, result.output
    out = json.loads(result.stdout)
    assert out["decision"] == "deny"
    assert out["safe_tx_hash"] == record["safeTxHash"]
    codes = {r["code"] for r in out["reasons"]}
    assert {"delegatecall_not_allowlisted", "destination_mismatch"} <= codes
    assert (
        "DELEGATECALL to 0x96221423681A6d52E184D440a8eFCEbB105C7242 (not allowlisted): "
        "calls transfer(address,uint256)" in out["summary"]
    )
    assert "slot 0" in out["summary"]


def test_bybit_intended_transfer_is_allowed(tmp_path: Path, bybit: dict[str, Any]) -> None:
    record = bybit["intended"]
    result = run_cli(tmp_path, bybit_request(), json.dumps(record))
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["decision"] == "allow"
    assert out["reasons"] == []
    assert out["safe_tx_hash"] == record["safeTxHash"]
    assert out["transfers"] == [
        {
            "to": INTENDED_TO.lower(),
            "asset": "ETH",
            "amount": 30_000 * 10**18,
            "role": "payment",
            "where": "Safe tx",
        }
    ]


def test_bybit_table_output_is_readable(tmp_path: Path, bybit: dict[str, Any]) -> None:
    req = tmp_path / "r.json"
    req.write_text(json.dumps(bybit_request()))
    tx = tmp_path / "t.json"
    tx.write_text(json.dumps(bybit["malicious"]))
    result = CliRunner().invoke(app, ["guard", "check", "--request", str(req), "--tx", str(tx)])
    assert result.exit_code == 3
    assert "guard: DENY" in result.stdout
    assert "delegatecall_not_allowlisted" in result.stdout


def exec_calldata(record: dict[str, Any]) -> bytes:
    """ABI-encode execTransaction(...) for a Safe Transaction Service record (test helper)."""
    data = bytes.fromhex((record["data"] or "0x")[2:])

    def word(value: int | str) -> bytes:
        number = int(value, 16) if isinstance(value, str) else value
        return number.to_bytes(32, "big")

    head = [
        word(record["to"]),
        word(int(record["value"])),
        word(32 * 10),  # offset of data
        word(record["operation"]),
        word(record["safeTxGas"]),
        word(record["baseGas"]),
        word(int(record["gasPrice"])),
        word(record["gasToken"]),
        word(record["refundReceiver"]),
        word(32 * 10 + 32 + (len(data) + 31) // 32 * 32),  # offset of signatures
    ]
    padded = data + bytes(-len(data) % 32)
    tail = word(len(data)) + padded + word(0)
    selector = abi.selector(abi.KNOWN_SIGNATURES[4])
    return selector + b"".join(head) + tail


def test_bybit_as_exec_transaction_calldata(tmp_path: Path, bybit: dict[str, Any]) -> None:
    """The same decision from the calldata the executor sent; nonce from the request."""
    record = bybit["malicious"]
    request = bybit_request(
        wallet={"type": "safe", "address": BYBIT_SAFE, "version": "1.1.1", "nonce": 71}
    )
    result = run_cli(tmp_path, request, "0x" + exec_calldata(record).hex())
    assert result.exit_code == 3, result.output
    out = json.loads(result.stdout)
    assert out["safe_tx_hash"] == record["safeTxHash"]
    assert "delegatecall_not_allowlisted" in {r["code"] for r in out["reasons"]}


def test_safe_version_selects_domain(bybit: dict[str, Any]) -> None:
    """Under a 1.3.0 domain (with chainId) the hash differs from the signed one."""
    raw = json.dumps(bybit["intended"]).encode()
    decision = check(parse_request(bybit_request()), raw, default_policy())
    modern = bybit_request(wallet={"type": "safe", "address": BYBIT_SAFE, "version": "1.3.0"})
    other = check(parse_request(modern), raw, default_policy())
    assert decision.safe_tx_hash == bybit["intended"]["safeTxHash"]
    assert other.safe_tx_hash != decision.safe_tx_hash


def test_tampered_recorded_hash_is_denied(bybit: dict[str, Any]) -> None:
    record = dict(bybit["intended"], value="30000000000000000000001")
    decision = check(parse_request(bybit_request()), json.dumps(record).encode(), default_policy())
    codes = {r.code for r in decision.reasons}
    assert {"safe_tx_hash_mismatch", "amount_mismatch"} <= codes


def safe_json(to: str, data: bytes = b"", value: int = 0, operation: int = 0) -> bytes:
    """A Safe Transaction Service object for a synthetic Safe transaction."""
    return json.dumps(
        {
            "safe": BYBIT_SAFE,
            "to": to,
            "value": str(value),
            "data": "0x" + data.hex() if data else None,
            "operation": operation,
            "safeTxGas": 0,
            "baseGas": 0,
            "gasPrice": "0",
            "gasToken": "0x" + "00" * 20,
            "refundReceiver": "0x" + "00" * 20,
            "nonce": 72,
        }
    ).encode()


def multisend(calls: list[tuple[int, str, int, bytes]]) -> bytes:
    """multiSend(bytes) calldata packing (operation, to, value, data) calls."""
    packed = b"".join(
        bytes([op])
        + bytes.fromhex(to[2:])
        + value.to_bytes(32, "big")
        + len(data).to_bytes(32, "big")
        + data
        for op, to, value, data in calls
    )
    body = (32).to_bytes(32, "big") + len(packed).to_bytes(32, "big")
    body += packed + bytes(-len(packed) % 32)
    return abi.selector("multiSend(bytes)") + body


def call(signature: str, *words: int | str) -> bytes:
    """Calldata of a function with static arguments."""
    encoded = b"".join((int(w, 16) if isinstance(w, str) else w).to_bytes(32, "big") for w in words)
    return abi.selector(signature) + encoded


def decide(request: dict[str, Any], raw: bytes, **kwargs: Any) -> set[str]:
    decision = check(parse_request(request), raw, default_policy(), **kwargs)
    return {r.code for r in decision.reasons}


def test_multisend_owner_change_denied_unless_requested() -> None:
    add_owner = call("addOwnerWithThreshold(address,uint256)", DEST, 1)
    batch = multisend([(0, BYBIT_SAFE, 0, add_owner)])
    raw = safe_json(MULTISEND_CALL_ONLY_130, batch, operation=1)
    assert "safe_admin_change" in decide(bybit_request(), raw)
    admin = bybit_request(kind="owner_change", amount="0")
    assert decide(admin, raw) == set()


def test_multisend_with_extra_transfer_is_flagged() -> None:
    batch = multisend([(0, INTENDED_TO, 30_000 * 10**18, b""), (0, DEST, 10**18, b"")])
    raw = safe_json(MULTISEND_CALL_ONLY_130, batch, operation=1)
    assert decide(bybit_request(), raw) == {"extra_recipient"}


def test_upgrade_by_change_master_copy_is_denied() -> None:
    raw = safe_json(BYBIT_SAFE, call("changeMasterCopy(address)", DEST))
    codes = decide(bybit_request(), raw)
    assert "safe_admin_change" in codes


def eip1559(to: str, value: int, data: bytes = b"", chain_id: int = 1) -> bytes:
    tx = Transaction(
        tx_type=DYNAMIC_FEE,
        chain_id=chain_id,
        nonce=5,
        gas_limit=60_000,
        to=to.lower(),
        value=value,
        data=data,
        max_priority_fee_per_gas=2 * 10**9,
        max_fee_per_gas=40 * 10**9,
    )
    return tx.encode()


def hot_request(**overrides: Any) -> dict[str, Any]:
    request: dict[str, Any] = {
        "id": "w-1",
        "chain": "ethereum",
        "chain_id": 1,
        "asset": "ETH",
        "amount": str(10**18),
        "destination": DEST,
        "approvers": ["alice", "bob"],
        "time": "2026-01-01T00:00:00Z",
        "wallet": {"type": "account", "address": HOT},
    }
    request.update(overrides)
    return request


def test_legitimate_eip1559_transfer_is_allowed(tmp_path: Path) -> None:
    result = run_cli(tmp_path, hot_request(), "0x" + eip1559(DEST, 10**18).hex())
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["decision"] == "allow"


def test_wrong_chain_id_and_amount_are_denied() -> None:
    assert decide(hot_request(), eip1559(DEST, 10**18, chain_id=5)) == {"chain_id_mismatch"}
    assert decide(hot_request(), eip1559(DEST, 2 * 10**18)) == {"amount_mismatch"}


def test_erc20_transfer_checks_token_recipient_and_amount() -> None:
    request = hot_request(asset=USDT, amount="5000000")
    good = eip1559(USDT, 0, call("transfer(address,uint256)", DEST, 5_000_000))
    assert decide(request, good) == set()
    other = "0x00000000000000000000000000000000000bad00"
    bad = eip1559(USDT, 0, call("transfer(address,uint256)", other, 5_000_000))
    assert decide(request, bad) == {"destination_mismatch"}
    approve = eip1559(USDT, 0, call("approve(address,uint256)", other, 2**256 - 1))
    assert "token_approval" in decide(request, approve)


def test_legacy_without_chain_id_is_denied() -> None:
    fields: list[rlp.Item] = [b"\x05", rlp.encode_uint(10**10), rlp.encode_uint(21000)]
    fields += [bytes.fromhex(DEST[2:]), rlp.encode_uint(10**18), b""]
    assert decide(hot_request(), rlp.encode(fields)) == {"chain_id_missing"}


def test_policy_fee_caps_and_limits(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "ethereum:\n  max_fee_per_gas: '30000000000'\n"
        "assets:\n  ETH:\n    max_per_tx: '500000000000000000'\n    allowlist: ['0x"
        + "11"
        * 20
        + "']\n"
        "min_approvers: 3\n"
    )
    result = run_cli(tmp_path, hot_request(), eip1559(DEST, 10**18).hex(), "--policy", str(policy))
    assert result.exit_code == 3
    codes = {r["code"] for r in json.loads(result.stdout)["reasons"]}
    assert codes == {
        "max_fee_per_gas_too_high",
        "per_tx_limit",
        "destination_not_allowlisted",
        "too_few_approvers",
    }


def test_rolling_24h_limit_uses_history(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("assets:\n  ETH:\n    max_24h: '2500000000000000000'\n")
    history = tmp_path / "history.jsonl"
    raw = eip1559(DEST, 10**18).hex()
    args = ("--policy", str(policy), "--history", str(history))
    for i, expected in enumerate([0, 0, 0, 3]):
        request = hot_request(id="w-1" if i < 2 else f"w-{i}", time=f"2026-01-01T0{i}:00:00Z")
        result = run_cli(tmp_path, request, raw, *args)
        assert result.exit_code == expected, (i, result.output)
    assert len(history.read_text().splitlines()) == 2  # w-1 once, w-2; w-3 denied


def test_screening_hook_denies_risky_destination() -> None:
    def screen(chain: str, address: str) -> tuple[int, str] | None:
        return (90, "2 hops from Lazarus (OFAC SDN)") if address == DEST else None

    decision = check(
        parse_request(hot_request()), eip1559(DEST, 10**18), default_policy(), screener=screen
    )
    assert [r.code for r in decision.reasons] == ["screening_risk"]
    assert "Lazarus" in decision.reasons[0].message


def test_bad_request_is_an_input_error(tmp_path: Path) -> None:
    result = run_cli(tmp_path, hot_request(amount=1.5), eip1559(DEST, 10**18).hex())
    assert result.exit_code != 0
    assert "amount" in str(result.exception) or "amount" in result.output
