"""A real JSON-RPC server on 127.0.0.1 for tests: replays recorded answers over HTTP.

It is chain-neutral (Bitcoin Core `getblock`, Ethereum `eth_*` alike): a threaded
`http.server` on an ephemeral loopback port that accepts JSON-RPC 1.0/2.0 POSTs, single
or batch, and answers each call from a table keyed by (method, params) or from a callable.

API
    server = RpcServer(responses=None, handler=None, auth=None, error_status=200)
    with server:                       # starts on 127.0.0.1:<ephemeral>, stops on exit
        server.url                     # "http://127.0.0.1:PORT/"
        server.add(method, params, result)   # record one answer (result may be RpcFault)
        server.responses = {...}       # swap the whole table at once (e.g. a reorg)
        server.handler = fn            # or answer with fn(method, params) -> result
        server.delay_next(seconds, count=1)  # sleep before answering the next POSTs
        server.fail_next(status=503, count=1, body=b"overloaded")  # next POSTs: raw answer
        server.reverse_batches = True  # answer batches in reverse order (ids still match)
        server.posts                   # every decoded POST body, in order
        server.calls                   # every (method, params) answered, in order
        server.peers                   # the client (host, port) of every POST: keep-alive

- `responses`: dict from `key(method, params)` to the result; a value that is an
  `RpcFault(code, message)` is answered as a JSON-RPC error object. Params are compared
  canonically (JSON with sorted keys), so `[h, 2]` matches `[h, 2]` whatever the spacing.
- `handler(method, params)`: consulted first when set; return a result, raise `RpcFault`
  for an error object, or return `NO_ANSWER` to fall back to the `responses` table.
- Unknown calls get error -32601 ("no recording for METHOD PARAMS"); a handler that
  raises anything but `RpcFault` gives error -32603 naming the exception.
- `auth=(user, password)`: requests without those basic-auth credentials get HTTP 401
  with an empty body, as Bitcoin Core does.
- `error_status`: HTTP status of a single (non-batch) answer carrying an error object;
  Bitcoin Core before v28 uses 500 (404 for an unknown method), JSON-RPC 2.0 servers 200.
- Decimals in results (load recordings with `parse_float=decimal.Decimal`) are written
  back with their exact digits, as the node printed them.

Fixtures: `rpc_server` yields a started server with an empty table; `rpc_servers` is a
factory (`rpc_servers(handler=..., auth=...)`) for tests that need several or configured
servers. Bind them in a test module with `rpc_server = rpcserver.rpc_server` (after
`from tests import rpcserver`).
"""

from __future__ import annotations

import base64
import decimal
import json
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

import pytest

NO_ANSWER = object()


