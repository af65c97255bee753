"""Malformed and hostile input: always a 4xx application/problem+json, never a 500, never an echo of the input."""

import base64
import json
import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cdp.api.app import create_app
from tests.api.helpers import assert_problem, audit_entries
from tests.factories import contact_row

CANARY_EMAIL = "pii-canary@example.test"
SECRET = "SECRET-VALUE-123"
CANARIES = (CANARY_EMAIL, SECRET, "Canaryson")
ON_POSTGRES = bool(os.environ.get("CDP_TEST_DATABASE_URL"))


def _cursor(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


# --- ingest bodies -----------------------------------------------------------------------------------

HOSTILE_INGEST_BODIES = {
    "malformed-json": (f'[{{"email": "{CANARY_EMAIL}", "external_id": "{SECRET}"'.encode(), "application/json"),
    "trailing-garbage": (f"[] {SECRET}".encode(), "application/json"),
    "object-not-array": (json.dumps({"email": CANARY_EMAIL, "external_id": SECRET}).encode(), "application/json"),
    "string-not-array": (json.dumps(CANARY_EMAIL).encode(), "application/json"),
    "null-body": (b"null", "application/json"),
    "empty-body": (b"", "application/json"),
    "not-utf8": (b"\xff\xfe[" + SECRET.encode() + b"]", "application/json"),
    "text-plain": (json.dumps([contact_row(email=CANARY_EMAIL)]).encode(), "text/plain"),
    "form-encoded": (f"email={CANARY_EMAIL}".encode(), "application/x-www-form-urlencoded"),
    "deeply-nested": (b"[" * 100_000 + b"]" * 100_000, "application/json"),
}


@pytest.mark.parametrize("name", HOSTILE_INGEST_BODIES)
def test_hostile_ingest_body_is_a_4xx_problem(client: Any, api_keys: dict[str, dict[str, str]], name: str) -> None:
    content, content_type = HOSTILE_INGEST_BODIES[name]
    resp = client.post(
        "/v1/ingest/crm", content=content, headers={**api_keys["connector"], "content-type": content_type}
    )
    assert 400 <= resp.status_code < 500, (resp.status_code, resp.text[:300])
    assert_problem(resp, resp.status_code, forbid=CANARIES)


def test_malformed_json_is_invalid_input(client: Any, api_keys: dict[str, dict[str, str]]) -> None:
    content, _ = HOSTILE_INGEST_BODIES["malformed-json"]
    resp = client.post(
        "/v1/ingest/crm", content=content, headers={**api_keys["connector"], "content-type": "application/json"}
    )
    body = assert_problem(resp, 422, type_="/problems/invalid-input", forbid=CANARIES)
    assert [e["type"] for e in body["errors"]] == ["json_invalid"]


def test_object_instead_of_array_is_invalid_input(client: Any, api_keys: dict[str, dict[str, str]]) -> None:
    resp = client.post(
        "/v1/ingest/crm", json={"email": CANARY_EMAIL, "external_id": SECRET}, headers=api_keys["connector"]
    )
    body = assert_problem(resp, 422, type_="/problems/invalid-input", forbid=CANARIES)
    assert body["errors"] == [{"loc": ["body"], "msg": "Input should be a valid list", "type": "list_type"}]


def test_bad_rows_are_quarantined_without_echoing_values(client: Any, api_keys: dict[str, dict[str, str]]) -> None:
    rows: list[Any] = [
        {"external_id": SECRET, "observed_at": f"yesterday {SECRET}", "email": CANARY_EMAIL},
        contact_row(email="pii-canary@@example.test", last_name="Canaryson"),
        contact_row(email=None, phone=SECRET, last_name="Canaryson"),
        contact_row(country=SECRET),
        contact_row(consents=[{"purpose": SECRET, "status": "maybe", "occurred_at": CANARY_EMAIL}]),
        SECRET,
        [CANARY_EMAIL],
    ]
    resp = client.post("/v1/ingest/crm", json=rows, headers=api_keys["connector"])
    assert resp.status_code == 200, resp.text
    for value in CANARIES:
        assert value.lower() not in resp.text.lower()
    results = resp.json()["results"]
    assert [r["outcome"] for r in results] == ["quarantined"] * len(rows)
    for r in results:
        assert r["reasons"] and all({"field", "type", "message"} <= set(reason) for reason in r["reasons"])


def test_an_unusable_phone_beside_a_good_email_is_a_warning_not_a_lost_contact(
    client: Any, api_keys: dict[str, dict[str, str]]
) -> None:
    row = contact_row(phone=SECRET, last_name="Canaryson")
    resp = client.post("/v1/ingest/crm", json=[row], headers=api_keys["connector"])
    result = resp.json()["results"][0]
    assert result["outcome"] == "created"
    assert [(w["field"], w["type"]) for w in result["warnings"]] == [("phone", "invalid_phone")]
    assert SECRET.lower() not in resp.text.lower()


# --- size limits -------------------------------------------------------------------------------------


def test_batch_over_ingest_batch_max_is_413(client: Any, api_keys: dict[str, dict[str, str]], runtime: Any) -> None:
    runtime.settings = runtime.settings.model_copy(update={"ingest_batch_max": 2})
    rows = [contact_row(email=f"pii-canary+{i}@example.test") for i in range(3)]
    resp = client.post("/v1/ingest/crm", json=rows, headers=api_keys["connector"])
    body = assert_problem(resp, 413, type_="/problems/too-large", forbid=["pii-canary"])
    assert body["limit"] == 2
    assert not audit_entries(runtime, "profile.created"), "a refused batch stores nothing"

    ok = client.post("/v1/ingest/crm", json=rows[:2], headers=api_keys["connector"])
    assert ok.status_code == 200, ok.text
    assert ok.json()["counts"]["created"] == 2


SMALL_BODY_LIMIT = 2048


@pytest.fixture
def small_body_client(runtime: Any, settings: Any) -> Iterator[TestClient]:
    limited = settings.model_copy(update={"request_body_max_bytes": SMALL_BODY_LIMIT})
    with TestClient(create_app(limited, runtime=runtime), raise_server_exceptions=False) as c:
        yield c


def _oversized_body() -> bytes:
    body = json.dumps([contact_row(email=CANARY_EMAIL, attributes={"note": SECRET * 200})]).encode()
    assert len(body) > SMALL_BODY_LIMIT
    return body


def _chunks(body: bytes, size: int = 512) -> Iterator[bytes]:
    for i in range(0, len(body), size):
        yield body[i : i + size]


def test_body_over_byte_limit_with_content_length_is_413(
    small_body_client: TestClient, api_keys: dict[str, dict[str, str]], runtime: Any
) -> None:
    body = _oversized_body()
    resp = small_body_client.post(
        "/v1/ingest/crm", content=body, headers={**api_keys["connector"], "content-type": "application/json"}
    )
    assert resp.request.headers["content-length"] == str(len(body))
    problem = assert_problem(resp, 413, type_="/problems/too-large", forbid=CANARIES)
    assert str(SMALL_BODY_LIMIT) in problem["detail"]
    assert not audit_entries(runtime, "profile.created")


def test_body_within_byte_limit_is_accepted(small_body_client: TestClient, api_keys: dict[str, dict[str, str]]) -> None:
    body = json.dumps([contact_row()]).encode()
    assert len(body) < SMALL_BODY_LIMIT
    headers = {**api_keys["connector"], "content-type": "application/json"}
    assert small_body_client.post("/v1/ingest/crm", content=body, headers=headers).status_code == 200
    streamed = small_body_client.post(
        "/v1/ingest/crm", content=_chunks(json.dumps([contact_row()]).encode(), 64), headers=headers
    )
    assert "content-length" not in streamed.request.headers
    assert streamed.status_code == 200, streamed.text


def test_streamed_body_over_byte_limit_is_refused(
    small_body_client: TestClient, api_keys: dict[str, dict[str, str]], runtime: Any
) -> None:
    """Chunked (no Content-Length): refused with a 4xx problem and nothing stored, whatever the exact status."""
    resp = small_body_client.post(
        "/v1/ingest/crm",
        content=_chunks(_oversized_body()),
        headers={**api_keys["connector"], "content-type": "application/json"},
    )
    assert resp.request.headers.get("transfer-encoding") == "chunked"
    assert 400 <= resp.status_code < 500, (resp.status_code, resp.text)
    assert_problem(resp, resp.status_code, forbid=CANARIES)
    assert not audit_entries(runtime, "profile.created")


def test_streamed_body_over_byte_limit_is_413(
    small_body_client: TestClient, api_keys: dict[str, dict[str, str]]
) -> None:
    resp = small_body_client.post(
        "/v1/ingest/crm",
        content=_chunks(_oversized_body()),
        headers={**api_keys["connector"], "content-type": "application/json"},
    )
    assert_problem(resp, 413, type_="/problems/too-large", forbid=CANARIES)


# --- path parameters ---------------------------------------------------------------------------------


@pytest.mark.parametrize("source", [SECRET, "Bad!", "1crm", "crm.io", "a" * 65, "crm%20x", "_crm"])
def test_invalid_source_name_is_422(client: Any, api_keys: dict[str, dict[str, str]], source: str) -> None:
    resp = client.post(f"/v1/ingest/{source}", json=[contact_row()], headers=api_keys["connector"])
    body = assert_problem(resp, 422, type_="/problems/invalid-input", forbid=[SECRET, "a" * 65])
    assert [e["loc"] for e in body["errors"]] == [["path", "source"]]


@pytest.mark.parametrize("profile_id", [SECRET, CANARY_EMAIL, "123", "0" * 33, str(uuid.uuid4()) + "0"])
def test_non_uuid_profile_id_is_422(client: Any, api_keys: dict[str, dict[str, str]], profile_id: str) -> None:
    resp = client.get(f"/v1/profiles/{profile_id}", headers=api_keys["sales"])
    body = assert_problem(resp, 422, type_="/problems/invalid-input", forbid=[profile_id])
    assert [e["loc"] for e in body["errors"]] == [["path", "profile_id"]]


# --- routing -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/v1/nope", f"/v1/profiles/{uuid.uuid4()}/{SECRET}", f"/{SECRET}", "/v2/profiles/search"]
)
def test_unknown_route_is_404_problem(client: Any, api_keys: dict[str, dict[str, str]], path: str) -> None:
    resp = client.get(path, headers=api_keys["sales"])
    assert_problem(resp, 404, forbid=[SECRET])


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/ingest/crm"),
        ("DELETE", f"/v1/profiles/{uuid.uuid4()}"),
        ("PUT", "/v1/profiles/search"),
        ("POST", "/v1/audit"),
        ("DELETE", "/v1/audit/verify"),
        ("POST", "/healthz"),
    ],
)
def test_wrong_method_is_405_problem(client: Any, api_keys: dict[str, dict[str, str]], method: str, path: str) -> None:
    resp = client.request(method, path, headers=api_keys["compliance"], json={"email": CANARY_EMAIL})
    assert_problem(resp, 405, forbid=[CANARY_EMAIL])
    assert resp.headers["allow"]


