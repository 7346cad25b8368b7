"""`chainsleuth guard check`: verify a transaction before it is signed.

Exit codes: 0 allow, 3 deny; 2 when the request, policy or transaction cannot be read.
"""

from __future__ import annotations

from pathlib import Path

import typer

from chainsleuth.errors import InputError
from chainsleuth.interfaces.cli.context import FORMAT_OPTION, output, settings, store
from chainsleuth.interfaces.output import Format
from chainsleuth.services.guard import check, ledger, load_policy, load_request
from chainsleuth.services.guard.screening import Screener as GuardScreen

DENY_EXIT = 3


def _read_tx(value: str) -> bytes:
    """The transaction bytes: a file's content, or the argument itself (hex/base64)."""
    path = Path(value)
    if path.is_file():
        return path.read_bytes()
    if len(value) > 255 or value.startswith(("0x", "cHNidP", "{")) or value.isalnum():
        return value.encode("ascii", errors="replace")
    raise InputError(f"--tx {value}: no such file")


def _read_wallet(value: str | None) -> list[str]:
    """Descriptors/addresses: one per line of a file (blank and `//` lines skipped), or
    the argument itself as one descriptor or address."""
    if value is None:
        return []
    path = Path(value)
    if path.is_file():
        lines = path.read_text(encoding="utf-8").splitlines()
        return [s.strip() for s in lines if s.strip() and not s.strip().startswith("//")]
    return [value]


def _screener(ctx: typer.Context, risk_policy: Path | None) -> GuardScreen | None:
    """The screening engine over the `--db` store, if that store exists."""
    db = settings(ctx).db
    if not Path(db).exists():
        return None
    from chainsleuth.services.screening.engine import Screener
    from chainsleuth.services.screening.policy import load_policy as load_risk_policy

    return Screener(store(ctx), load_risk_policy(risk_policy), fingerprints=False).guard_screen


def register(app: typer.Typer) -> None:
    """Add the `guard` command group to the root command."""
    guard_app = typer.Typer(help="Withdrawal guard: check a transaction before signing it.")
    app.add_typer(guard_app, name="guard")

    @guard_app.command("check")
    def check_command(
        ctx: typer.Context,
        request: Path = typer.Option(..., "--request", help="Approved request (JSON)."),
        tx: str = typer.Option(
            ..., "--tx", help="Transaction file or literal: PSBT, raw hex, tx or Safe JSON."
        ),
        policy: Path | None = typer.Option(
            None, "--policy", help="Policy YAML (default: the shipped default policy)."
        ),
        wallet: str | None = typer.Option(
            None, "--wallet", help="Bitcoin output descriptors/addresses (file, or one)."
        ),
        history: Path | None = typer.Option(
            None, "--history", help="JSON Lines ledger of allowed requests (24 h limits)."
        ),
        screen: bool = typer.Option(
            True,
            "--screen/--no-screen",
            help="Screen destinations with the store's exposures (when --db exists).",
        ),
        risk_policy: Path | None = typer.Option(
            None, "--risk-policy", envvar="CHAINSLEUTH_POLICY", help="Risk policy YAML."
        ),
        fmt: Format = FORMAT_OPTION,
    ) -> None:
        """Decide allow (exit 0) or deny (exit 3), with every reason and a summary."""
        req = load_request(request)
        entries = ledger.read(history) if history else []
        decision = check(
            req,
            _read_tx(tx),
            load_policy(policy),
            wallet=_read_wallet(wallet),
            history=entries,
            screener=_screener(ctx, risk_policy) if screen else None,
        )
        if decision.allowed and history is not None:
            ledger.append(history, req)
        chosen = fmt or settings(ctx).fmt
        data = decision.to_dict()
        if chosen is not Format.json:
            data["reasons"] = data["reasons"] or [{"code": "-", "message": "no reason to deny"}]
        output(ctx, data, chosen, title=f"guard: {decision.decision.upper()}")
        if not decision.allowed:
            raise SystemExit(DENY_EXIT)
