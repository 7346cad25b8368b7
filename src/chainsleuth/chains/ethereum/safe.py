"""Safe (Gnosis Safe) multisig transactions: decoding, SafeTx hash, MultiSend batches.

A Safe executes `execTransaction(to, value, data, operation, safeTxGas, baseGas, gasPrice,
gasToken, refundReceiver, signatures)` once enough owners have signed the EIP-712 hash of
SafeTx(to, value, data, operation, safeTxGas, baseGas, gasPrice, gasToken, refundReceiver,
nonce). The EIP-712 domain is `EIP712Domain(address verifyingContract)` before Safe 1.3.0
and `EIP712Domain(uint256 chainId,address verifyingContract)` from 1.3.0 (safe-smart-account
`GnosisSafe.sol`/`Safe.sol`); Safe 0.1.0 named `baseGas` `dataGas` in the type string.

`operation = 1` is DELEGATECALL: the target's code runs on the Safe's own storage, whose
slot 0 holds the implementation (masterCopy/singleton) — the Bybit theft (February 2025)
replaced it this way. MultiSend batches (`multiSend(bytes)`, packed
operation(1) ‖ to(20) ‖ value(32) ‖ length(32) ‖ data) are decoded recursively.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from chainsleuth.chains.ethereum import abi
from chainsleuth.chains.ethereum.address import keccak256
from chainsleuth.errors import ParseError

CALL, DELEGATECALL = 0, 1
ZERO_ADDRESS = "0x" + "00" * 20

_DOMAIN_NO_CHAIN = keccak256(b"EIP712Domain(address verifyingContract)")
_DOMAIN_WITH_CHAIN = keccak256(b"EIP712Domain(uint256 chainId,address verifyingContract)")
_SAFE_TX_FIELDS = (
    "address to,uint256 value,bytes data,uint8 operation,uint256 safeTxGas,uint256 {gas},"
    "uint256 gasPrice,address gasToken,address refundReceiver,uint256 nonce"
)
_SAFE_TX_TYPEHASH = keccak256(("SafeTx(" + _SAFE_TX_FIELDS.format(gas="baseGas") + ")").encode())
_SAFE_TX_TYPEHASH_0_X = keccak256(
    ("SafeTx(" + _SAFE_TX_FIELDS.format(gas="dataGas") + ")").encode()
)

# Official MultiSendCallOnly deployments (safe-global/safe-deployments, src/assets):
# v1.3.0 canonical, eip155 and zkSync; v1.4.1 and v1.5.0 canonical.
MULTISEND_CALL_ONLY = frozenset(
    {
        "0x40a2accbd92bca938b02010e17a5b8929b49130d",
        "0xa1dabef33b3b82c7814b6d82a79e50f4ac44102b",
        "0xf220d3b4dfb23c4ade8c88e526c1353abacbc38f",
        "0x9641d764fc13c8b624c04430c7356c1c7c8102e2",
        "0xa83c336b20401af773b6219ba5027174338d1836",
    }
)

# Calls a Safe makes to itself to change who controls it, by the request kind allowing them.
ADMIN_KINDS = {
    "addOwnerWithThreshold": "owner_change",
    "removeOwner": "owner_change",
    "swapOwner": "owner_change",
    "changeThreshold": "owner_change",
    "enableModule": "module_change",
    "disableModule": "module_change",
    "setGuard": "guard_change",
    "setFallbackHandler": "fallback_handler_change",
    "changeMasterCopy": "upgrade",
}


@dataclass(frozen=True)
class SafeTx:
    """The signed fields of a Safe transaction, plus the Safe it is for (when known)."""

    to: str
    value: int
    data: bytes
    operation: int
    safe_tx_gas: int
    base_gas: int
    gas_price: int
    gas_token: str
    refund_receiver: str
    nonce: int | None
    safe: str | None = None


@dataclass(frozen=True)
class Call:
    """One call of a Safe transaction; a MultiSend batch has its calls as `children`."""

    operation: int
    to: str
    value: int
    data: bytes
    depth: int = 0
    children: tuple[Call, ...] = field(default=())

    def walk(self) -> Iterator[Call]:
        """This call and every call nested in it, depth first."""
        yield self
        for child in self.children:
            yield from child.walk()


def parse_version(version: str) -> tuple[int, int, int]:
    """`1.3.0` (optionally with a `+L2` suffix) as a comparable tuple."""
    core = version.strip().split("+", 1)[0]
    parts = core.split(".")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        raise ParseError(f"Safe version {version!r} is not MAJOR.MINOR.PATCH")
    major, minor, patch = (int(p) for p in parts)
    return major, minor, patch


def domain_separator(safe: str, chain_id: int | None, version: str) -> bytes:
    """The EIP-712 domain separator of a Safe, by version (chainId from 1.3.0)."""
    address = _word_address(safe)
    if parse_version(version) < (1, 3, 0):
        return keccak256(_DOMAIN_NO_CHAIN + address)
    if chain_id is None:
        raise ParseError(f"Safe {version} domain needs a chain id")
    return keccak256(_DOMAIN_WITH_CHAIN + chain_id.to_bytes(32, "big") + address)


def safe_tx_hash(tx: SafeTx, *, chain_id: int | None, version: str) -> bytes:
    """The EIP-712 SafeTx hash the owners sign (what a signing device shows)."""
    if tx.safe is None or tx.nonce is None:
        raise ParseError("SafeTx hash needs the Safe address and the nonce")
    typehash = _SAFE_TX_TYPEHASH if parse_version(version) >= (1, 0, 0) else _SAFE_TX_TYPEHASH_0_X
    struct = keccak256(
        typehash
        + _word_address(tx.to)
        + tx.value.to_bytes(32, "big")
        + keccak256(tx.data)
        + tx.operation.to_bytes(32, "big")
        + tx.safe_tx_gas.to_bytes(32, "big")
        + tx.base_gas.to_bytes(32, "big")
        + tx.gas_price.to_bytes(32, "big")
        + _word_address(tx.gas_token)
        + _word_address(tx.refund_receiver)
        + tx.nonce.to_bytes(32, "big")
    )
    return keccak256(b"\x19\x01" + domain_separator(tx.safe, chain_id, version) + struct)


def _word_address(address: str) -> bytes:
    return bytes(12) + bytes.fromhex(address[2:])


def decode_exec_transaction(calldata: bytes, *, safe: str | None, nonce: int | None) -> SafeTx:
    """A SafeTx from `execTransaction` calldata; the nonce is the Safe's current one."""
    call = abi.decode_known(calldata)
    if call is None or call.name != "execTransaction":
        raise ParseError("Safe calldata: selector is not execTransaction (0x6a761202)")
    operation = call.uint(3)
    if operation not in (CALL, DELEGATECALL):
        raise ParseError(f"Safe calldata: operation {operation} is neither 0 (CALL) nor 1")
    return SafeTx(
        to=call.address(0),
        value=call.uint(1),
        data=call.bytes(2),
        operation=operation,
        safe_tx_gas=call.uint(4),
        base_gas=call.uint(5),
        gas_price=call.uint(6),
        gas_token=call.address(7),
        refund_receiver=call.address(8),
        nonce=nonce,
        safe=safe,
    )


