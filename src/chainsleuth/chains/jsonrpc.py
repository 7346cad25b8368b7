"""A chain-neutral JSON-RPC client over HTTP: keep-alive, batching, retries, auth.

Bitcoin Core and Ethereum nodes both speak JSON-RPC over HTTP POST. This client keeps one
`httpx.Client` (one pooled keep-alive connection) for its lifetime, sends a list of calls
as one batch request and matches the answers back by id, and retries transport failures
(timeouts, refused or reset connections, HTTP 5xx without a JSON-RPC answer) with bounded
exponential backoff. A JSON-RPC error object is never retried: it is the node's answer.

Authentication: HTTP basic auth from explicit user/password or from the URL's userinfo
(`http://user:pass@host:8332/`), or Bitcoin Core's cookie file (`__cookie__:<password>`,
re-read once when the node refuses it, since Core writes a new cookie on every start).

JSON numbers with a fraction are parsed as `decimal.Decimal`, never `float`, so amounts
such as Bitcoin Core's BTC values convert to base units exactly.

Errors (from `chainsleuth.errors`) name the method and the URL without its credentials:
`AuthError` on HTTP 401/403, `RpcCallError` (a `SourceError`) for a JSON-RPC error object
with its code and message, `SourceError` for malformed answers or exhausted retries.
"""

from __future__ import annotations

import decimal
import itertools
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx

from chainsleuth.errors import AuthError, InputError, SourceError

Params = Sequence[Any] | Mapping[str, Any]
_RETRY = object()  # what `_decode` returns for a server failure worth another attempt


@dataclass(frozen=True)
class RetryPolicy:
    """How long to wait for an answer and how often to try again after a transport failure.

    Attempt k (from 0) that fails waits `min(backoff * 2**k, max_backoff)` seconds before
    the next one; after `attempts` failures the last failure is raised as a SourceError.
    """

    timeout: float = 60.0
    attempts: int = 5
    backoff: float = 0.5
    max_backoff: float = 8.0

    def delay(self, attempt: int) -> float:
        """Seconds to sleep after failed attempt number `attempt` (0-based)."""
        return float(min(self.backoff * 2**attempt, self.max_backoff))


class RpcCallError(SourceError):
    """The node answered a call with a JSON-RPC error object."""

    def __init__(self, method: str, code: int | None, message: str, where: str) -> None:
        self.method = method
        self.code = code
        self.rpc_message = message
        super().__init__(f"{method} failed at {where}: JSON-RPC error {code}: {message}")


@dataclass(frozen=True)
class Outcome:
    """One call's answer in a batch: its result, or the error object the node returned."""

    result: Any = None
    error: RpcCallError | None = None

    def value(self) -> Any:
        """The result, or raise the call's error."""
        if self.error is not None:
            raise self.error
        return self.result


def read_cookie(path: str | Path) -> tuple[str, str]:
    """(user, password) from a Bitcoin Core `.cookie` file (`__cookie__:<password>`)."""
    try:
        text = Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise InputError(f"cannot read RPC cookie file {path}: {exc.strerror}") from exc
    user, sep, password = text.partition(":")
    if not sep or not user:
        raise InputError(f"RPC cookie file {path} is not 'user:password'")
    return user, password


def redact(url: httpx.URL) -> str:
    """The URL as shown in messages: scheme, host, port and path, never credentials."""
    return str(url.copy_with(username=None, password=None, query=None, fragment=None))


