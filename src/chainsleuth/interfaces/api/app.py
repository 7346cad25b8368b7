"""The screening service: FastAPI over the same services the CLI calls.

Routes are thin: they authenticate, validate, call `services.screening`, audit, and return
JSON. Errors map to HTTP statuses in one place (`_failure`); nothing else reaches a client,
so no stack trace ever does. The store is one DuckDB connection guarded by a lock;
screening itself reads only the screener's in-memory index, and key checks an in-memory
copy of the key table, so the screening of an address never waits on the store.

The address route is what an exchange calls for every deposit and withdrawal. `Front`
answers it before the framework's routing (whose dependency solving, request and
response objects cost several times the screening itself: bench/RESULTS.md), with the
same key check, errors, audit and metrics; the routed endpoint still documents it in the
OpenAPI spec and serves the requests with a query string (`explain`).
"""

from __future__ import annotations

import gc
import re
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chainsleuth.analytics.tracing.utxo import TraceParams
from chainsleuth.errors import ChainsleuthError, InputError, NotFoundError, SourceError, StoreError
from chainsleuth.interfaces.api.metrics import Metrics
from chainsleuth.interfaces.api.models import (
    BatchRequest,
    GuardCheckRequest,
    TraceRequest,
    WatchItemsRequest,
    WatchlistRequest,
)
from chainsleuth.interfaces.api.security import REFRESH_SECONDS, ApiError, Guardian
from chainsleuth.interfaces.output import to_jsonable
from chainsleuth.services.screening import alerts as alerts_service
from chainsleuth.services.screening import watchlists as wl
from chainsleuth.services.screening.audit import AuditLog, encode_json
from chainsleuth.services.screening.engine import CHAINS, Screener
from chainsleuth.services.screening.keys import ApiKey
from chainsleuth.services.screening.policy import load_policy
from chainsleuth.store.db import connect

MAX_BODY = 8 * 1024 * 1024
AUDIT_SECONDS = 0.25
"""How often buffered audit rows are written: small batches, each a short pause of the
background thread (a killed process loses at most this much of its audit)."""
ADDRESS_ROUTE = "/v1/risk/{chain}/address/{address}"
_ADDRESS_PATH = re.compile(r"/v1/risk/([^/]+)/address/([^/]+)")
_STATUS: list[tuple[type[ChainsleuthError], int, str]] = [
    (NotFoundError, 404, "not_found"),
    (InputError, 400, "invalid_input"),
    (SourceError, 502, "source_failed"),
    (StoreError, 503, "store_unavailable"),
    (ChainsleuthError, 500, "error"),
]


def _scope(name: str) -> Callable[..., Awaitable[ApiKey]]:
    """A dependency admitting keys with scope `name`."""

    async def check(request: Request, x_api_key: Annotated[str | None, Header()] = None) -> ApiKey:
        # async: a cached key check is microseconds, not worth a thread-pool hand-off
        guardian: Guardian = request.app.state.guardian
        return guardian.authenticate(x_api_key, name)

    return check


Screen = Annotated[ApiKey, Depends(_scope("screen"))]
Admin = Annotated[ApiKey, Depends(_scope("admin"))]
Trace = Annotated[ApiKey, Depends(_scope("trace"))]
Guard = Annotated[ApiKey, Depends(_scope("guard"))]


Answer = tuple[int, bytes, list[tuple[bytes, bytes]]]  # status, JSON body, extra headers


