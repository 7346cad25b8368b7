"""Withdrawal guard (issue 9): check what is really being signed against what was approved.

`check(request, raw_tx, policy)` decodes the transaction independently of any wallet
interface (PSBT, raw Bitcoin tx, Ethereum tx, Safe transaction) and returns a `Decision`
(`allow`/`deny`, every reason, a summary of what the transaction does).
"""

from __future__ import annotations

from chainsleuth.services.guard.model import Request, load_request, parse_request
from chainsleuth.services.guard.policy import Policy, default_policy, load_policy
from chainsleuth.services.guard.screening import Screener
from chainsleuth.services.guard.service import Decision, check

__all__ = [
    "Decision",
    "Policy",
    "Request",
    "Screener",
    "check",
    "default_policy",
    "load_policy",
    "load_request",
    "parse_request",
]
