"""The audiences API: definitions (validated against the purpose catalog), member counts, syncs through the
API to a local Mailchimp, problems from the destination that stay 4xx/5xx problems (never a 500), and RFC 8058
one-click unsubscribe."""

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from cdp.api.app import create_app
from cdp.audiences.unsubscribe import unsubscribe_token
from cdp.bootstrap import open_runtime
from cdp.consent.models import ConsentState
from cdp.db import unit_of_work
from cdp.profiles.models import Identity
from tests.api.helpers import GRANTED_EMAIL_MARKETING, assert_problem, audit_entries
from tests.connectors.fakes import LIST_ID, FakeMailchimp
from tests.connectors.helpers import FIXTURES
from tests.factories import contact_row

SECRET = "SECRET-VALUE-123"
NEWS = {"name": "newsletter", "purpose": "email_marketing", "destination": "mailchimp"}


@pytest.fixture
def mailchimp(httpserver) -> FakeMailchimp:
    return FakeMailchimp().install(httpserver)


@pytest.fixture
def api(settings, stores, tmp_path: Path, httpserver, mailchimp) -> TestClient:
    conf = tmp_path / "connectors.yaml"
    values = {"base_url": httpserver.url_for("/3.0/"), "api_key": "k-us19", "list_id": LIST_ID}
    conf.write_text(json.dumps({"mailchimp": {**values, "retry_base_seconds": 0, "max_wait_seconds": 5}}))
    configured = settings.model_copy(update={"connectors_file": conf, "public_base_url": "https://cdp.example.test"})
    with TestClient(create_app(configured, runtime=open_runtime(configured, stores=stores))) as c:
        yield c