class Front:
    """ASGI middleware: refuse bodies over MAX_BODY from their headers, count requests, and
    answer `GET` on the address route without a query string through `address` once
    `ready()` (until the screener's index is complete a screening may query the store,
    which must not happen on the event loop: the routed endpoint runs it in a thread).

    Plain ASGI rather than `@app.middleware("http")`, which wraps every request in an
    extra task and stream."""

    def __init__(
        self,
        app: ASGIApp,
        metrics: Metrics,
        address: Callable[[str, str, str | None], Answer],
        ready: Callable[[], bool],
    ) -> None:
        self.app, self.metrics, self.address, self.ready = app, metrics, address, ready

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = dict(scope["headers"])
        length = headers.get(b"content-length")
        hot = (
            None
            if scope["method"] != "GET" or scope["query_string"] or not self.ready()
            else _ADDRESS_PATH.fullmatch(scope["path"])
        )
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
            route, status = "unmatched", 413
            await _error(413, "too_large", f"request body over {MAX_BODY} bytes")(
                scope, receive, send
            )
        elif hot is not None:
            route = ADDRESS_ROUTE
            presented = headers.get(b"x-api-key")
            status, body, extra = self.address(
                hot[1], hot[2], None if presented is None else presented.decode("latin-1")
            )
            await send(
                {
                    "type": "http.response.start",
                    "status": status,
                    "headers": [
                        (b"content-length", str(len(body)).encode()),
                        (b"content-type", b"application/json"),
                        *extra,
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
        else:
            status = 500

            async def record(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                await send(message)

            await self.app(scope, receive, record)
            route = getattr(scope.get("route"), "path", "unmatched")
        self.metrics.observe(scope["method"], route, status, time.perf_counter() - started)


def _failure(exc: Exception) -> tuple[int, str, str, dict[str, str]]:
    """Status, error code, message and headers for an exception raised by a request."""
    if isinstance(exc, ApiError):
        return exc.status, exc.code, exc.message, exc.headers
    if isinstance(exc, ChainsleuthError):
        status, code = next((s, c) for cls, s, c in _STATUS if isinstance(exc, cls))
        return status, code, str(exc), {}
    return 500, "internal", "internal error", {}


def _json(body: bytes, status: int = 200) -> Response:
    return Response(body, status_code=status, media_type="application/json")


def _error(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message}}, status_code=status, headers=headers
    )


def create_app(
    db: str | Path, policy: str | Path | None = None, guard_policy: str | Path | None = None
) -> FastAPI:
    """The service over the store at `db` with the risk policy at `policy` and the guard
    policy at `guard_policy` (each the packaged default when None)."""
    from chainsleuth.services import guard

    con = connect(db)
    withdrawal_policy = guard.load_policy(Path(guard_policy) if guard_policy else None)
    lock = threading.Lock()
    screener = Screener(con, load_policy(policy))
    audit = AuditLog(con, lock)
    guardian = Guardian(con, lock)
    metrics = Metrics()
    jobs: dict[str, dict[str, Any]] = {}
    stop = threading.Event()

    def background() -> None:
        last_delivery, last_keys = 0.0, time.monotonic()
        while not stop.wait(AUDIT_SECONDS):
            audit.flush()
            if time.monotonic() - last_keys > REFRESH_SECONDS:
                last_keys = time.monotonic()
                guardian.refresh()
            if time.monotonic() - last_delivery > 30:
                last_delivery = time.monotonic()
                with lock:
                    alerts_service.deliver_pending(con)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        worker = threading.Thread(target=background, name="chainsleuth-bg", daemon=True)
        worker.start()
        # What is loaded by now lives as long as the service: out of the collector's sight,
        # a full collection walks only what requests made (~0.1 s pause otherwise).
        gc.freeze()
        yield
        stop.set()
        worker.join(timeout=5)
        audit.flush()
        con.close()

    app = FastAPI(
        title="chainsleuth",
        version="0.1.0",
        lifespan=lifespan,
        description="Screening, tracing and withdrawal checks for exchanges. "
        "Every endpoint but /healthz needs an API key in the X-API-Key header.",
    )

    @app.exception_handler(ApiError)
    @app.exception_handler(ChainsleuthError)
    async def known_error(_: Request, exc: Exception) -> JSONResponse:
        return _error(*_failure(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return _error(422, "invalid_request", f"{where}: {first.get('msg', 'invalid')}")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _error(exc.status_code, "http_error", str(exc.detail))

    @app.exception_handler(Exception)
    async def internal(_: Request, exc: Exception) -> JSONResponse:
        return _error(*_failure(exc))

    def check_chain(chain: str) -> None:
        if chain not in CHAINS:
            raise InputError(f"unknown chain {chain!r}; chains: {', '.join(CHAINS)}")

    def screened(key: ApiKey, endpoint: str, request: Any, result: dict[str, Any]) -> bytes:
        """The response body of a screening, audited (with that same body) and counted."""
        body = encode_json(result)
        metrics.level(result["level"])
        audit.record(
            key.key_id,
            endpoint,
            request,
            body,
            result["score"],
            result["level"],
            screener.policy.version,
        )
        return body

    def address_risk(key: ApiKey, chain: str, address: str, explain: bool) -> bytes:
        check_chain(chain)
        if explain:
            with lock:
                result = screener.screen_address(chain, address, explain=True)
        else:
            result = screener.screen_address(chain, address)
        return screened(key, "risk.address", {"chain": chain, "address": address}, result)

    def front_address(chain: str, address: str, presented: str | None) -> Answer:
        """`Front`'s answer on the address route: the routed endpoint's, status and body."""
        try:
            key = guardian.authenticate(presented, "screen")
            return 200, address_risk(key, chain, address, False), []
        except Exception as exc:
            status, code, message, headers = _failure(exc)
            return (
                status,
                encode_json({"error": {"code": code, "message": message}}),
                [(k.lower().encode(), v.encode()) for k, v in headers.items()],
            )

    app.add_middleware(
        Front, metrics=metrics, address=front_address, ready=lambda: screener.wait_known(0)
    )

    @app.get("/healthz", tags=["service"])
    async def healthz() -> dict[str, Any]:
        """Liveness: no key needed. `ready` is false while the screener still loads the
        stored addresses' fingerprints (answers are right meanwhile, but slower)."""
        return {
            "status": "ok",
            "ready": screener.wait_known(0),
            "policy_version": screener.policy.version,
        }

    @app.get("/metrics", tags=["service"], response_class=PlainTextResponse)
    async def metrics_text(_: Screen) -> str:
        """Prometheus metrics."""
        return metrics.render()

    @app.get(ADDRESS_ROUTE, tags=["screening"])
    def risk_address(chain: str, address: str, key: Screen, explain: bool = False) -> Any:
        """Risk of an address: score 0–100, level, direct tags and indirect exposure; with
        `explain`, the exposure paths (a backward trace: slower)."""
        return _json(address_risk(key, chain, address, explain))

    @app.get("/v1/risk/{chain}/tx/{txid}", tags=["screening"])
    def risk_tx(
        chain: str, txid: str, key: Screen, role: Literal["deposit", "withdrawal"] = "deposit"
    ) -> Any:
        """Deposit: exposure of the funds' sources; withdrawal: of the destinations."""
        check_chain(chain)
        with lock:
            result = screener.screen_tx(chain, txid, role)
        return _json(screened(key, "risk.tx", {"chain": chain, "tx": txid, "role": role}, result))

    @app.post("/v1/risk/batch", tags=["screening"])
    def risk_batch(body: BatchRequest, key: Screen) -> Any:
        """Screen up to 10,000 items; an invalid item gets its own error, not a failed batch."""
        results: list[dict[str, Any]] = []
        for item in body.items:
            try:
                check_chain(item.chain)
                if item.address is not None:
                    results.append(screener.screen_address(item.chain, item.address))
                elif item.tx is not None:
                    with lock:
                        results.append(screener.screen_tx(item.chain, item.tx, item.role))
                else:
                    raise InputError("each item needs 'address' or 'tx'")
            except ChainsleuthError as exc:
                _, code, message, _ = _failure(exc)
                results.append({"error": {"code": code, "message": message}})
        scores = [r["score"] for r in results if "score" in r]
        answer = encode_json({"results": results, "policy_version": screener.policy.version})
        audit.record(
            key.key_id,
            "risk.batch",
            body.model_dump(),
            answer,
            max(scores, default=None),
            None,
            screener.policy.version,
        )
        return _json(answer)

    @app.get("/v1/entities/{chain}/{address}", tags=["entities"])
    def entity(chain: str, address: str, _: Screen) -> Any:
        """The entity (cluster) holding an address, with its tags."""
        check_chain(chain)
        from chainsleuth.analytics.clustering.explain import entity_view
        from chainsleuth.services.screening.engine import normalize_address

        with lock:
            return to_jsonable(entity_view(con, chain, normalize_address(chain, address)))

    @app.post("/v1/traces", tags=["tracing"], status_code=202)
    def start_trace(body: TraceRequest, key: Trace) -> dict[str, Any]:
        """Start a trace job; poll GET /v1/traces/{id}."""
        check_chain(body.chain)
        job_id = uuid.uuid4().hex
        jobs[job_id] = {"id": job_id, "status": "queued", "request": body.model_dump()}

        def work() -> None:
            from chainsleuth.analytics.tracing.run import trace

            jobs[job_id]["status"] = "running"
            try:
                params = TraceParams(
                    model=body.model,
                    direction=body.direction,
                    max_hops=body.max_hops,
                    min_amount=body.min_amount,
                )
                with lock:
                    result = trace(con, body.chain, body.seeds, params)
                jobs[job_id].update(status="done", result=to_jsonable(result.to_dict()))
            except ChainsleuthError as exc:
                jobs[job_id].update(status="failed", error=str(exc))
            except Exception:
                jobs[job_id].update(status="failed", error="internal error")

        threading.Thread(target=work, daemon=True).start()
        return {"id": job_id, "status": "queued"}

    @app.get("/v1/traces/{job_id}", tags=["tracing"])
    async def get_trace(job_id: str, _: Trace) -> dict[str, Any]:
        """A trace job's status, and its result once done."""
        if job_id not in jobs:
            raise NotFoundError(f"no trace job {job_id}")
        return jobs[job_id]

    @app.post("/v1/guard/check", tags=["guard"])
    def guard_check(body: GuardCheckRequest, key: Guard) -> Any:
        """Check a withdrawal before signing: `decision` allow/deny with every reason."""
        request = guard.parse_request(body.request, where="request")
        decision = guard.check(
            request,
            body.tx.encode("utf-8"),
            withdrawal_policy,
            wallet=body.wallet,
            screener=screener.guard_screen,
        )
        result = decision.to_dict()
        audit.record(
            key.key_id,
            "guard.check",
            body.model_dump(),
            result,
            None,
            decision.decision,
            screener.policy.version,
        )
        return to_jsonable(result)

    @app.get("/v1/watchlists", tags=["watchlists"])
    def watchlists(_: Admin) -> Any:
        """Every watchlist."""
        with lock:
            return to_jsonable(wl.list_watchlists(con))

    @app.post("/v1/watchlists", tags=["watchlists"], status_code=201)
    def create_watchlist(body: WatchlistRequest, _: Admin) -> Any:
        """Create a watchlist; the response holds its webhook signing secret, once."""
        with lock:
            return to_jsonable(
                wl.create_watchlist(
                    con, body.name, [i.model_dump() for i in body.items], body.webhooks
                )
            )

    @app.get("/v1/watchlists/{wid}", tags=["watchlists"])
    def get_watchlist(wid: int, _: Admin) -> Any:
        """One watchlist."""
        with lock:
            return to_jsonable(wl.get_watchlist(con, wid))

    @app.put("/v1/watchlists/{wid}/items", tags=["watchlists"])
    def put_items(wid: int, body: WatchItemsRequest, _: Admin) -> Any:
        """Replace a watchlist's items."""
        with lock:
            return to_jsonable(wl.replace_items(con, wid, [i.model_dump() for i in body.items]))

    @app.delete("/v1/watchlists/{wid}", tags=["watchlists"], status_code=204)
    def delete_watchlist(wid: int, _: Admin) -> None:
        """Delete a watchlist."""
        with lock:
            wl.delete_watchlist(con, wid)

    @app.get("/v1/alerts", tags=["watchlists"])
    def list_alerts(_: Admin, limit: Annotated[int, Query(ge=1, le=10_000)] = 100) -> Any:
        """Newest alerts with delivery state."""
        with lock:
            return to_jsonable(alerts_service.list_alerts(con, limit))

    app.state.screener = screener
    app.state.audit = audit
    app.state.guardian = guardian
    app.state.lock = lock
    app.state.con = con
    return app