class JsonRpcClient:
    """A JSON-RPC 2.0 (or 1.0) client bound to one endpoint; use as a context manager.

    `call(method, params)` returns one result; `batch(calls)` sends many calls in one POST
    and returns their results in order; `batch_outcomes(calls)` returns per-call outcomes
    so a caller can handle one failing call without losing the others. `requests_sent`
    counts HTTP POSTs, retries included.
    """

    def __init__(
        self,
        url: str,
        *,
        user: str | None = None,
        password: str | None = None,
        cookie_file: str | Path | None = None,
        policy: RetryPolicy | None = None,
        version: str = "2.0",
    ) -> None:
        try:
            parsed = httpx.URL(url)
        except httpx.InvalidURL as exc:
            raise InputError(f"invalid RPC URL: {exc}") from exc
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise InputError(f"RPC URL must be http(s)://host[:port][/path], got {redact(parsed)}")
        if user is None and parsed.username:
            user, password = parsed.username, parsed.password
        self.url = parsed.copy_with(username=None, password=None)
        self.where = redact(parsed)
        self.policy = policy or RetryPolicy()
        self.version = version
        self._cookie_file = cookie_file
        if cookie_file is not None:
            user, password = read_cookie(cookie_file)
        self._ids = itertools.count(1)
        self._http = httpx.Client(timeout=self.policy.timeout, follow_redirects=False)
        self._set_credentials(user, password)
        self.requests_sent = 0

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the pooled connection."""
        self._http.close()

    def call(self, method: str, params: Params = ()) -> Any:
        """Send one call and return its result (raises RpcCallError on an error object)."""
        return self.batch_outcomes([(method, params)], single=True)[0].value()

    def batch(self, calls: Sequence[tuple[str, Params]]) -> list[Any]:
        """Send `calls` as one batch; results in the same order (first error is raised)."""
        return [outcome.value() for outcome in self.batch_outcomes(calls)]

    def batch_outcomes(
        self, calls: Sequence[tuple[str, Params]], *, single: bool = False
    ) -> list[Outcome]:
        """Send `calls` in one POST (a batch, or a plain request when `single`).

        Answers are matched to calls by id, whatever order the node returns them in.
        """
        if not calls:
            return []
        if single and len(calls) != 1:
            raise ValueError("single=True takes exactly one call")
        requests = [self._request(method, params) for method, params in calls]
        label = calls[0][0] if len({m for m, _ in calls}) == 1 else "batch"
        body = self._post(requests[0] if single else requests, label)
        if single and isinstance(body, dict):
            return [self._outcome(calls[0][0], body)]
        answers = body
        if not isinstance(answers, list):
            message = body.get("error") if isinstance(body, dict) else None
            raise SourceError(
                f"{label} to {self.where}: expected a list of answers to a batch, got "
                f"{_short(message if message is not None else body)}"
            )
        by_id: dict[Any, Mapping[str, Any]] = {}
        for answer in answers:
            if isinstance(answer, dict) and "id" in answer:
                by_id[answer["id"]] = answer
        outcomes = []
        for (method, _), request in zip(calls, requests, strict=True):
            answer = by_id.get(request["id"])
            if answer is None:
                raise SourceError(f"{method} to {self.where}: no answer with id {request['id']}")
            outcomes.append(self._outcome(method, answer))
        return outcomes

    def _request(self, method: str, params: Params) -> dict[str, Any]:
        params = dict(params) if isinstance(params, Mapping) else list(params)
        return {"jsonrpc": self.version, "id": next(self._ids), "method": method, "params": params}

    def _outcome(self, method: str, answer: Mapping[str, Any]) -> Outcome:
        error = answer.get("error")
        if error is None:
            if "result" not in answer:
                raise SourceError(f"{method} to {self.where}: answer has neither result nor error")
            return Outcome(result=answer["result"])
        if isinstance(error, Mapping):
            code = error.get("code")
            return Outcome(
                error=RpcCallError(
                    method,
                    code if isinstance(code, int) else None,
                    str(error.get("message", "")),
                    self.where,
                )
            )
        return Outcome(error=RpcCallError(method, None, str(error), self.where))

    def _set_credentials(self, user: str | None, password: str | None) -> None:
        """Basic auth for every following request (none without a user)."""
        if user is not None:
            self._http.auth = httpx.BasicAuth(user, password or "")

    def _post(self, payload: Any, label: str) -> Any:
        """POST `payload` with retries; return the decoded JSON body."""
        content = json.dumps(payload, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json"}
        cookie_reloaded = False
        attempt = 0
        while True:
            failure: str
            try:
                self.requests_sent += 1
                response = self._http.post(self.url, content=content, headers=headers)
            except httpx.TimeoutException:
                failure = f"no answer within {self.policy.timeout:g} s"
            except httpx.TransportError as exc:
                failure = f"{type(exc).__name__}: {exc}"
            else:
                status = response.status_code
                if status in (401, 403):
                    if self._cookie_file is not None and not cookie_reloaded:
                        # Bitcoin Core writes a new cookie each start: read it once more.
                        self._set_credentials(*read_cookie(self._cookie_file))
                        cookie_reloaded = True
                        continue
                    raise AuthError(
                        f"credentials refused by {self.where} (HTTP {status}) for {label}; "
                        "check the RPC user/password or the cookie file"
                    )
                body = self._decode(response, label)
                if body is not _RETRY:
                    return body
                failure = f"HTTP {status}"
            if attempt + 1 >= self.policy.attempts:
                raise SourceError(
                    f"{label} to {self.where} failed after {attempt + 1} attempts: {failure}"
                )
            time.sleep(self.policy.delay(attempt))
            attempt += 1

    def _decode(self, response: httpx.Response, label: str) -> Any:
        """The JSON body, or `_RETRY` when the answer is a retryable server failure.

        Bitcoin Core answers JSON-RPC errors with HTTP 404/500 and a JSON body; those are
        answers, not failures. A 5xx without a JSON-RPC body (overload, proxy) is retried.
        """
        status = response.status_code
        try:
            body = json.loads(response.content, parse_float=decimal.Decimal)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            if status >= 500:
                return _RETRY
            raise SourceError(
                f"{label} to {self.where}: malformed JSON in the answer (HTTP {status}): {exc}"
            ) from exc
        if status >= 500 and not _is_jsonrpc(body):
            return _RETRY
        if status >= 400 and not _is_jsonrpc(body):
            raise SourceError(f"{label} to {self.where}: HTTP {status}: {_short(body)}")
        return body


def _is_jsonrpc(body: Any) -> bool:
    """Whether `body` looks like a JSON-RPC answer (or a batch of them)."""
    items = body if isinstance(body, list) else [body]
    return bool(items) and all(
        isinstance(i, dict) and ("result" in i or "error" in i) for i in items
    )


def _short(value: Any, limit: int = 200) -> str:
    """A one-line excerpt of an unexpected answer for an error message."""
    text = json.dumps(value, default=str) if not isinstance(value, str) else value
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