class RpcFault(Exception):
    """An answer that is a JSON-RPC error object."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def key(method: str, params: Any) -> tuple[str, str]:
    """The lookup key of a call: its method and canonical JSON params."""
    return method, json.dumps(params, sort_keys=True, separators=(",", ":"), default=str)


def dumps(value: Any) -> str:
    """JSON text where `Decimal` values keep their exact digits (json.dumps would refuse)."""
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{json.dumps(str(k))}:{dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(dumps(v) for v in value) + "]"
    return json.dumps(value)


class RpcServer:
    """A threaded JSON-RPC server on loopback; see the module docstring for its API."""

    def __init__(
        self,
        responses: dict[tuple[str, str], Any] | None = None,
        handler: Callable[[str, Any], Any] | None = None,
        auth: tuple[str, str] | None = None,
        error_status: int = 200,
    ) -> None:
        self.responses: dict[tuple[str, str], Any] = dict(responses or {})
        self.handler = handler
        self.auth = auth
        self.error_status = error_status
        self.posts: list[Any] = []
        self.calls: list[tuple[str, Any]] = []
        self.peers: list[tuple[str, int]] = []
        self._lock = threading.Lock()
        self._delays: list[float] = []
        self._failures: list[tuple[int, bytes]] = []
        self.reverse_batches = False
        self._httpd = _QuietServer(("127.0.0.1", 0), _make_handler(self))
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        """Base URL of the running server."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}/"

    def add(self, method: str, params: Any, result: Any) -> None:
        """Record the answer to one call."""
        self.responses[key(method, params)] = result

    def delay_next(self, seconds: float, count: int = 1) -> None:
        """Sleep `seconds` before answering each of the next `count` POSTs."""
        with self._lock:
            self._delays.extend([seconds] * count)

    def fail_next(self, status: int = 503, count: int = 1, body: bytes = b"overloaded") -> None:
        """Answer the next `count` POSTs with HTTP `status` and a raw (non JSON-RPC) body."""
        with self._lock:
            self._failures.extend([(status, body)] * count)

    def __enter__(self) -> RpcServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()

    # -- used by the request handler ------------------------------------------------

    def _take(self, queue: list[Any]) -> Any:
        with self._lock:
            return queue.pop(0) if queue else None

    def _answer(self, request: Any) -> dict[str, Any]:
        """The answer object for one request object."""
        rid = request.get("id") if isinstance(request, dict) else None
        version = request.get("jsonrpc") if isinstance(request, dict) else None
        head: dict[str, Any] = {"jsonrpc": "2.0"} if version == "2.0" else {}
        if not isinstance(request, dict) or not isinstance(request.get("method"), str):
            return {**head, "id": rid, "error": {"code": -32600, "message": "Invalid Request"}}
        method, params = request["method"], request.get("params", [])
        with self._lock:
            self.calls.append((method, params))
        try:
            result = self._lookup(method, params)
        except RpcFault as fault:
            error = {"code": fault.code, "message": fault.message}
            return {**head, "id": rid, "error": error, **({} if head else {"result": None})}
        except Exception as exc:  # a bug in a test's handler: show it to the client
            error = {"code": -32603, "message": f"handler raised {exc!r}"}
            return {**head, "id": rid, "error": error, **({} if head else {"result": None})}
        return {**head, "id": rid, "result": result, **({} if head else {"error": None})}

    def _lookup(self, method: str, params: Any) -> Any:
        if self.handler is not None:
            result = self.handler(method, params)
            if result is not NO_ANSWER:
                return result
        found = self.responses.get(key(method, params), NO_ANSWER)
        if found is NO_ANSWER:
            raise RpcFault(-32601, f"no recording for {method} {key(method, params)[1]}")
        if isinstance(found, RpcFault):
            raise found
        return found

    def _authorized(self, header: str | None) -> bool:
        if self.auth is None:
            return True
        expected = base64.b64encode(":".join(self.auth).encode()).decode()
        return header == f"Basic {expected}"


class _QuietServer(ThreadingHTTPServer):
    """Daemon request threads; a client hanging up mid-request (a timeout test) is normal."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Ignore connections the client closed; report anything else as usual."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def _make_handler(server: RpcServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as Bitcoin Core and geth do

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(length)
            delay = server._take(server._delays)
            if delay:
                time.sleep(delay)
            if not server._authorized(self.headers.get("Authorization")):
                self._send(401, b"", extra={"WWW-Authenticate": 'Basic realm="jsonrpc"'})
                return
            failure = server._take(server._failures)
            if failure:
                self._send(failure[0], failure[1], content_type="text/plain")
                return
            try:
                body = json.loads(raw, parse_float=decimal.Decimal)
            except json.JSONDecodeError:
                error = {"code": -32700, "message": "Parse error"}
                self._send(500, dumps({"id": None, "result": None, "error": error}).encode())
                return
            with server._lock:
                server.posts.append(body)
                server.peers.append(self.client_address[:2])
            if isinstance(body, list):
                answers = [server._answer(r) for r in body]
                if server.reverse_batches:
                    answers.reverse()
                self._send(200, dumps(answers).encode())
                return
            answer = server._answer(body)
            status = server.error_status if answer.get("error") is not None else 200
            self._send(status, dumps(answer).encode())

        def _send(
            self,
            status: int,
            payload: bytes,
            content_type: str = "application/json",
            extra: Mapping[str, str] | None = None,
        ) -> None:
            try:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                for name, value in (extra or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                # The client gave up (a timeout test); nothing to answer any more.
                self.close_connection = True

        def log_message(self, format: str, *args: Any) -> None:
            """Stay quiet: tests read `server.posts` instead of an access log."""

    return Handler


@pytest.fixture
def rpc_server() -> Iterator[RpcServer]:
    """A started RpcServer with an empty table, stopped after the test."""
    with RpcServer() as server:
        yield server


@pytest.fixture
def rpc_servers() -> Iterator[Callable[..., RpcServer]]:
    """A factory: `rpc_servers(**RpcServer arguments)` starts a server; all stop after the test."""
    servers: list[RpcServer] = []

    def start(**kwargs: Any) -> RpcServer:
        server = RpcServer(**kwargs).__enter__()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.__exit__(None, None, None)
