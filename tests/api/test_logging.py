"""Logs carry event names, ids and route templates: never personal data, never a raw path."""

import logging
import uuid
from typing import Any

import pytest

from cdp.db import unit_of_work
from cdp.profiles.models import Profile
from tests.api.helpers import GRANTED_EMAIL_MARKETING
from tests.factories import contact_row

try:  # the formatter production handlers use; private, so tolerate a rename
    from cdp.logs import _Formatter as CdpFormatter
except ImportError:  # pragma: no cover
    CdpFormatter = None  # type: ignore[assignment,misc]

CANARY_EMAIL = "pii-canary@example.test"
CANARY_NAME = "Canaryson"
CANARY_PHONE = "+44 20 7946 0777"
CANARY_STRINGS = (CANARY_EMAIL, CANARY_NAME, CANARY_PHONE, "+442079460777", "020 7946 0777", "79460777")


def _renderings(record: logging.LogRecord) -> list[str]:
    """Everything a handler could write for this record: message, args, every extra, and the formatted line."""
    out = [str(record.msg), repr(record.args), record.getMessage()]
    out += [f"{k}={v!r}" for k, v in record.__dict__.items()]
    out.append(logging.Formatter("%(name)s %(levelname)s %(message)s").format(record))  # with any traceback
    if CdpFormatter is not None:
        out += [CdpFormatter("kv").format(record), CdpFormatter("json").format(record)]
    return out


def _leaks(records: list[logging.LogRecord], needles: tuple[str, ...]) -> list[tuple[str, str, str]]:
    leaks = []
    for record in records:
        for text in _renderings(record):
            leaks += [(record.name, record.getMessage(), n) for n in needles if n.lower() in text.lower()]
    return leaks


def test_no_personal_data_in_any_log_record(
    client: Any, api_keys: dict[str, dict[str, str]], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    connector, sales = api_keys["connector"], api_keys["sales"]
    canary = contact_row(
        email=CANARY_EMAIL,
        first_name="Tweety",
        last_name=CANARY_NAME,
        phone=CANARY_PHONE,
        consents=[GRANTED_EMAIL_MARKETING],
        attributes={"nickname": CANARY_NAME},
    )
    ingested = client.post("/v1/ingest/crm", json=[canary], headers=connector)
    assert ingested.status_code == 200, ingested.text
    profile_id = ingested.json()["results"][0]["profile_id"]

    # Same person from a second source (merge), a re-send (unchanged) and a row that gets quarantined.
    assert (
        client.post(
            "/v1/ingest/web", json=[contact_row(email=CANARY_EMAIL.upper(), last_name=CANARY_NAME)], headers=connector
        ).status_code
        == 200
    )
    assert client.post("/v1/ingest/crm", json=[canary], headers=connector).status_code == 200
    bad_row = {**canary, "external_id": "bad", "email": "pii-canary@@example.test", "observed_at": CANARY_NAME}
    assert client.post("/v1/ingest/crm", json=[bad_row], headers=connector).json()["counts"]["quarantined"] == 1

    assert client.post("/v1/profiles/search", json={"email": f" {CANARY_EMAIL.upper()} "}, headers=sales).json()["data"]
    assert client.post("/v1/profiles/search", json={"phone": "020 7946 0777", "country": "GB"}, headers=sales).json()[
        "data"
    ]
    for role in ("sales", "marketing", "compliance"):
        assert client.get(f"/v1/profiles/{profile_id}", headers=api_keys[role]).status_code == 200

    # Bad requests carrying the canary: every one must be a 4xx.
    bad_requests = [
        client.post("/v1/profiles/search", json={"email": CANARY_EMAIL, "phone": CANARY_PHONE}, headers=sales),
        client.post("/v1/profiles/search", json={"phone": f"{CANARY_PHONE} 999 999 {CANARY_NAME}"}, headers=sales),
        client.post("/v1/profiles/search", json={"email": f"{CANARY_NAME}@"}, headers=sales),
        client.post("/v1/profiles/search", json={"email": CANARY_EMAIL}, headers=api_keys["marketing"]),  # 403
        client.post("/v1/profiles/search", json={"email": CANARY_EMAIL}),  # 401
        client.post("/v1/ingest/crm", json={"email": CANARY_EMAIL, "last_name": CANARY_NAME}, headers=connector),
        client.post(
            "/v1/ingest/crm",
            content=f'[{{"email": "{CANARY_EMAIL}", "last_name": "{CANARY_NAME}"'.encode(),
            headers={**connector, "content-type": "application/json"},
        ),
        client.post("/v1/ingest/Not-A-Source", json=[canary], headers=connector),
    ]
    assert [r.status_code for r in bad_requests] == [422, 422, 422, 403, 401, 422, 422, 422]

    assert caplog.records, "nothing was logged: the test would prove nothing"
    assert any(r.name == "cdp.access" for r in caplog.records)
    assert _leaks(caplog.records, CANARY_STRINGS) == []
    assert not any(n.lower() in caplog.text.lower() for n in CANARY_STRINGS)


def _access_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "cdp.access" and r.getMessage() == "http.request"]


