"""`cdp sync salesforce` (a separate process on a committed database) and POST /v1/connectors/salesforce/sync,
both against the local Salesforce, configured the documented ways (connectors file, CDP_CONNECTOR_* vars)."""

import json
from typing import Any

import pytest
from sqlmodel import select

from cdp.bootstrap import Runtime
from cdp.consent.models import ConsentEvent
from cdp.db import unit_of_work
from cdp.ingest.models import ConnectorState
from tests.conftest import Committed
from tests.connectors.salesforce.conftest import ADA, GRACE, PURPOSES
from tests.connectors.salesforce.fake import TOKEN, FakeSalesforce


def test_cdp_sync_salesforce_on_the_command_line(committed: Committed, fake: FakeSalesforce) -> None:
    connectors_file = committed.workdir / "connectors.yaml"
    connectors_file.write_text(
        json.dumps({"salesforce": {"instance_url": fake.url, "lag_seconds": 0, "data_use_purposes": PURPOSES}})
    )
    committed.env.update({"CDP_CONNECTORS_FILE": str(connectors_file), "CDP_CONNECTOR_SALESFORCE__ACCESS_TOKEN": TOKEN})
    fake.page_size = 2
    fake.usage = 95_000  # the first answer says 95001/100000: that page is kept, the next call is not made
    stopped = committed.cli("sync", "salesforce", check=False)
    assert stopped.returncode != 0 and len(fake.log) == 1
    assert "quota" in stopped.stdout + stopped.stderr
    assert TOKEN not in stopped.stdout + stopped.stderr
    fake.usage = 0
    first = committed.cli("sync", "salesforce")
    assert "created 3" in first.stdout and "resumed from checkpoint" in first.stdout  # 2 Contacts and the Lead
    assert "quarantined" not in first.stdout and TOKEN not in first.stdout + first.stderr
    fake.change("Contact", GRACE, "2026-11-21T10:00:00.000+0000", LastName="Murray Hopper")
    second = committed.cli("sync", "salesforce")
    assert "updated 1" in second.stdout and "created" not in second.stdout
    rt = committed.open_runtime()
    try:
        with unit_of_work(rt.stores) as s:
            state = s.get(ConnectorState, "salesforce")
            assert state is not None and state.status == "idle" and "run" not in state.cursor
            withdrawn = s.scalars(
                select(ConsentEvent).where(ConsentEvent.source == "salesforce", ConsentEvent.status == "withdrawn")
            ).all()
            assert {e.purpose for e in withdrawn} == {"email_marketing", "sms_marketing"}
    finally:
        rt.close()


def test_post_connectors_salesforce_sync(
    client: Any, api_keys: dict[str, dict[str, str]], fake: FakeSalesforce, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CDP_CONNECTOR_SALESFORCE__INSTANCE_URL", fake.url)
    monkeypatch.setenv("CDP_CONNECTOR_SALESFORCE__ACCESS_TOKEN", TOKEN)
    monkeypatch.setenv("CDP_CONNECTOR_SALESFORCE__LAG_SECONDS", "0")
    monkeypatch.setenv("CDP_CONNECTOR_SALESFORCE__BULK", "true")
    monkeypatch.setenv("CDP_CONNECTOR_SALESFORCE__BULK_POLL_SECONDS", "0")
    monkeypatch.setenv("CDP_CONNECTOR_SALESFORCE__DATA_USE_PURPOSES", json.dumps(PURPOSES))
    admin = api_keys["admin"]
    assert client.post("/v1/connectors/salesforce/sync", json={}, headers=api_keys["marketing"]).status_code == 403
    first = client.post("/v1/connectors/salesforce/sync", json={"max_pages": 1}, headers=admin)
    assert first.status_code == 200, first.text
    assert first.json()["status"] == "stopped"
    rest = client.post("/v1/connectors/salesforce/sync", json={}, headers=admin)
    assert rest.status_code == 200, rest.text
    body = rest.json()
    assert body["status"] == "completed" and body["resumed"] is True
    assert body["counts"]["created"] == 5 and body["counts"]["quarantined"] == 0
    assert any(p == "/services/data/v62.0/jobs/query" for p in fake.paths())
    fake.change("Individual", "0PKgL000000AbCdWAK", "2026-11-24T10:00:00.000+0000", SendIndividualData=True)
    third = client.post("/v1/connectors/salesforce/sync", json={}, headers=admin)
    assert third.json()["signals"] == 1
    listed = client.get("/v1/connectors", headers=admin).json()
    [salesforce] = [c for c in listed if c["name"] == "salesforce"]
    assert salesforce["kinds"] == ["pull"] and salesforce["status"] == "idle"
    assert ADA not in json.dumps(listed)


def test_a_spent_quota_is_a_503_problem_with_the_checkpoint_kept(
    client: Any,
    runtime: Runtime,
    api_keys: dict[str, dict[str, str]],
    fake: FakeSalesforce,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CDP_CONNECTOR_SALESFORCE__INSTANCE_URL", fake.url)
    monkeypatch.setenv("CDP_CONNECTOR_SALESFORCE__ACCESS_TOKEN", TOKEN)
    monkeypatch.setenv("CDP_CONNECTOR_SALESFORCE__LAG_SECONDS", "0")
    fake.fail("FROM Lead", 403, [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}])
    response = client.post("/v1/connectors/salesforce/sync", json={}, headers=api_keys["admin"])
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("application/problem+json")
    assert TOKEN not in response.text
    with unit_of_work(runtime.stores) as s:
        state = s.get(ConnectorState, "salesforce")
        assert state is not None and state.status == "failed" and "Contact" in state.cursor["marks"]


def test_an_expired_token_is_a_502_problem_not_a_500(
    client: Any, api_keys: dict[str, dict[str, str]], fake: FakeSalesforce, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CDP_CONNECTOR_SALESFORCE__INSTANCE_URL", fake.url)
    monkeypatch.setenv("CDP_CONNECTOR_SALESFORCE__ACCESS_TOKEN", "expired-token-value")
    response = client.post("/v1/connectors/salesforce/sync", json={}, headers=api_keys["admin"])
    assert response.status_code == 502, response.text
    assert response.json()["code"] == "INVALID_SESSION_ID" and response.json()["upstream_status"] == 401
    assert "expired-token-value" not in response.text
    assert client.post("/v1/connectors/salesforce/sync", json={}, headers=api_keys["admin"]).status_code == 502