# --- search ------------------------------------------------------------------------------------------

BAD_SEARCHES = {
    "neither": {},
    "neither-only-limit": {"limit": 5},
    "neither-explicit-nulls": {"email": None, "phone": None},
    "both": {"email": CANARY_EMAIL, "phone": "+44 20 7946 0777"},
    "email-not-a-string": {"email": 12345},
    "email-too-long": {"email": SECRET * 30 + "@example.test"},
    "phone-too-long": {"phone": SECRET * 10},
    "bad-country": {"phone": "020 7946 0777", "country": SECRET},
    "limit-zero": {"email": CANARY_EMAIL, "limit": 0},
    "limit-too-big": {"email": CANARY_EMAIL, "limit": 101},
    "extra-field": {"email": CANARY_EMAIL, "name": "Canaryson"},
    "array-body": [CANARY_EMAIL],
    "string-body": CANARY_EMAIL,
}


@pytest.mark.parametrize("name", BAD_SEARCHES)
def test_bad_search_body_is_422(client: Any, api_keys: dict[str, dict[str, str]], name: str) -> None:
    resp = client.post("/v1/profiles/search", json=BAD_SEARCHES[name], headers=api_keys["sales"])
    body = assert_problem(resp, 422, type_="/problems/invalid-input", forbid=CANARIES)
    assert body["errors"]