def from_service_json(obj: Mapping[str, Any]) -> SafeTx:
    """A SafeTx from a Safe Transaction Service object (`safe`, `to`, …, `nonce`)."""
    what = "Safe transaction JSON"
    missing = [k for k in ("safe", "to", "value", "operation", "nonce") if k not in obj]
    if missing:
        raise ParseError(f"{what}: missing field(s) {', '.join(missing)}")
    operation = _int(obj["operation"], "operation")
    if operation not in (CALL, DELEGATECALL):
        raise ParseError(f"{what}: operation {operation} is neither 0 (CALL) nor 1")
    return SafeTx(
        to=_address(obj["to"], "to"),
        value=_int(obj["value"], "value"),
        data=_data(obj.get("data"), "data"),
        operation=operation,
        safe_tx_gas=_int(obj.get("safeTxGas", 0), "safeTxGas"),
        base_gas=_int(obj.get("baseGas", obj.get("dataGas", 0)), "baseGas"),
        gas_price=_int(obj.get("gasPrice", 0), "gasPrice"),
        gas_token=_address(obj.get("gasToken") or ZERO_ADDRESS, "gasToken"),
        refund_receiver=_address(obj.get("refundReceiver") or ZERO_ADDRESS, "refundReceiver"),
        nonce=_int(obj["nonce"], "nonce"),
        safe=_address(obj["safe"], "safe"),
    )


def _int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ParseError(f"Safe transaction JSON: field {name} is not an integer")
    try:
        number = int(value, 0) if isinstance(value, str) else value
    except ValueError:
        raise ParseError(
            f"Safe transaction JSON: field {name}={value!r} is not an integer"
        ) from None
    if not 0 <= number < 2**256:
        raise ParseError(f"Safe transaction JSON: field {name} out of uint256 range")
    return number


def _data(value: Any, name: str) -> bytes:
    if value is None:
        return b""
    if not isinstance(value, str) or not value.startswith("0x"):
        raise ParseError(f"Safe transaction JSON: field {name} is not 0x-hex")
    try:
        return bytes.fromhex(value[2:])
    except ValueError:
        raise ParseError(f"Safe transaction JSON: field {name} is not valid hex") from None


def _address(value: Any, name: str) -> str:
    data = _data(value, name)
    if len(data) != 20:
        raise ParseError(f"Safe transaction JSON: field {name} is not a 20-byte address")
    return "0x" + data.hex()


def call_tree(tx: SafeTx, *, max_depth: int = 4) -> Call:
    """The Safe transaction as a call, with MultiSend batches decoded recursively."""
    return _expand(Call(tx.operation, tx.to, tx.value, tx.data), max_depth)


def _expand(call: Call, max_depth: int) -> Call:
    decoded = abi.decode_known(call.data)
    if decoded is None or decoded.name != "multiSend" or call.depth >= max_depth:
        return call
    batch = decode_multisend(decoded.bytes(0), depth=call.depth + 1)
    children = tuple(_expand(child, max_depth) for child in batch)
    return Call(call.operation, call.to, call.value, call.data, call.depth, children)


def decode_multisend(transactions: bytes, *, depth: int = 1) -> list[Call]:
    """The packed calls of a `multiSend(bytes transactions)` argument."""
    calls: list[Call] = []
    pos = 0
    while pos < len(transactions):
        if pos + 85 > len(transactions):
            raise ParseError(f"MultiSend batch: truncated call header at offset {pos}")
        operation = transactions[pos]
        if operation not in (CALL, DELEGATECALL):
            raise ParseError(f"MultiSend batch: operation {operation} at offset {pos}")
        to = "0x" + transactions[pos + 1 : pos + 21].hex()
        value = int.from_bytes(transactions[pos + 21 : pos + 53], "big")
        length = int.from_bytes(transactions[pos + 53 : pos + 85], "big")
        end = pos + 85 + length
        if end > len(transactions):
            raise ParseError(f"MultiSend batch: data of call at offset {pos} runs past the end")
        calls.append(Call(operation, to, value, transactions[pos + 85 : end], depth))
        pos = end
    return calls
