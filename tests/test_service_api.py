"""The screening service over real HTTP on loopback: auth, scopes, limits, errors, audit."""

from __future__ import annotations

import csv
import datetime as dt
import http.client
import io
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from chainsleuth.analytics.clustering.engine import run as cluster
from chainsleuth.analytics.clustering.heuristics import defaults
from chainsleuth.interfaces.api.security import ApiError, Guardian
from chainsleuth.interfaces.cli.main import app
from chainsleuth.services.screening.audit import export_audit
from chainsleuth.services.screening.keys import create_key, revoke_key
from chainsleuth.store.db import connect
from tests.chainbuilder import addr
from tests.service_fixture import A, Service, build_store, run_service


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    db = tmp_path_factory.mktemp("svc") / "store.duckdb"
    yield from run_service(db, build_store(db))


def get(service: Service, path: str, key: str | None = "screen", **kw: object) -> tuple[int, dict]:
    headers = {"X-API-Key": service.keys[key]} if key else {}
    with service.client() as c:
        r = c.get(path, headers=headers, **kw)  # type: ignore[arg-type]
    return r.status_code, r.json() if r.headers.get("content-type", "").startswith(
        "application/json"
    ) else {"text": r.text}


def test_health_needs_no_key_and_openapi_is_published(service: Service) -> None:
    assert get(service, "/healthz", key=None)[0] == 200
    for _ in range(100):  # the small store's fingerprints load at once
        if get(service, "/healthz", key=None)[1]["ready"]:
            break
        time.sleep(0.1)
    else:
        raise AssertionError("the service never became ready")
    status, spec = get(service, "/openapi.json", key=None)
    assert status == 200 and "/v1/risk/{chain}/address/{address}" in spec["paths"]


@pytest.mark.parametrize(
    ("key", "status", "code"),
    [(None, 401, "missing_key"), ("revoked", 401, "invalid_key"), ("admin", 200, None)],
)
def test_keys(service: Service, key: str | None, status: int, code: str | None) -> None:
    got, body = get(service, f"/v1/risk/bitcoin/address/{A['mule']}", key=key)
    assert got == status
    if code:
        assert body["error"]["code"] == code


def test_wrong_scope_is_403(service: Service) -> None:
    status, body = get(service, "/v1/watchlists", key="screen")
    assert status == 403 and "admin" in body["error"]["message"]


@pytest.mark.parametrize(
    ("path", "key"),
    [
        (f"/v1/risk/bitcoin/address/{A['sanctioned']}", "screen"),
        (f"/v1/risk/bitcoin/address/{A['mule']}", "screen"),
        (f"/v1/risk/bitcoin/address/{A['clean']}", "screen"),
        (f"/v1/risk/bitcoin/address/{addr('stranger')}", "screen"),
        ("/v1/risk/bitcoin/address/bc1qnotvalid", "screen"),
        ("/v1/risk/dogecoin/address/abc", "screen"),
        (f"/v1/risk/bitcoin/address/{A['mule']}", None),
        (f"/v1/risk/bitcoin/address/{A['mule']}", "revoked"),
        (f"/v1/risk/bitcoin/address/{A['mule']}", "guard"),
    ],
)
def test_address_route_answers_alike_with_and_without_query(
    service: Service, path: str, key: str | None
) -> None:
    # Without a query string the service's front answers; with one, the routed endpoint.
    assert get(service, path, key=key) == get(service, path, key=key, params={"explain": "false"})


def test_wrong_scope_on_the_address_route_is_403(service: Service) -> None:
    status, body = get(service, f"/v1/risk/bitcoin/address/{A['mule']}", key="guard")
    assert status == 403 and body["error"]["code"] == "forbidden"


def test_key_checks_need_no_store_and_see_revocations_on_refresh(tmp_path: Path) -> None:
    con = connect(tmp_path / "keys.duckdb")
    first, second = (create_key(con, n, ["screen"]) for n in ("first", "second"))
    guardian = Guardian(con, threading.Lock())
    assert guardian.authenticate(first["key"], "screen").key_id == first["key_id"]
    revoke_key(con, first["key_id"])
    guardian.refresh()
    with pytest.raises(ApiError) as refused:
        guardian.authenticate(first["key"], "screen")
    assert (refused.value.status, refused.value.code) == (401, "invalid_key")
    wrong_secret = second["key"][:-4] + "AAAA"
    with pytest.raises(ApiError):
        guardian.authenticate(wrong_secret, "screen")
    con.close()  # the checks use the copy in memory: the store is not asked
    assert guardian.authenticate(second["key"], "screen").name == "second"


