"""`chainsleuth serve`, `keys`, `alerts` and `audit`: running and administering the service.

The store is one DuckDB file and DuckDB lets one process write it at a time: run these
administration commands while the service is stopped, or use the API's admin endpoints.
"""

from __future__ import annotations

from pathlib import Path

import typer

from chainsleuth.interfaces.cli.context import FORMAT_OPTION, output, settings, store
from chainsleuth.interfaces.cli.screen import POLICY_OPTION
from chainsleuth.interfaces.output import Format
from chainsleuth.services.screening import alerts as alerts_service
from chainsleuth.services.screening.audit import export_audit
from chainsleuth.services.screening.engine import Screener
from chainsleuth.services.screening.keys import create_key, list_keys, revoke_key
from chainsleuth.services.screening.policy import load_policy


def register(app: typer.Typer) -> None:
    """Add `serve` and the `keys`, `alerts` and `audit` groups."""

    @app.command("serve")
    def serve(
        ctx: typer.Context,
        host: str = typer.Option("127.0.0.1", "--host"),
        port: int = typer.Option(8000, "--port"),
        policy: str = POLICY_OPTION,
        guard_policy: str = typer.Option(
            None, "--guard-policy", help="Withdrawal guard policy YAML (default: built in)."
        ),
        workers_log: str = typer.Option("warning", "--log-level", help="uvicorn log level."),
    ) -> None:
        """Run the REST API (OpenAPI at /openapi.json, docs at /docs)."""
        import sys

        import uvicorn

        from chainsleuth.interfaces.api.app import create_app

        application = create_app(settings(ctx).db, policy, guard_policy)
        # The event loop gets the interpreter lock back within 1 ms (default 5 ms) when the
        # background thread (audit writes, key refresh) holds it: shorter latency tails.
        sys.setswitchinterval(0.001)
        # uvloop and httptools, named rather than left to uvicorn's "auto", which falls back
        # silently to the pure-Python loop and parser (half the requests per second)
        uvicorn.run(
            application,
            host=host,
            port=port,
            log_level=workers_log,
            access_log=workers_log in ("info", "debug", "trace"),
            loop="uvloop",
            http="httptools",
        )

    keys = typer.Typer(help="API keys (stored as salted hashes; shown once).")
    app.add_typer(keys, name="keys")

    @keys.command("create")
    def keys_create(
        ctx: typer.Context,
        name: str = typer.Option(..., "--name"),
        scopes: str = typer.Option(
            "screen", "--scopes", help="Comma list: screen,trace,guard,admin."
        ),
        rate: int = typer.Option(6000, "--rate", help="Requests per minute allowed."),
        fmt: Format = FORMAT_OPTION,
    ) -> None:
        """Create a key and print it once."""
        made = create_key(
            store(ctx), name, [s.strip() for s in scopes.split(",") if s.strip()], rate
        )
        output(ctx, made, fmt)

    @keys.command("list")
    def keys_list(ctx: typer.Context, fmt: Format = FORMAT_OPTION) -> None:
        """Keys without their secrets."""
        output(ctx, list_keys(store(ctx)), fmt, title="API keys")

    @keys.command("revoke")
    def keys_revoke(ctx: typer.Context, key_id: int = typer.Argument(...)) -> None:
        """Revoke a key by id."""
        revoke_key(store(ctx), key_id)
        output(ctx, {"key_id": key_id, "revoked": True})

    alerts = typer.Typer(help="Alerts from watchlists and their webhook deliveries.")
    app.add_typer(alerts, name="alerts")

    @alerts.command("list")
    def alerts_list(
        ctx: typer.Context, limit: int = typer.Option(100, "--limit"), fmt: Format = FORMAT_OPTION
    ) -> None:
        """Newest alerts, with each webhook delivery's state and last error."""
        output(ctx, alerts_service.list_alerts(store(ctx), limit), fmt, title="alerts")

    @alerts.command("scan")
    def alerts_scan(
        ctx: typer.Context,
        chain: str = typer.Option("bitcoin", "--chain"),
        from_height: int = typer.Option(0, "--from"),
        to_height: int = typer.Option(None, "--to"),
        policy: str = POLICY_OPTION,
    ) -> None:
        """Look for watched movements and risky deposits in stored blocks."""
        con = store(ctx)
        if to_height is None:
            to_height = int(
                con.execute(
                    "SELECT coalesce(max(height), -1) FROM blocks WHERE chain = ?", [chain]
                ).fetchall()[0][0]
            )
        made = alerts_service.scan(
            con,
            chain,
            from_height,
            to_height,
            Screener(con, load_policy(policy), fingerprints=False),
        )
        output(ctx, {"chain": chain, "from": from_height, "to": to_height, "alerts": made})

    @alerts.command("deliver")
    def alerts_deliver(ctx: typer.Context) -> None:
        """POST due webhook deliveries now (the service also does this every 30 s)."""
        output(ctx, alerts_service.deliver_pending(store(ctx)))

    audit = typer.Typer(help="The append-only audit trail of screening and guard requests.")
    app.add_typer(audit, name="audit")

    @audit.command("export")
    def audit_export(
        ctx: typer.Context,
        start: str = typer.Option(None, "--from", help="ISO date, inclusive."),
        end: str = typer.Option(None, "--to", help="ISO date, inclusive."),
        fmt: Format = FORMAT_OPTION,
        out: Path = typer.Option(None, "--out", help="Write to a file."),
    ) -> None:
        """Audit rows in a date range, as CSV or JSON."""
        rows = export_audit(store(ctx), start, end)
        chosen = fmt or settings(ctx).fmt
        if out is None:
            output(ctx, rows, chosen, title="audit")
        else:
            from chainsleuth.interfaces.output import emit

            with out.open("w", encoding="utf-8") as fh:
                emit(rows, chosen, out=fh)