def test_malformed_search_json_is_422(client: Any, api_keys: dict[str, dict[str, str]]) -> None:
    resp = client.post(
        "/v1/profiles/search",
        content=f'{{"email": "{CANARY_EMAIL}"'.encode(),
        headers={**api_keys["sales"], "content-type": "application/json"},
    )
    assert_problem(resp, 422, type_="/problems/invalid-input", forbid=CANARIES)


@pytest.mark.parametrize(
    "search",
    [
        {"phone": SECRET},
        {"phone": "020 7946 0777"},  # national number without a country
        {"phone": "12", "country": "GB"},
        {"phone": "+999 1234 5678"},
        {"email": SECRET},
        {"email": "pii-canary@@example.test"},
        {"email": "Canaryson@"},
    ],
    ids=[
        "phone-garbage",
        "phone-national-no-country",
        "phone-too-short",
        "phone-bad-country-code",
        "email-garbage",
        "email-double-at",
        "email-no-domain",
    ],
)
def test_unparseable_contact_point_is_422(
    client: Any, api_keys: dict[str, dict[str, str]], search: dict[str, str]
) -> None:
    resp = client.post("/v1/profiles/search", json=search, headers=api_keys["sales"])
    body = assert_problem(resp, 422, type_="/problems/invalid-input", forbid=[*CANARIES, "pii-canary"])
    assert body["field"] == next(iter(search))