def test_address_risk(service: Service) -> None:
    status, body = get(service, f"/v1/risk/bitcoin/address/{A['sanctioned']}")
    assert (
        status == 200 and body["level"] == "severe" and body["direct"][0]["label"] == "SDN entity"
    )
    status, body = get(service, f"/v1/risk/bitcoin/address/{A['mule']}", params={"explain": "true"})
    assert body["score"] == 100 and body["indirect"][0]["hop"] == 1
    assert body["paths"][0]["label"] == "SDN entity"
    status, body = get(service, f"/v1/risk/bitcoin/address/{A['clean']}")
    assert status == 200, body
    assert (body["score"], body["known"]) == (0, True)


def test_tx_risk_and_batch(service: Service) -> None:
    status, body = get(service, f"/v1/risk/bitcoin/tx/{'d' * 64}", params={"role": "deposit"})
    assert status == 200 and body["score"] == 100
    with service.client() as c:
        r = c.post(
            "/v1/risk/batch",
            headers={"X-API-Key": service.keys["screen"]},
            json={
                "items": [
                    {"chain": "bitcoin", "address": A["clean"]},
                    {"chain": "bitcoin", "address": "not-an-address"},
                    {"chain": "bitcoin", "address": A["sanctioned"]},
                ]
            },
        )
    results = r.json()["results"]
    assert [x.get("level") for x in results] == ["low", None, "severe"]
    assert results[1]["error"]["code"] == "invalid_input"


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/v1/risk/bitcoin/address/bc1qnotvalid", 400),
        ("/v1/risk/dogecoin/address/abc", 400),
        (f"/v1/risk/bitcoin/tx/{'e' * 64}", 404),
    ],
)
def test_bad_requests_are_clear_json(service: Service, path: str, status: int) -> None:
    got, body = get(service, path)
    assert got == status and body["error"]["message"]
    assert "Traceback" not in json.dumps(body)


def test_oversized_and_malformed_bodies(service: Service) -> None:
    headers = {"X-API-Key": service.keys["screen"], "Content-Type": "application/json"}
    with service.client() as c:
        big = {"items": [{"chain": "bitcoin", "address": A["clean"]}] * 10_001}
        r = c.post("/v1/risk/batch", headers=headers, json=big)
        assert r.status_code == 422 and "items" in r.json()["error"]["message"]
        r = c.post("/v1/risk/batch", headers=headers, content=b"{not json")
        assert r.status_code == 422
    # A declared 9 MiB body is refused from its headers, before any of it is read.
    host, port = service.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.putrequest("POST", "/v1/risk/batch")
    for k, v in {**headers, "Content-Length": str(9 * 2**20)}.items():
        conn.putheader(k, v)
    conn.endheaders()
    resp = conn.getresponse()
    assert resp.status == 413 and json.loads(resp.read())["error"]["code"] == "too_large"
    conn.close()


def test_rate_limit_answers_429_with_retry_after(service: Service) -> None:
    statuses = []
    with service.client() as c:
        for _ in range(5):
            r = c.get("/healthz")
            r = c.get(
                f"/v1/risk/bitcoin/address/{A['clean']}",
                headers={"X-API-Key": service.keys["slow"]},
            )
            statuses.append(r.status_code)
            if r.status_code == 429:
                assert int(r.headers["Retry-After"]) >= 1
                break
    assert 429 in statuses


def test_trace_job_watchlists_and_metrics(service: Service) -> None:
    admin = {"X-API-Key": service.keys["admin"]}
    with service.client() as c:
        job = c.post("/v1/traces", headers=admin, json={"seeds": [f"{'a' * 64}:0"]}).json()
        for _ in range(100):
            state = c.get(f"/v1/traces/{job['id']}", headers=admin).json()
            if state["status"] in ("done", "failed"):
                break
            time.sleep(0.05)
        assert state["status"] == "done"
        assert state["result"]["endpoints"][0]["label"] == "Exchange K"
        made = c.post(
            "/v1/watchlists",
            headers=admin,
            json={
                "name": "dprk",
                "items": [{"kind": "address", "chain": "bitcoin", "value": A["mule"]}],
            },
        )
        assert made.status_code == 201 and made.json()["secret"]
        wid = made.json()["watchlist_id"]
        bad = c.put(
            f"/v1/watchlists/{wid}/items",
            headers=admin,
            json={"items": [{"kind": "address", "chain": "bitcoin", "value": "nope"}]},
        )
        assert bad.status_code == 400
        assert c.delete(f"/v1/watchlists/{wid}", headers=admin).status_code == 204
        assert c.get(f"/v1/watchlists/{wid}", headers=admin).status_code == 404
        screened = c.get(f"/v1/risk/bitcoin/address/{A['sanctioned']}", headers=admin)
        assert screened.json()["level"] == "severe"  # counted whatever ran before this test
        text = c.get("/metrics", headers=admin).text
        assert "chainsleuth_requests_total" in text and 'level="severe"' in text


