"""The JSON-RPC client against a real HTTP server on loopback (tests/rpcserver.py).

Checks what a node operator relies on: one keep-alive connection, batches in one POST with
answers matched by id, exact decimals, retries that stop, and errors that name the method
and the URL but never the credentials.
"""

from __future__ import annotations

import decimal
from pathlib import Path

import pytest

from chainsleuth.chains.jsonrpc import JsonRpcClient, RetryPolicy, RpcCallError, read_cookie
from chainsleuth.errors import AuthError, InputError, SourceError
from tests import rpcserver
from tests.rpcserver import RpcFault, RpcServer

rpc_server = rpcserver.rpc_server  # fixture

FAST = RetryPolicy(timeout=0.3, attempts=3, backoff=0.01, max_backoff=0.02)


def test_single_call_keeps_exact_decimals(rpc_server: RpcServer) -> None:
    rpc_server.add("getbalance", [], decimal.Decimal("20999999.99999999"))
    with JsonRpcClient(rpc_server.url, policy=FAST) as client:
        value = client.call("getbalance")
    assert value == decimal.Decimal("20999999.99999999")
    assert rpc_server.posts[0]["jsonrpc"] == "2.0" and rpc_server.posts[0]["method"] == "getbalance"


def test_batch_is_one_post_matched_by_id(rpc_server: RpcServer) -> None:
    for h in range(5):
        rpc_server.add("getblockhash", [h], f"hash{h}")
    rpc_server.reverse_batches = True
    with JsonRpcClient(rpc_server.url, policy=FAST) as client:
        results = client.batch([("getblockhash", [h]) for h in range(5)])
        again = client.batch([("getblockhash", [h]) for h in range(5)])
    assert results == again == [f"hash{h}" for h in range(5)]
    assert len(rpc_server.posts) == 2 and all(len(p) == 5 for p in rpc_server.posts)
    assert len(set(rpc_server.peers)) == 1  # both POSTs over one kept-alive connection


def test_jsonrpc_1_0(rpc_server: RpcServer) -> None:
    rpc_server.add("getblockcount", [], 9)
    rpc_server.add("getblockhash", [99], RpcFault(-8, "Block height out of range"))
    with JsonRpcClient(rpc_server.url, policy=FAST, version="1.0") as client:
        assert client.call("getblockcount") == 9
        with pytest.raises(RpcCallError, match="-8: Block height out of range"):
            client.call("getblockhash", [99])
    assert rpc_server.posts[0]["jsonrpc"] == "1.0"


def test_per_call_error_objects_surface(rpc_server: RpcServer) -> None:
    rpc_server.add("getblockhash", [0], "hash0")
    rpc_server.add("getblockhash", [9], RpcFault(-8, "Block height out of range"))
    calls = [("getblockhash", [0]), ("getblockhash", [9])]
    with JsonRpcClient(rpc_server.url, policy=FAST) as client:
        ok, bad = client.batch_outcomes(calls)
        assert ok.value() == "hash0"
        assert bad.error is not None and bad.error.code == -8
        with pytest.raises(RpcCallError) as caught:
            client.batch(calls)
    assert str(caught.value) == (
        f"getblockhash failed at {rpc_server.url}: JSON-RPC error -8: Block height out of range"
    )


def test_core_legacy_http_500_error_is_an_answer_not_retried() -> None:
    with RpcServer(error_status=500) as server:
        server.add("getblock", ["00"], RpcFault(-5, "Block not found"))
        with JsonRpcClient(server.url, policy=FAST) as client:
            with pytest.raises(RpcCallError, match=r"getblock .* -5: Block not found"):
                client.call("getblock", ["00"])
            assert client.requests_sent == 1


def test_wrong_credentials_give_auth_error_without_secrets() -> None:
    with RpcServer(auth=("alice", "s3cret")) as server:
        server.add("getblockcount", [], 7)
        url_with_creds = server.url.replace("http://", "http://alice:s3cret@")
        with JsonRpcClient(url_with_creds, policy=FAST) as client:
            assert client.call("getblockcount") == 7
        with JsonRpcClient(server.url, user="alice", password="wrong", policy=FAST) as client:
            with pytest.raises(AuthError) as caught:
                client.call("getblockcount")
            assert client.requests_sent == 1  # no retries on refused credentials
    message = str(caught.value)
    assert f"credentials refused by {server.url} (HTTP 401)" in message
    assert "wrong" not in message and "alice" not in message


def test_cookie_file_auth_rereads_a_new_cookie(tmp_path: Path) -> None:
    cookie = tmp_path / ".cookie"
    cookie.write_text("__cookie__:first\n")
    assert read_cookie(cookie) == ("__cookie__", "first")
    with RpcServer(auth=("__cookie__", "first")) as server:
        server.add("getblockcount", [], 1)
        with JsonRpcClient(server.url, cookie_file=cookie, policy=FAST) as client:
            assert client.call("getblockcount") == 1
            # The node restarts and writes a new cookie: the client reads it once more.
            server.auth = ("__cookie__", "second")
            cookie.write_text("__cookie__:second\n")
            assert client.call("getblockcount") == 1
    with pytest.raises(InputError, match="cannot read RPC cookie file"):
        JsonRpcClient("http://127.0.0.1:1/", cookie_file=tmp_path / "missing")


def test_timeout_then_success_is_retried(rpc_server: RpcServer) -> None:
    rpc_server.add("getblockcount", [], 3)
    rpc_server.delay_next(0.8)
    with JsonRpcClient(rpc_server.url, policy=FAST) as client:
        assert client.call("getblockcount") == 3
        assert client.requests_sent == 2


def test_retries_are_bounded(rpc_server: RpcServer) -> None:
    rpc_server.fail_next(503, count=3)
    with (
        JsonRpcClient(rpc_server.url, policy=FAST) as client,
        pytest.raises(SourceError, match=r"getblockcount to .* after 3 attempts: HTTP 503"),
    ):
        client.call("getblockcount")
    rpc_server.fail_next(503, count=1)
    rpc_server.add("getblockcount", [], 5)
    with JsonRpcClient(rpc_server.url, policy=FAST) as client:
        assert client.call("getblockcount") == 5


def test_connection_refused_is_a_source_error() -> None:
    with RpcServer() as server:
        url = server.url  # the port is free again once the server stops
    with (
        JsonRpcClient(url, policy=FAST) as client,
        pytest.raises(SourceError, match=r"getblockcount to .* failed after 3 attempts"),
    ):
        client.call("getblockcount")


def test_malformed_json_names_the_method(rpc_server: RpcServer) -> None:
    rpc_server.fail_next(200, body=b'{"result": 1,')
    with (
        JsonRpcClient(rpc_server.url, policy=FAST) as client,
        pytest.raises(SourceError, match=r"getblockcount to .*: malformed JSON"),
    ):
        client.call("getblockcount")


def test_bad_url_is_an_input_error() -> None:
    with pytest.raises(InputError, match="RPC URL must be"):
        JsonRpcClient("ftp://example/")