def test_access_log_has_the_route_template_never_the_raw_path(
    client: Any, api_keys: dict[str, dict[str, str]], runtime: Any, caplog: pytest.LogCaptureFixture
) -> None:
    rows = [contact_row(), contact_row()]
    survivor, merged = (
        r["profile_id"]
        for r in client.post("/v1/ingest/crm", json=rows, headers=api_keys["connector"]).json()["results"]
    )
    with unit_of_work(runtime.stores) as session:
        session.get(Profile, uuid.UUID(merged)).merged_into = uuid.UUID(survivor)  # type: ignore[union-attr]
    missing = str(uuid.uuid4())

    caplog.set_level(logging.DEBUG)
    calls = [
        (client.get(f"/v1/profiles/{survivor}", headers=api_keys["sales"]), "GET", "/v1/profiles/{profile_id}", 200),
        (client.get(f"/v1/profiles/{missing}", headers=api_keys["sales"]), "GET", "/v1/profiles/{profile_id}", 404),
        (
            client.get(f"/v1/profiles/{merged}", headers=api_keys["sales"], follow_redirects=False),
            "GET",
            "/v1/profiles/{profile_id}",
            308,
        ),
        (client.get(f"/v1/profiles/{survivor}", headers=api_keys["admin"]), "GET", "/v1/profiles/{profile_id}", 403),
        (client.get(f"/v1/profiles/{survivor}"), "GET", "/v1/profiles/{profile_id}", 401),
        (
            client.post("/v1/ingest/webshop", json=[contact_row()], headers=api_keys["connector"]),
            "POST",
            "/v1/ingest/{source}",
            200,
        ),
        (
            client.post("/v1/profiles/search", json={"email": "x@acme.example"}, headers=api_keys["sales"]),
            "POST",
            "/v1/profiles/search",
            200,
        ),
        (client.get("/v1/audit", headers=api_keys["compliance"]), "GET", "/v1/audit", 200),
        (client.get(f"/v1/nothing/{missing}", headers=api_keys["sales"]), "GET", "(unmatched)", 404),
    ]
    access = _access_records(caplog)
    assert len(access) == len(calls)
    for record, (resp, method, template, status) in zip(access, calls, strict=True):
        assert resp.status_code == status, resp.text
        assert record.levelno == logging.INFO
        assert (record.method, record.route, record.status) == (method, template, status)  # type: ignore[attr-defined]
        assert record.request_id == resp.headers["x-request-id"]  # type: ignore[attr-defined]
        assert isinstance(record.duration_ms, float)  # type: ignore[attr-defined]

    raw = (survivor, merged, missing, "/v1/ingest/webshop", "webshop")
    assert _leaks(access, raw) == [], "the access log must hold route templates, never raw paths or ids"
