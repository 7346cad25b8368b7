"""One guard check: read the transaction, decode it into an intent, evaluate, decide.

`check()` is what the CLI (and later the API's `POST /v1/guard/check`) calls. Formats of
the transaction are told apart by content: PSBT (binary or base64), JSON (Safe
Transaction Service object or Ethereum transaction object), or hex (or binary) — a raw
Bitcoin transaction, an Ethereum transaction (RLP), Safe `execTransaction` calldata, or
bare ERC-20 `transfer`/`transferFrom`/`approve` calldata (to the request's token).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from chainsleuth.chains.bitcoin import address as btc_address
from chainsleuth.chains.ethereum import address as eth_address
from chainsleuth.chains.ethereum import safe, transaction
from chainsleuth.errors import InputError, ParseError
from chainsleuth.services.guard import bitcoin as btc_intent
from chainsleuth.services.guard import ethereum as eth_intent
from chainsleuth.services.guard.checks import Reason, evaluate
from chainsleuth.services.guard.intent import Finding, Intent, Transfer
from chainsleuth.services.guard.ledger import Entry
from chainsleuth.services.guard.model import BitcoinWallet, Request, SafeWallet
from chainsleuth.services.guard.policy import Policy
from chainsleuth.services.guard.screening import Screener

PSBT_MAGIC = b"psbt\xff"


@dataclass
class Decision:
    """The guard's answer: `allow` or `deny`, every reason, what the transaction does."""

    decision: str
    reasons: list[Reason]
    summary: str
    request_id: str
    chain: str
    source: str | None
    safe_tx_hash: str | None = None
    transfers: list[Transfer] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def allowed(self) -> bool:
        """True when the decision is allow."""
        return self.decision == "allow"

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of the decision (issue 9 field names)."""
        return {
            "decision": self.decision,
            "reasons": [{"code": r.code, "message": r.message} for r in self.reasons],
            "summary": self.summary,
            "safe_tx_hash": self.safe_tx_hash,
            "request_id": self.request_id,
            "chain": self.chain,
            "source": self.source,
            "transfers": [
                {"to": t.to, "asset": t.asset, "amount": t.amount, "role": t.role, "where": t.where}
                for t in self.transfers
            ],
            "notes": self.notes,
        }


def check(
    request: Request,
    raw: bytes,
    policy: Policy,
    *,
    wallet: Sequence[str] = (),
    history: Sequence[Entry] = (),
    screener: Screener | None = None,
) -> Decision:
    """Decode `raw` (the transaction about to be signed) and decide on it.

    `wallet`: extra output descriptors or addresses of the Bitcoin wallet (change).
    Raises ParseError/InputError when the transaction or request cannot be read at all.
    """
    intent = decode(request, raw, policy, wallet)
    if request.chain == "ethereum":

        def normalise(a: str, where: str) -> str:
            return eth_address.normalize(a, where=where)
    else:
        network = request.bitcoin_network()

        def normalise(a: str, where: str) -> str:
            return btc_address.validate(a, network, where)

    reasons = evaluate(
        request, policy, intent, normalise=normalise, history=history, screener=screener
    )
    lines = [f"{intent.source}:"] + [f"  {line}" for line in intent.summary]
    return Decision(
        decision="deny" if reasons else "allow",
        reasons=reasons,
        summary="\n".join(lines),
        request_id=request.id,
        chain=request.chain,
        source=intent.source,
        safe_tx_hash=intent.safe_tx_hash,
        transfers=intent.transfers,
        notes=intent.notes,
    )


def decode(request: Request, raw: bytes, policy: Policy, wallet: Sequence[str]) -> Intent:
    """The intent of the transaction bytes, for the request's chain and wallet."""
    if raw.startswith(PSBT_MAGIC):
        return _bitcoin(request, raw, wallet, psbt=True)
    try:
        text = raw.decode("ascii").strip()
    except UnicodeDecodeError:  # binary: a raw transaction of the request's chain
        if request.chain == "bitcoin":
            return _bitcoin(request, raw, wallet, psbt=False)
        return _ethereum_hex(request, raw, policy)
    if text.startswith("cHNidP"):
        try:
            return _bitcoin(request, base64.b64decode(text, validate=True), wallet, psbt=True)
        except binascii.Error:
            raise ParseError("transaction: invalid base64 PSBT") from None
    if text.startswith("{"):
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ParseError(f"transaction JSON: line {exc.lineno}: {exc.msg}") from None
        return _ethereum_json(request, obj, policy)
    body = text.removeprefix("0x")
    try:
        data = bytes.fromhex(body)
    except ValueError:
        raise ParseError("transaction: not hex, base64 PSBT or JSON") from None
    if request.chain == "bitcoin":
        return _bitcoin(request, data, wallet, psbt=data.startswith(PSBT_MAGIC))
    return _ethereum_hex(request, data, policy)


