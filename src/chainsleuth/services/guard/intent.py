"""What a transaction really does, chain-independent: the guard's view of it.

Decoders of each chain turn a transaction into an `Intent` (transfers with their role,
findings that deny by themselves, fee figures, human summary lines); the checks compare
it with the approved request and the policy without knowing the chain's encoding.
"""

from __future__ import annotations

from dataclasses import dataclass, field

PAYMENT, CHANGE, REFUND = "payment", "change", "refund"


@dataclass(frozen=True)
class Transfer:
    """Value leaving the wallet: to whom, which asset (`BTC`, `ETH` or a token contract),
    how much in base units, its role (payment, change back to the wallet, gas refund) and
    where in the transaction it sits (`output 1`, `multiSend[0]`)."""

    to: str
    asset: str
    amount: int
    role: str
    where: str


@dataclass(frozen=True)
class Finding:
    """Something found while decoding that denies unless the request is of `kind`
    (None: denies always), e.g. an owner change, a non-allowlisted DELEGATECALL.

    A token approval also carries its `spender`, `asset` (token contract) and `amount`,
    which an approval request must match exactly."""

    code: str
    message: str
    kind: str | None = None
    spender: str | None = None
    asset: str | None = None
    amount: int | None = None


@dataclass
class Fees:
    """Fee figures a policy can cap; None where the chain or the data does not tell.

    Bitcoin: `fee` (satoshi) and `vsize` (estimated virtual bytes of the signed tx).
    Ethereum: `gas_limit`, `max_fee_per_gas`, `max_priority_fee_per_gas` (wei).
    """

    fee: int | None = None
    vsize: int | None = None
    gas_limit: int | None = None
    max_fee_per_gas: int | None = None
    max_priority_fee_per_gas: int | None = None


@dataclass
class Intent:
    """The decoded transaction as the checks see it."""

    chain: str
    chain_id: int | None = None
    source: str | None = None
    transfers: list[Transfer] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    summary: list[str] = field(default_factory=list)
    fees: Fees = field(default_factory=Fees)
    safe_tx_hash: str | None = None
    notes: list[str] = field(default_factory=list)
