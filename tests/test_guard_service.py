"""The guard in the service (`POST /v1/guard/check`, audited) and with screening."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from chainsleuth.services.screening.audit import export_audit
from chainsleuth.services.screening.keys import create_key
from chainsleuth.store.db import connect
from tests.service_fixture import A, Service, build_store, run_service
from tests.test_guard_bitcoin import CHANGE_0, COIN, INPUT_VALUE, LEGIT, psbt_v0, request


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    db = tmp_path_factory.mktemp("guard") / "store.duckdb"
    keys = build_store(db)
    con = connect(db)
    keys["guard"] = create_key(con, "signer", ["guard"])["key"]
    con.close()
    yield from run_service(db, keys)


def post(service: Service, key: str, body: dict) -> tuple[int, dict]:
    with service.client() as c:
        r = c.post("/v1/guard/check", headers={"X-API-Key": service.keys[key]}, json=body)
    return r.status_code, r.json()


def test_legit_withdrawal_allowed_and_sanctioned_destination_denied(service: Service) -> None:
    status, out = post(
        service, "guard", {"request": request(), "tx": base64.b64encode(psbt_v0(LEGIT)).decode()}
    )
    assert (status, out["decision"], out["reasons"]) == (200, "allow", [])
    # The approved destination itself is a sanctioned entity's address: screening denies it.
    to_sanctioned = [(A["sanctioned"], COIN), (CHANGE_0, INPUT_VALUE - COIN - 14_100)]
    status, out = post(
        service,
        "guard",
        {
            "request": request(destination=A["sanctioned"]),
            "tx": base64.b64encode(psbt_v0(to_sanctioned)).decode(),
        },
    )
    assert status == 200 and out["decision"] == "deny"
    (reason,) = [r for r in out["reasons"] if r["code"] == "screening_risk"]
    assert "SDN entity" in reason["message"] and "sanction" in reason["message"]


def test_guard_scope_and_bad_input(service: Service) -> None:
    status, out = post(service, "screen", {"request": request(), "tx": "00"})
    assert status == 403
    status, out = post(service, "guard", {"request": request(), "tx": "not a transaction"})
    assert status == 400 and out["error"]["message"]
    status, out = post(service, "guard", {"request": {"id": "x"}, "tx": "00"})
    assert status in (400, 422) and "request" in out["error"]["message"]


def test_bybit_record_denied_through_the_api(service: Service, shared_data: Path) -> None:
    from tests.test_guard_ethereum import bybit_request

    path = shared_data / "ethereum" / "bybit-safe-tx" / "bybit-safe-tx-71.json"
    malicious = next(r for r in json.loads(path.read_text())["results"] if r["operation"] == 1)
    status, out = post(service, "guard", {"request": bybit_request(), "tx": json.dumps(malicious)})
    assert (status, out["decision"]) == (200, "deny")
    assert out["safe_tx_hash"] == malicious["safeTxHash"]
    assert "delegatecall_not_allowlisted" in {r["code"] for r in out["reasons"]}


def test_guard_checks_are_audited(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    keys = build_store(db)
    con = connect(db)
    keys["guard"] = create_key(con, "signer", ["guard"])["key"]
    con.close()
    for svc in run_service(db, keys):
        post(svc, "guard", {"request": request(), "tx": base64.b64encode(psbt_v0(LEGIT)).decode()})
    con = connect(db)
    rows = [r for r in export_audit(con, None, None) if r["endpoint"] == "guard.check"]
    assert [(r["decision"], r["request"]["request"]["id"]) for r in rows] == [
        ("allow", request()["id"])
    ]
