"""Ethereum transactions and Safe transactions as guard intents.

Walks the call tree (a plain transaction is one call; a Safe transaction may hold MultiSend
batches) and records what moves where — ETH value, ERC-20 `transfer`/`transferFrom` —
and what must deny on its own: DELEGATECALL to a contract outside the allowlist, calls
by which a Safe changes its owners, threshold, modules, guard, fallback handler or
implementation, token approvals, and calldata the guard cannot interpret.
"""

from __future__ import annotations

from chainsleuth.chains.ethereum import abi, safe
from chainsleuth.chains.ethereum.address import to_checksum
from chainsleuth.chains.ethereum.safe import CALL, DELEGATECALL, Call, SafeTx
from chainsleuth.chains.ethereum.transaction import Transaction
from chainsleuth.errors import ParseError
from chainsleuth.services.guard.intent import PAYMENT, REFUND, Fees, Finding, Intent, Transfer

_ADMIN_WHAT = {
    "owner_change": "its owners or threshold",
    "module_change": "its modules (which can then move funds without signatures)",
    "guard_change": "its transaction guard",
    "fallback_handler_change": "its fallback handler",
    "upgrade": "its implementation (masterCopy, storage slot 0)",
}
_TX_NAMES = {0: "legacy", 1: "EIP-2930", 2: "EIP-1559"}
EXEC_SELECTOR = abi.selector(abi.KNOWN_SIGNATURES[4])
TOKEN_SELECTORS = frozenset(abi.selector(sig) for sig in abi.KNOWN_SIGNATURES[:3])


def describe(call: Call) -> str:
    """`transfer(address,uint256)(0xAbc…, 5)`, `no calldata` or `unknown function 0x…`."""
    if not call.data:
        return "no calldata"
    try:
        decoded = abi.decode_known(call.data)
    except ParseError:
        return f"malformed calldata for {abi.KNOWN[call.data[:4]]}"
    if decoded is None:
        return f"unknown function 0x{call.data[:4].hex()}"
    shown = []
    for value in decoded.args:
        if isinstance(value, str):
            shown.append(to_checksum(value))
        elif isinstance(value, bytes):
            shown.append(f"<{len(value)} bytes>")
        else:
            shown.append(str(value))
    return f"{decoded.signature} with ({', '.join(shown)})"


def safe_intent(
    tx: SafeTx,
    *,
    allowlist: frozenset[str],
    chain_id: int,
    version: str,
    recorded_hash: str | None = None,
) -> Intent:
    """The intent of a Safe transaction, with its SafeTx hash when the nonce is known."""
    intent = Intent(chain="ethereum", source="Safe transaction")
    if tx.nonce is not None and tx.safe is not None:
        digest = "0x" + safe.safe_tx_hash(tx, chain_id=chain_id, version=version).hex()
        intent.safe_tx_hash = digest
        intent.summary.append(f"SafeTx hash {digest} (Safe {version}, nonce {tx.nonce})")
        if recorded_hash is not None and recorded_hash.lower() != digest:
            intent.findings.append(
                Finding(
                    "safe_tx_hash_mismatch",
                    f"the given safeTxHash {recorded_hash} is not the hash of these fields "
                    f"({digest}): what is shown differs from what would be signed",
                )
            )
    else:
        intent.notes.append("SafeTx hash not computed: the request's wallet gives no nonce")
    assert tx.safe is not None
    _walk(safe.call_tree(tx), tx.safe, allowlist, intent, "Safe tx")
    if tx.gas_price:
        receiver = tx.refund_receiver if int(tx.refund_receiver, 16) else "the executor"
        token = "ETH" if not int(tx.gas_token, 16) else tx.gas_token
        most = tx.gas_price * (tx.base_gas + tx.safe_tx_gas)
        intent.transfers.append(Transfer(receiver, token, most, REFUND, "gas refund"))
        intent.summary.append(f"gas refund of up to {most} {token} base units to {receiver}")
    return intent


def token_call_intent(
    data: bytes, *, token: str, wallet: str | None, allowlist: frozenset[str]
) -> Intent:
    """The intent of bare ERC-20 `transfer`/`transferFrom`/`approve` calldata sent to
    `token` (the request's asset) — what a signer sees before the transaction is built."""
    intent = Intent(chain="ethereum", source="ERC-20 calldata")
    _walk(Call(CALL, token, 0, data), wallet, allowlist, intent, "call")
    return intent


