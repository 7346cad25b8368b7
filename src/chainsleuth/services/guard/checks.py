"""The guard's checks: a decoded transaction (`Intent`) against the approved request and
the policy. Pure: every input is given, every failed check is one `Reason`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from chainsleuth.services.guard.intent import PAYMENT, REFUND, Intent, Transfer
from chainsleuth.services.guard.ledger import Entry, spent_in_window
from chainsleuth.services.guard.model import Request
from chainsleuth.services.guard.policy import Policy
from chainsleuth.services.guard.screening import Screener


@dataclass(frozen=True)
class Reason:
    """Why a transaction is denied: a stable `code` for machines, a `message` for people."""

    code: str
    message: str


Normalise = Callable[[str, str], str]


def evaluate(
    request: Request,
    policy: Policy,
    intent: Intent,
    *,
    normalise: Normalise,
    history: Sequence[Entry] = (),
    screener: Screener | None = None,
) -> list[Reason]:
    """Every reason to deny; empty means allow.

    `normalise(address, where)` gives the canonical form of an address of the request's
    chain (the same form the intent's transfers use), raising AddressError when invalid.
    """
    reasons: list[Reason] = []
    if intent.chain != request.chain:
        reasons.append(
            Reason("chain_mismatch", f"a {intent.chain} transaction for a {request.chain} request")
        )
        return reasons
    dest = normalise(request.destination, "request destination")
    asset = policy.token_address(request.asset) or request.asset.upper()
    reasons += _transfers(request, intent, dest, asset, policy)
    reasons += _findings(request, intent, dest, asset)
    reasons += _limits(request, policy, dest, normalise, history)
    distinct = {a.strip().lower() for a in request.approvers if a.strip()}
    if len(distinct) < policy.min_approvers:
        reasons.append(
            Reason(
                "too_few_approvers",
                f"{len(distinct)} distinct approver(s), the policy requires {policy.min_approvers}",
            )
        )
    if screener is not None:
        reasons += _screen(request.chain, intent, policy.risk_threshold, screener)
    reasons += _fees(policy, intent)
    return reasons


def _amount_text(amount: int, asset: str) -> str:
    """An amount with its unit: `sat` for BTC, `wei` for ETH, base units of a token."""
    unit = {"BTC": "sat", "ETH": "wei"}.get(asset.upper(), f"base units of {asset}")
    return f"{amount} {unit}"


def _shown(t: Transfer, policy: Policy) -> str:
    asset = t.asset
    for symbol, address in policy.tokens.items():
        if address.lower() == asset:
            asset = symbol
    return f"{_amount_text(t.amount, asset)} to {t.to} ({t.where})"


def _transfers(
    request: Request, intent: Intent, dest: str, asset: str, policy: Policy
) -> list[Reason]:
    out: list[Reason] = []
    paid = [t for t in intent.transfers if t.role in (PAYMENT, REFUND)]
    approved = f"{_amount_text(request.amount, request.asset)} to {request.destination}"
    if request.kind != "transfer":
        return [
            Reason(
                "extra_recipient",
                f"a {request.kind} request pays nothing, but: {_shown(t, policy)}",
            )
            for t in paid
        ]
    to_dest = [t for t in paid if t.to == dest and t.role == PAYMENT]
    if not to_dest:
        what = "; ".join(_shown(t, policy) for t in paid) or "nothing"
        out.append(Reason("destination_mismatch", f"pays {what}; approved: {approved}"))
    else:
        wrong_asset = [t for t in to_dest if t.asset != asset]
        for t in wrong_asset:
            out.append(Reason("asset_mismatch", f"pays {_shown(t, policy)}; approved: {approved}"))
        total = sum(t.amount for t in to_dest if t.asset == asset)
        if total != request.amount and len(wrong_asset) < len(to_dest):
            out.append(
                Reason(
                    "amount_mismatch",
                    f"pays {_amount_text(total, request.asset)}; approved: {approved}",
                )
            )
        for t in paid:
            if t not in to_dest:
                out.append(Reason("extra_recipient", f"also pays {_shown(t, policy)}"))
    return out


def _findings(request: Request, intent: Intent, dest: str, asset: str) -> list[Reason]:
    out = [
        Reason(f.code, f.message)
        for f in intent.findings
        if f.kind is None or f.kind != request.kind
    ]
    if request.kind != "transfer" and not any(f.kind == request.kind for f in intent.findings):
        out.append(
            Reason("kind_mismatch", f"a {request.kind} request, but the transaction does none")
        )
    for f in intent.findings:
        if f.kind == "approval" == request.kind and (f.spender, f.asset, f.amount) != (
            dest,
            asset,
            request.amount,
        ):
            out.append(
                Reason(
                    "approval_mismatch",
                    f"approves {f.amount} base units of {f.asset} to {f.spender}; approved: "
                    f"{_amount_text(request.amount, request.asset)} to {request.destination}",
                )
            )
    return out


def _limits(
    request: Request,
    policy: Policy,
    dest: str,
    normalise: Normalise,
    history: Sequence[Entry],
) -> list[Reason]:
    rules = policy.rules_for(request.asset)
    out: list[Reason] = []
    allowlist = {normalise(a, f"policy allowlist of {request.asset}") for a in rules.allowlist}
    if allowlist and dest not in allowlist:
        out.append(
            Reason(
                "destination_not_allowlisted",
                f"{request.destination} is not on the {request.asset} allowlist",
            )
        )
    if rules.max_per_tx is not None and request.amount > rules.max_per_tx:
        out.append(
            Reason(
                "per_tx_limit",
                f"{_amount_text(request.amount, request.asset)} exceeds the per-transaction limit "
                f"{rules.max_per_tx}",
            )
        )
    if rules.max_24h is not None:
        spent = spent_in_window(list(history), request)
        if spent + request.amount > rules.max_24h:
            out.append(
                Reason(
                    "daily_limit",
                    f"{_amount_text(spent, request.asset)} already allowed in the last 24 h + "
                    f"{request.amount} exceeds the rolling limit {rules.max_24h}",
                )
            )
    hot = rules.hot_wallet
    if hot is not None and dest == normalise(hot.address, "policy hot_wallet address"):
        if request.destination_balance is None:
            out.append(
                Reason(
                    "hot_wallet_balance_unknown",
                    "the destination is the capped hot wallet; the request gives no "
                    "destination_balance",
                )
            )
        elif request.destination_balance + request.amount > hot.cap:
            out.append(
                Reason(
                    "hot_wallet_cap",
                    f"hot wallet balance {request.destination_balance} + {request.amount} "
                    f"exceeds its cap {hot.cap}",
                )
            )
    return out


def _screen(chain: str, intent: Intent, threshold: int, screener: Screener) -> list[Reason]:
    out = []
    for address in dict.fromkeys(t.to for t in intent.transfers if t.role != "change"):
        result = screener(chain, address)
        if result is not None and result[0] >= threshold:
            out.append(
                Reason(
                    "screening_risk",
                    f"{address} scores {result[0]} (threshold {threshold}): {result[1]}",
                )
            )
    return out


def _fees(policy: Policy, intent: Intent) -> list[Reason]:
    fees, out = intent.fees, []
    btc, eth = policy.bitcoin, policy.ethereum
    if intent.chain == "bitcoin" and (btc.max_fee is not None or btc.max_fee_rate is not None):
        if fees.fee is None or fees.vsize is None:
            out.append(
                Reason("fee_unknown", "the fee cannot be computed (input amounts not given)")
            )
        else:
            if btc.max_fee is not None and fees.fee > btc.max_fee:
                out.append(Reason("fee_too_high", f"fee {fees.fee} sat exceeds {btc.max_fee}"))
            if btc.max_fee_rate is not None and fees.fee > btc.max_fee_rate * fees.vsize:
                out.append(
                    Reason(
                        "fee_rate_too_high",
                        f"fee rate {fees.fee / fees.vsize:.1f} sat/vB (fee {fees.fee} sat over "
                        f"~{fees.vsize} vB) exceeds {btc.max_fee_rate}",
                    )
                )
    caps = (
        ("gas_limit", fees.gas_limit, eth.max_gas_limit),
        ("max_fee_per_gas", fees.max_fee_per_gas, eth.max_fee_per_gas),
        ("max_priority_fee_per_gas", fees.max_priority_fee_per_gas, eth.max_priority_fee_per_gas),
    )
    for name, value, cap in caps:
        if value is not None and cap is not None and value > cap:
            out.append(Reason(f"{name}_too_high", f"{name} {value} exceeds the policy's {cap}"))
    return out
