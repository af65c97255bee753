"""Retention through the API: preview pages, run, legal holds, and what an erased profile answers."""

import datetime as dt
import uuid
from typing import Any

import pytest

from cdp.db import unit_of_work, utcnow
from cdp.profiles.models import Profile
from tests.api.helpers import assert_problem, audit_entries
from tests.factories import contact_row

LONG_AGO = utcnow() - dt.timedelta(days=25 * 31)


def _leads(client: Any, keys: dict[str, dict[str, str]], runtime: Any, n: int, *, stale: bool = True) -> list[str]:
    rows = [contact_row(lifecycle_stage="lead") for _ in range(n)]
    resp = client.post("/v1/ingest/crm", json=rows, headers=keys["connector"])
    assert resp.status_code == 200, resp.text
    ids = [r["profile_id"] for r in resp.json()["results"]]
    if stale:  # inactive for more than 24 months: prospect-inactive makes them due now
        with unit_of_work(runtime.stores) as s:
            for pid in ids:
                profile = s.get(Profile, uuid.UUID(pid))
                profile.created_at = profile.last_activity_at = LONG_AGO
    return ids


def _preview(client: Any, keys: dict[str, dict[str, str]], **params: Any) -> dict[str, Any]:
    resp = client.get("/v1/retention/preview", params=params, headers=keys["compliance"])
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


def _run(client: Any, keys: dict[str, dict[str, str]], dry_run: bool = False) -> dict[str, Any]:
    resp = client.post("/v1/retention/run", json={"dry_run": dry_run}, headers=keys["compliance"])
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


def test_run_erases_exactly_the_previewed_profiles_and_they_answer_404(client, api_keys, runtime):
    stale = _leads(client, api_keys, runtime, 2)
    fresh = _leads(client, api_keys, runtime, 1, stale=False)

    planned = _preview(client, api_keys)["data"]
    assert sorted(d["row_id"] for d in planned) == sorted(stale)
    assert {d["rule_id"] for d in planned} == {"prospect-inactive"}

    report = _run(client, api_keys)
    assert report["total"] == 2
    assert [e["resource_id"] for e in audit_entries(runtime, "profile.erased")] == [d["row_id"] for d in planned]
    (entry,) = audit_entries(runtime, "retention.run")
    assert entry["details"]["prospect-inactive.rows"] == 2

    for pid in stale:
        assert_problem(
            client.get(f"/v1/profiles/{pid}", headers=api_keys["sales"]), 404, type_="/problems/profile-not-found"
        )
    assert client.get(f"/v1/profiles/{fresh[0]}", headers=api_keys["sales"]).status_code == 200
    assert _run(client, api_keys)["total"] == 0
    assert client.get("/v1/audit/verify", headers=api_keys["compliance"]).json()["ok"] is True


def test_a_dry_run_counts_and_changes_nothing(client, api_keys, runtime):
    _leads(client, api_keys, runtime, 1)
    assert _run(client, api_keys, dry_run=True)["total"] == 1
    assert len(_preview(client, api_keys)["data"]) == 1
    assert audit_entries(runtime, "retention.run") == []


def test_preview_pages_share_one_evaluation_time(client, api_keys, runtime):
    _leads(client, api_keys, runtime, 3)
    everything = _preview(client, api_keys)
    first = _preview(client, api_keys, limit=2)
    assert len(first["data"]) == 2 and first["next_cursor"]
    rest = _preview(client, api_keys, limit=2, cursor=first["next_cursor"])
    assert rest["next_cursor"] is None and rest["at"] == first["at"]
    assert first["data"] + rest["data"] == everything["data"]


def test_preview_at_a_future_time_shows_what_goes_then(client, api_keys, runtime):
    (pid,) = _leads(client, api_keys, runtime, 1, stale=False)
    assert _preview(client, api_keys)["data"] == []
    later = (utcnow() + dt.timedelta(days=25 * 31)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert [d["row_id"] for d in _preview(client, api_keys, at=later)["data"]] == [pid]


def test_a_hold_placed_and_released_through_the_api(client, api_keys, runtime):
    (pid,) = _leads(client, api_keys, runtime, 1)
    url = f"/v1/profiles/{pid}/legal-hold"

    placed = client.post(url, json={"reason": "matter 2026-12"}, headers=api_keys["compliance"])
    assert placed.status_code == 201, placed.text
    assert placed.json()["profile_id"] == pid and placed.json()["released_at"] is None
    assert _preview(client, api_keys)["data"] == []
    assert _run(client, api_keys)["rules"][0]["exempt"] == {"legal_hold": 1}
    again = client.post(url, json={"reason": "matter 2026-13"}, headers=api_keys["compliance"])
    assert_problem(again, 409, type_="/problems/legal-hold-exists")

    released = client.delete(url, headers=api_keys["compliance"])
    assert released.status_code == 200 and released.json()["released_at"] is not None
    assert_problem(client.delete(url, headers=api_keys["compliance"]), 404, type_="/problems/legal-hold-not-found")
    assert _run(client, api_keys)["total"] == 1
    assert [e["action"] for e in audit_entries(runtime) if e["action"].startswith("legal_hold.")] == [
        "legal_hold.placed",
        "legal_hold.released",
    ]


@pytest.mark.parametrize(
    ("profile", "body", "status", "type_"),
    [
        ("unknown", {"reason": "matter 1"}, 404, "/problems/profile-not-found"),
        ("lead", {"reason": "asked by hold.me@example.com"}, 422, "/problems/invalid-input"),
        ("lead", {"reason": "x"}, 422, "/problems/invalid-input"),
    ],
)
def test_bad_hold_requests_are_problems_that_echo_nothing(client, api_keys, runtime, profile, body, status, type_):
    pid = str(uuid.uuid4()) if profile == "unknown" else _leads(client, api_keys, runtime, 1)[0]
    resp = client.post(f"/v1/profiles/{pid}/legal-hold", json=body, headers=api_keys["compliance"])
    assert_problem(resp, status, type_=type_, forbid=["hold.me@example.com"])


def test_a_cursor_from_elsewhere_is_refused(client, api_keys):
    resp = client.get("/v1/retention/preview", params={"cursor": "bm90LWEtY3Vyc29y"}, headers=api_keys["compliance"])
    assert_problem(resp, 422, type_="/problems/invalid-input")
