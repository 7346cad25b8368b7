"""Schemathesis against the live service's own OpenAPI spec: no input makes it answer 5xx.

Every operation of the published spec gets a bounded number of generated requests (no
shrinking: a live server makes it slow; the failure message names the request).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings

from tests.service_fixture import build_store, run_service


@pytest.mark.slow
def test_no_server_errors(tmp_path: Path) -> None:
    db = tmp_path / "store.duckdb"
    keys = build_store(db)
    checked = []
    for live in run_service(db, keys):
        schema = schemathesis.openapi.from_url(f"{live.url}/openapi.json")
        for result in schema.get_all_operations():
            operation = result.ok()

            @given(case=operation.as_strategy())
            @settings(
                max_examples=12,
                deadline=None,
                database=None,
                phases=[Phase.explicit, Phase.generate],  # bounded: no shrinking
                suppress_health_check=list(HealthCheck),
            )
            def check(case: schemathesis.Case) -> None:
                response = case.call(headers={"X-API-Key": keys["admin"]}, timeout=30)
                assert response.status_code < 500, (
                    f"{case.method} {case.formatted_path}: {response.status_code}"
                    f" {response.text[:300]}"
                )

            check()
            checked.append(operation.label)
    assert len(checked) >= 10, checked