def test_every_screening_is_audited(tmp_path: Path) -> None:
    db = tmp_path / "store.duckdb"
    keys = build_store(db)
    for svc in run_service(db, keys):
        with svc.client() as c:
            for name in ("clean", "mule"):
                c.get(f"/v1/risk/bitcoin/address/{A[name]}", headers={"X-API-Key": keys["screen"]})
            c.get(
                f"/v1/risk/bitcoin/address/{addr('stranger')}",
                headers={"X-API-Key": keys["screen"]},
            )
    con = connect(db)
    rows = export_audit(con, None, None)
    assert [(r["endpoint"], r["request"]["address"], r["decision"]) for r in rows] == [
        ("risk.address", A["clean"], "low"),
        ("risk.address", A["mule"], "severe"),
        ("risk.address", addr("stranger"), "low"),
    ]
    assert all(r["policy_version"] for r in rows)


def test_audit_export_cli_filters_by_date_and_writes_csv_and_json(tmp_path: Path) -> None:
    db = tmp_path / "store.duckdb"
    keys = build_store(db)
    for svc in run_service(db, keys):
        with svc.client() as c:
            for name in ("clean", "sanctioned"):
                c.get(f"/v1/risk/bitcoin/address/{A[name]}", headers={"X-API-Key": keys["screen"]})
    today = dt.datetime.now(dt.UTC).date()

    def export(*args: str) -> str:
        result = CliRunner().invoke(app, ["--db", str(db), "--quiet", "audit", "export", *args])
        assert result.exit_code == 0, result.output
        return result.output

    rows = json.loads(export("--from", str(today), "--to", str(today), "--format", "json"))
    assert [(r["request"]["address"], r["decision"]) for r in rows] == [
        (A["clean"], "low"),
        (A["sanctioned"], "severe"),
    ]
    table = list(csv.DictReader(io.StringIO(export("--format", "csv"))))
    assert [r["decision"] for r in table] == ["low", "severe"]
    yesterday = str(today - dt.timedelta(days=1))
    assert json.loads(export("--to", yesterday, "--format", "json")) == []
    bad = CliRunner().invoke(app, ["--db", str(db), "audit", "export", "--from", "last week"])
    assert bad.exit_code != 0 and "not an ISO date" in str(bad.exception)


def test_entity_route_needs_clustering_then_shows_the_entity_and_its_tags(
    tmp_path: Path,
) -> None:
    db = tmp_path / "store.duckdb"
    keys = build_store(db)
    headers = {"X-API-Key": keys["screen"]}
    path = f"/v1/entities/bitcoin/{A['exchange']}"
    for svc in run_service(db, keys):
        with svc.client() as c:
            before = c.get(path, headers=headers)
    assert before.status_code == 404 and "not clustered" in before.json()["error"]["message"]
    con = connect(db)
    cluster(con, "bitcoin", defaults("bitcoin"))
    con.close()
    for svc in run_service(db, keys):
        with svc.client() as c:
            after = c.get(path, headers=headers)
            unknown_chain = c.get(f"/v1/entities/dogecoin/{A['exchange']}", headers=headers)
    body = after.json()
    assert after.status_code == 200 and body["address"] == A["exchange"]
    assert (body["received"], body["balance"]) == (89, 89)  # the one 89-satoshi payment
    assert [t["label"] for t in body["tags"]] == ["Exchange K"]
    assert unknown_chain.status_code == 400


def test_cli_keys_and_the_screen_twin_agree_with_the_api(tmp_path: Path) -> None:
    db = tmp_path / "store.duckdb"
    keys = build_store(db)

    def cli(*args: str) -> str:
        result = CliRunner().invoke(app, ["--db", str(db), "--quiet", *args])
        assert result.exit_code == 0, result.output
        return result.output

    made = json.loads(cli("keys", "create", "--name", "desk", "--scopes", "screen", "-f", "json"))
    assert made["key"] and made["scopes"] == ["screen"]
    listed = json.loads(cli("--format", "json", "keys", "list"))
    assert "desk" in [k["name"] for k in listed]
    assert made["key"] not in json.dumps(listed)  # shown once, stored only as a salted hash
    twin = json.loads(cli("screen", "--chain", "bitcoin", A["mule"], A["clean"], "-f", "json"))
    for svc in run_service(db, {**keys, "desk": made["key"]}):
        with svc.client() as c:
            api = [
                c.get(f"/v1/risk/bitcoin/address/{A[n]}", headers={"X-API-Key": made["key"]}).json()
                for n in ("mule", "clean")
            ]
    assert twin == api and twin[0]["level"] == "severe"
    cli("keys", "revoke", str(made["key_id"]))
    for svc in run_service(db, keys):
        with svc.client() as c:
            refused = c.get(
                f"/v1/risk/bitcoin/address/{A['clean']}", headers={"X-API-Key": made["key"]}
            )
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "invalid_key"