@pytest.fixture
def keys(api: TestClient, api_keys: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    return api_keys


def _people(api: TestClient, keys: dict[str, dict[str, str]]) -> list[str]:
    rows = [
        contact_row(email="ann@example.test", consents=[GRANTED_EMAIL_MARKETING]),
        contact_row(email="bob@example.test", consents=[GRANTED_EMAIL_MARKETING]),
        contact_row(email="no.consent@example.test"),
    ]
    resp = api.post("/v1/ingest/crm", json=rows, headers=keys["connector"])
    assert resp.status_code == 200, resp.text
    return [r["profile_id"] for r in resp.json()["results"]]


def test_create_read_and_list_audiences_with_pagination(api, keys):
    _people(api, keys)
    created = api.post("/v1/audiences", json=NEWS, headers=keys["marketing"])
    assert created.status_code == 201, created.text
    api.post("/v1/audiences", json={**NEWS, "name": "other"}, headers=keys["marketing"])

    detail = api.get(f"/v1/audiences/{created.json()['id']}", headers=keys["marketing"]).json()
    assert (detail["member_count"], detail["synced_count"], detail["last_synced_at"]) == (2, 0, None)

    first = api.get("/v1/audiences?limit=1", headers=keys["marketing"]).json()
    second = api.get(f"/v1/audiences?limit=1&cursor={first['next_cursor']}", headers=keys["marketing"]).json()
    assert [a["name"] for a in first["data"] + second["data"]] == ["newsletter", "other"]
    assert second["next_cursor"] is None


@pytest.mark.parametrize(
    ("body", "status", "slug"),
    [
        ({**NEWS, "purpose": SECRET.lower()}, 422, "invalid-audience"),
        ({**NEWS, "destination": "webhook"}, 422, "invalid-audience"),  # not among the purpose's recipients
        ({**NEWS, "destination": SECRET.lower()}, 422, "invalid-audience"),
        ({**NEWS, "definition": {SECRET: 1}}, 422, "invalid-input"),
        ({**NEWS, "definition": {"lifecycle_stages": [SECRET]}}, 422, "invalid-input"),
        ({**NEWS, "name": f"<{SECRET}>"}, 422, "invalid-input"),
    ],
)
def test_bad_definitions_are_422_problems_without_echo(api, keys, body, status, slug):
    resp = api.post("/v1/audiences", json=body, headers=keys["marketing"])
    assert_problem(resp, status, type_=f"/problems/{slug}", forbid=(SECRET,))


def test_a_duplicate_name_is_a_conflict_and_an_unknown_id_a_404(api, keys):
    assert api.post("/v1/audiences", json=NEWS, headers=keys["marketing"]).status_code == 201
    assert_problem(api.post("/v1/audiences", json=NEWS, headers=keys["marketing"]), 409)
    missing = "00000000-0000-4000-8000-000000000000"
    assert_problem(api.get(f"/v1/audiences/{missing}", headers=keys["marketing"]), 404)
    assert_problem(api.post(f"/v1/audiences/{missing}/sync", headers=keys["marketing"]), 404)


def test_sync_through_the_api_sends_only_consented_people(api, keys, mailchimp):
    _people(api, keys)
    audience = api.post("/v1/audiences", json=NEWS, headers=keys["marketing"]).json()

    dry = api.post(f"/v1/audiences/{audience['id']}/sync?dry_run=true", headers=keys["marketing"])
    assert (dry.json()["to_add"], dry.json()["added"], mailchimp.received) == (2, 0, [])
    done = api.post(f"/v1/audiences/{audience['id']}/sync", headers=keys["marketing"])

    assert done.status_code == 200, done.text
    assert (done.json()["added"], done.json()["status"]) == (2, "completed")
    sent = [m["email_address"] for r in mailchimp.received for m in r.body["members"]]
    assert sorted(sent) == ["ann@example.test", "bob@example.test"]
    detail = api.get(f"/v1/audiences/{audience['id']}", headers=keys["marketing"]).json()
    assert (detail["member_count"], detail["synced_count"]) == (2, 2)


def test_a_throttling_destination_is_a_503_problem_with_the_upstream_status(api, keys, mailchimp, runtime):
    _people(api, keys)
    audience = api.post("/v1/audiences", json=NEWS, headers=keys["marketing"]).json()
    mailchimp.fail_next(
        429, headers={"Retry-After": "3600"}, body=json.loads((FIXTURES / "mailchimp_error_problem.json").read_text())
    )

    resp = api.post(f"/v1/audiences/{audience['id']}/sync", headers=keys["marketing"])

    body = assert_problem(resp, 503, type_="/problems/connector-throttled")
    assert (body["upstream_status"], body["retry_after_seconds"]) == (429, 3600)
    assert [e["outcome"] for e in audit_entries(runtime, "audience.sync_stopped")] == ["error"]


def test_a_refusing_destination_is_a_502_problem_not_a_500(api, keys, mailchimp):
    _people(api, keys)
    audience = api.post("/v1/audiences", json=NEWS, headers=keys["marketing"]).json()
    problem = {"type": "x", "title": "API Key Invalid", "status": 401, "detail": SECRET, "instance": "i"}
    mailchimp.fail_next(401, body=problem)

    resp = api.post(f"/v1/audiences/{audience['id']}/sync", headers=keys["marketing"])

    body = assert_problem(resp, 502, type_="/problems/connector-rejected", forbid=(SECRET,))
    assert body["upstream_status"] == 401


def _token(runtime, profile_id: str) -> str:
    with unit_of_work(runtime.stores) as s:
        identity = s.scalars(
            select(Identity).where(Identity.profile_id == uuid.UUID(profile_id), Identity.kind == "email")
        ).one()
        return unsubscribe_token(s, identity.id, "email_marketing")


def _state(runtime, profile_id: str) -> str:
    with unit_of_work(runtime.stores) as s:
        return s.scalars(select(ConsentState.status).where(ConsentState.profile_id == uuid.UUID(profile_id))).one()


def test_one_click_unsubscribe_records_a_withdrawal(api, keys, runtime):
    ann = _people(api, keys)[0]
    token = _token(runtime, ann)
    raw = (FIXTURES / "rfc8058_one_click_unsubscribe.txt").read_bytes().split(b"\r\n\r\n", 1)[-1].split(b"\n\n")[-1]
    assert raw.strip() == b"List-Unsubscribe=One-Click"

    resp = api.post(
        f"/v1/unsubscribe/{token}",
        content=raw.strip(),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )

    assert resp.status_code == 200, resp.text
    assert _state(runtime, ann) == "withdrawn"
    again = api.post(f"/v1/unsubscribe/{token}", content=b"List-Unsubscribe=One-Click")
    assert again.status_code == 200
    entries = audit_entries(runtime, "audience.one_click_unsubscribe")
    assert len(entries) == 1 and "example.test" not in json.dumps(entries, default=str)


def test_one_click_unsubscribe_refuses_forged_tokens_and_other_bodies(api, keys, runtime):
    ann = _people(api, keys)[0]
    token = _token(runtime, ann)
    forged = token[:-4] + ("0000" if not token.endswith("0000") else "1111")
    other_purpose = token.replace(".email_marketing.", ".sms_marketing.")
    for bad in (forged, other_purpose, "not-a-token"):
        resp = api.post(f"/v1/unsubscribe/{bad}", content=b"List-Unsubscribe=One-Click")
        assert_problem(resp, 404, type_="/problems/unsubscribe-token-invalid")
    assert_problem(api.post(f"/v1/unsubscribe/{token}", content=b""), 422)
    assert api.get(f"/v1/unsubscribe/{token}").status_code == 405  # a link scanner's GET does nothing
    assert _state(runtime, ann) == "granted"


def test_problem_extensions_never_override_reserved_members(api: Any) -> None:
    from fastapi import FastAPI

    from cdp.api import problems
    from cdp.errors import Conflict

    app = FastAPI()
    problems.install(app)

    @app.get("/boom")
    def boom() -> None:
        raise Conflict("clash", status=418, type="x", title="t", instance="i", request="r", headers="h")

    resp = TestClient(app).get("/boom")
    body = resp.json()
    assert resp.status_code == 409
    assert (body["status"], body["type"], body["title"], body["detail"]) == (
        409,
        "/problems/conflict",
        "Conflict",
        "clash",
    )
    assert body["instance"].startswith("urn:cdp:request:")
    assert (body["upstream_status"], body["upstream_type"], body["request"], body["headers"]) == (418, "x", "r", "h")


def test_members_lists_only_consented_contact_points_page_by_page_and_audits_each_read(api, keys, runtime):
    ann, bob, _ = _people(api, keys)
    audience = api.post("/v1/audiences", json=NEWS, headers=keys["marketing"]).json()

    first = api.get(f"/v1/audiences/{audience['id']}/members?limit=1", headers=keys["marketing"]).json()
    url = f"/v1/audiences/{audience['id']}/members?limit=1&cursor={first['next_cursor']}"
    second = api.get(url, headers=keys["marketing"]).json()

    members = first["data"] + second["data"]
    assert sorted(m["value"] for m in members) == ["ann@example.test", "bob@example.test"]
    assert second["next_cursor"] is None
    reads = [e for e in audit_entries(runtime, "profile.read") if e["details"].get("via") == "audience_members"]
    assert sorted(e["resource_id"] for e in reads) == sorted([ann, bob])
    bad = api.get(f"/v1/audiences/{audience['id']}/members?cursor=xyz", headers=keys["marketing"])
    assert_problem(bad, 422)