def transaction_intent(
    tx: Transaction,
    *,
    wallet: str | None,
    allowlist: frozenset[str],
    chain_id: int,
    version: str | None,
    nonce: int | None,
) -> Intent:
    """The intent of a plain Ethereum transaction; when it calls `execTransaction` on
    the request's Safe, the inner Safe transaction is decoded and checked too."""
    kind = _TX_NAMES[tx.tx_type]
    if tx.to and wallet and tx.to == wallet.lower() and tx.data[:4] == EXEC_SELECTOR:
        inner = safe.decode_exec_transaction(tx.data, safe=tx.to, nonce=nonce)
        intent = safe_intent(inner, allowlist=allowlist, chain_id=chain_id, version=version or "")
        intent.source = f"{kind} transaction calling execTransaction"
    else:
        intent = Intent(chain="ethereum", source=f"{kind} transaction")
        if tx.to is None:
            intent.findings.append(
                Finding("contract_creation", "the transaction deploys a contract")
            )
        else:
            _walk(Call(CALL, tx.to, tx.value, tx.data), wallet, allowlist, intent, "tx")
    intent.chain_id = tx.chain_id
    if tx.chain_id is None:
        intent.findings.append(
            Finding("chain_id_missing", "legacy transaction without EIP-155 chain id (replayable)")
        )
    elif tx.chain_id != chain_id:
        intent.findings.append(
            Finding("chain_id_mismatch", f"chain id {tx.chain_id}, the request expects {chain_id}")
        )
    intent.fees = Fees(
        gas_limit=tx.gas_limit,
        max_fee_per_gas=tx.max_fee(),
        max_priority_fee_per_gas=tx.max_priority_fee_per_gas,
    )
    return intent


def _walk(
    call: Call, wallet: str | None, allowlist: frozenset[str], out: Intent, path: str
) -> None:
    label = describe(call)
    target = to_checksum(call.to)
    if call.operation == DELEGATECALL:
        if call.to not in allowlist:
            text = (
                f"{path}: DELEGATECALL to {target} (not allowlisted): calls {label} — "
                "runs with the Safe's own storage and can overwrite slot 0 (its implementation)"
            )
            out.findings.append(Finding("delegatecall_not_allowlisted", text))
            out.summary.append(text)
            return
        if not call.children:
            text = f"{path}: DELEGATECALL to allowlisted {target} that is not a MultiSend batch"
            out.findings.append(Finding("unverifiable_call", text))
            out.summary.append(text)
            return
        out.summary.append(f"{path}: MultiSend batch of {len(call.children)} calls via {target}")
        for i, child in enumerate(call.children):
            _walk(child, wallet, allowlist, out, f"{path} multiSend[{i}]")
        return
    if call.value:
        out.transfers.append(Transfer(call.to, "ETH", call.value, PAYMENT, path))
        out.summary.append(f"{path}: sends {call.value} wei to {target}")
    if not call.data:
        return
    try:
        decoded = abi.decode_known(call.data)
    except ParseError as exc:
        out.findings.append(Finding("malformed_calldata", f"{path}: {exc}"))
        return
    name = decoded.name if decoded else None
    if decoded is not None and name in ("transfer", "transferFrom"):
        to, amount = (
            (decoded.address(0), decoded.uint(1))
            if name == "transfer"
            else (decoded.address(1), decoded.uint(2))
        )
        out.transfers.append(Transfer(to, call.to, amount, PAYMENT, path))
        out.summary.append(f"{path}: token {target}: {label}")
        return
    out.summary.append(f"{path}: CALL to {target}: {label}")
    if wallet is not None and call.to == wallet.lower() and name in safe.ADMIN_KINDS:
        kind = safe.ADMIN_KINDS[name]
        text = f"{path}: {label} on the Safe itself — changes {_ADMIN_WHAT[kind]}"
        out.findings.append(Finding("safe_admin_change", text, kind=kind))
    elif decoded is not None and name == "approve":
        text = f"{path}: token approval on {target}: {label}"
        out.findings.append(
            Finding(
                "token_approval",
                text,
                kind="approval",
                spender=decoded.address(0),
                asset=call.to,
                amount=decoded.uint(1),
            )
        )
    else:
        text = f"{path}: the guard cannot verify {label} on {target}"
        out.findings.append(Finding("unverifiable_call", text))