# --- audit query parameters --------------------------------------------------------------------------

GARBAGE_CURSORS = {
    "secret-text": SECRET,
    "punctuation": "!!!",
    "non-ascii": "é" * 8,
    "base64-not-json": base64.urlsafe_b64encode(SECRET.encode()).decode(),
    "base64-binary": base64.urlsafe_b64encode(b"\xff\xfe\xfd").decode(),
    "json-list": _cursor([1, 2]),
    "json-number": _cursor(7),
    "after-string": _cursor({"after": SECRET}),
    "after-null": _cursor({"after": None}),
    "after-float": _cursor({"after": 1.5}),
    "after-object": _cursor({"after": {"$gt": 0}}),
    "over-max-length": "A" * 201,
}


@pytest.mark.parametrize("name", GARBAGE_CURSORS)
def test_garbage_audit_cursor_is_422(client: Any, api_keys: dict[str, dict[str, str]], name: str) -> None:
    resp = client.get("/v1/audit", params={"cursor": GARBAGE_CURSORS[name]}, headers=api_keys["compliance"])
    assert_problem(resp, 422, type_="/problems/invalid-input", forbid=[SECRET])


FORGED_CURSORS = {
    "after-true": _cursor({"after": True}),
    "after-2^63": _cursor({"after": 2**63}),
    "after-10^30": _cursor({"after": 10**30}),
    "after-2^31": _cursor({"after": 2**31}),
}


@pytest.mark.parametrize(
    "name",
    list(FORGED_CURSORS),
)
def test_forged_audit_cursor_is_a_4xx_problem(client: Any, api_keys: dict[str, dict[str, str]], name: str) -> None:
    resp = client.get("/v1/audit", params={"cursor": FORGED_CURSORS[name]}, headers=api_keys["compliance"])
    assert resp.status_code != 500, resp.text
    if resp.status_code != 200:  # an empty page past the end is a fair answer too
        assert_problem(resp, resp.status_code)
        assert 400 <= resp.status_code < 500


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/v1/audit", {"limit": 0}),
        ("/v1/audit", {"limit": -1}),
        ("/v1/audit", {"limit": SECRET}),
        ("/v1/audit/verify", {"expected_head": SECRET}),
        ("/v1/audit/verify", {"expected_head": "A" * 64}),
    ],
)
def test_bad_audit_parameters_are_422(
    client: Any, api_keys: dict[str, dict[str, str]], path: str, params: dict[str, Any]
) -> None:
    resp = client.get(path, params=params, headers=api_keys["compliance"])
    assert_problem(resp, 422, type_="/problems/invalid-input", forbid=[SECRET])


# --- the catalogue -----------------------------------------------------------------------------------


def test_problems_lists_every_type(client: Any) -> None:
    resp = client.get("/problems")
    assert resp.status_code == 200
    types = resp.json()
    assert isinstance(types, list) and types
    for entry in types:
        assert set(entry) >= {"type", "title", "status"}, entry
        assert entry["type"].startswith("/problems/")
        assert isinstance(entry["title"], str) and entry["title"]
        assert isinstance(entry["status"], int) and 300 <= entry["status"] < 600
    listed = [e["type"] for e in types]
    assert len(listed) == len(set(listed)), "duplicate problem types"
    for used in (
        "invalid-input",
        "too-large",
        "unauthenticated",
        "forbidden",
        "not-found",
        "profile-not-found",
        "profile-merged",
        "unavailable",
        "integrity-error",
    ):
        assert f"/problems/{used}" in listed
    by_type = {e["type"]: e["status"] for e in types}
    assert by_type["/problems/invalid-input"] == 422
    assert by_type["/problems/too-large"] == 413
    assert by_type["/problems/unauthenticated"] == 401
    assert by_type["/problems/forbidden"] == 403