def _bitcoin(request: Request, data: bytes, wallet: Sequence[str], *, psbt: bool) -> Intent:
    if request.chain != "bitcoin":
        raise InputError(f"request {request.id} is for {request.chain}, the tx is Bitcoin")
    if not isinstance(request.wallet, BitcoinWallet):
        raise InputError(f"request {request.id}: a bitcoin request needs a bitcoin wallet")
    return btc_intent.intent(
        data,
        psbt_form=psbt,
        network=request.bitcoin_network(),
        wallet=[*request.wallet.descriptors, *wallet],
        addresses=request.wallet.addresses,
    )


def _allowlist(policy: Policy) -> frozenset[str]:
    return frozenset(policy.delegatecall_allowlist)


def _ethereum_json(request: Request, obj: Any, policy: Policy) -> Intent:
    if not isinstance(obj, dict):
        raise ParseError("transaction JSON: expected an object")
    if "safe" in obj and "operation" in obj:
        tx = safe.from_service_json(obj)
        wallet = request.wallet
        if not isinstance(wallet, SafeWallet):
            raise InputError(f"request {request.id}: a Safe transaction needs a safe wallet")
        intent = eth_intent.safe_intent(
            tx,
            allowlist=_allowlist(policy),
            chain_id=request.ethereum_chain_id(),
            version=wallet.version,
            recorded_hash=obj.get("safeTxHash"),
        )
        _same_wallet(intent, tx.safe, wallet.address)
        return intent
    return _plain(request, transaction.from_json(obj), policy)


def _ethereum_hex(request: Request, data: bytes, policy: Policy) -> Intent:
    wallet = request.wallet
    if data[:4] == eth_intent.EXEC_SELECTOR:
        if not isinstance(wallet, SafeWallet):
            raise InputError(f"request {request.id}: execTransaction calldata needs a safe wallet")
        address = eth_address.normalize(wallet.address, where="request wallet.address")
        tx = safe.decode_exec_transaction(data, safe=address, nonce=wallet.nonce)
        return eth_intent.safe_intent(
            tx,
            allowlist=_allowlist(policy),
            chain_id=request.ethereum_chain_id(),
            version=wallet.version,
        )
    if data[:4] in eth_intent.TOKEN_SELECTORS and len(data) % 32 == 4:
        token = policy.token_address(request.asset)
        if token is None:
            raise InputError(f"request {request.id}: ERC-20 calldata, but the asset is native")
        account = None if isinstance(wallet, BitcoinWallet) else wallet.address.lower()
        allowlist = _allowlist(policy)
        return eth_intent.token_call_intent(data, token=token, wallet=account, allowlist=allowlist)
    return _plain(request, transaction.decode(data), policy)


def _plain(request: Request, tx: transaction.Transaction, policy: Policy) -> Intent:
    wallet = request.wallet
    if isinstance(wallet, BitcoinWallet):
        raise InputError(f"request {request.id}: an Ethereum tx needs a safe or account wallet")
    address = eth_address.normalize(wallet.address, where="request wallet.address")
    return eth_intent.transaction_intent(
        tx,
        wallet=address,
        allowlist=_allowlist(policy),
        chain_id=request.ethereum_chain_id(),
        version=wallet.version if isinstance(wallet, SafeWallet) else None,
        nonce=wallet.nonce if isinstance(wallet, SafeWallet) else None,
    )


def _same_wallet(intent: Intent, tx_safe: str | None, wallet: str) -> None:
    expected = eth_address.normalize(wallet, where="request wallet.address")
    if tx_safe != expected:
        intent.findings.append(
            Finding(
                "wallet_mismatch",
                f"the transaction is for Safe {tx_safe}, the request's wallet is {expected}",
            )
        )
