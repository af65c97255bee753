"""No re-creation (COMPLIANCE §7 item 20, 21): after erasure, a re-delivered webhook and a re-run pull sync
of the same records create nothing, and the response / sync report count them as `suppressed`."""

import datetime as dt
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from pytest_httpserver import HTTPServer
from sqlalchemy import func
from sqlmodel import select

from cdp.audit.log import SYSTEM, Actor
from cdp.connectors.base import ConnectorConfig, Cursor, Page
from cdp.connectors.http import HttpClient, make_client
from cdp.connectors.sync import run_pull
from cdp.consent.models import ConsentEvent
from cdp.db import Stores, unit_of_work
from cdp.privacy.erasure import erase_subject
from cdp.profiles import store
from cdp.profiles.models import Event, Identity, Profile, SourceRecord
from tests.connectors.helpers import FIXTURES, fixture

TYPEFORM = fixture("typeform_signature.json")
SENDGRID = fixture("sendgrid_events_signed.json")
SENDGRID_AT = dt.datetime.fromtimestamp(int(SENDGRID["headers"]["X-Twilio-Email-Event-Webhook-Timestamp"]), dt.UTC)
MAILCHIMP_SECRET = "mc-url-secret-0123456789"
SECRETS = {"typeform": TYPEFORM["secret"], "sendgrid": SENDGRID["public_key"], "mailchimp": MAILCHIMP_SECRET}
TABLES = (Profile, Identity, SourceRecord, Event, ConsentEvent)


def _rows(stores: Stores) -> dict[str, int]:
    with unit_of_work(stores) as session:
        return {m.__name__: int(session.scalar(select(func.count()).select_from(m)) or 0) for m in TABLES}


def _deliveries() -> list[tuple[str, bytes, dict[str, str]]]:
    mailchimp = (FIXTURES / "mailchimp_webhook_subscribe.txt").read_bytes()
    return [
        ("/v1/webhooks/typeform", TYPEFORM["raw_body"].encode(), TYPEFORM["headers"]),
        ("/v1/webhooks/sendgrid", SENDGRID["raw_body"].encode(), SENDGRID["headers"]),
        (
            f"/v1/webhooks/mailchimp?secret={MAILCHIMP_SECRET}",
            mailchimp,
            {"Content-Type": "application/x-www-form-urlencoded"},
        ),
    ]


def test_redelivered_webhooks_of_erased_people_create_nothing(webhook_client: Callable[..., Any]) -> None:
    client = webhook_client(SECRETS, now=SENDGRID_AT + dt.timedelta(seconds=5))
    stores = client.app.state.runtime.stores
    people: set[str] = set()
    for url, body, headers in _deliveries():
        resp = client.post(url, content=body, headers=headers)
        assert resp.status_code == 200, resp.text
        people |= {r["profile_id"] for r in resp.json()["results"] if r["profile_id"]}
    assert len(people) >= 3
    with unit_of_work(stores) as session:
        for pid in people:
            erase_subject(session, [uuid.UUID(pid)], actor=SYSTEM, request_id=uuid.uuid4())
    before = _rows(stores)

    for url, body, headers in _deliveries():
        resp = client.post(url, content=body, headers=headers)
        assert resp.status_code == 200, resp.text
        counts = resp.json()["counts"]
        assert counts["suppressed"] == len(resp.json()["results"]) > 0, (url, counts)
        assert {r["outcome"] for r in resp.json()["results"]} == {"suppressed"}
    assert _rows(stores) == before


class Directory:
    """A pull source over a local server: `GET /people?page=N` -> {items, next}."""

    name = "directory"

    def client(self, config: ConnectorConfig) -> HttpClient:
        return make_client(config)

    def pages(self, http: HttpClient, config: ConnectorConfig, cursor: Cursor | None) -> Iterator[Page]:
        page: str | None = "1"
        while page is not None:
            body = http.get_json("/people", params={"page": page})
            records = [
                {
                    "source": self.name,
                    "external_id": i["id"],
                    "email": i["email"],
                    "first_name": i["name"],
                    "observed_at": i.get("at", "2026-11-20T09:00:00+00:00"),
                    "events": [{"type": "page_viewed", "occurred_at": "2026-11-19T09:00:00+00:00"}],
                }
                for i in body["items"]
            ]
            page = body["next"]
            yield Page(records, {"next": page} if page else {"done": True}, [], last=page is None)


def _serve(server: HTTPServer, pages: dict[str, Any]) -> None:
    server.clear()
    for number, body in pages.items():
        server.expect_request("/people", query_string=f"page={number}").respond_with_json(body)


def _sync(stores: Stores, server: HTTPServer) -> Any:
    source = Directory()
    cfg = ConnectorConfig("directory", {"base_url": server.url_for("/"), "retry_attempts": 1})
    with source.client(cfg) as http:
        return run_pull(stores, source, cfg, http, actor=Actor("test-sync", "system"), full=True)


def test_a_resync_of_an_erased_person_is_counted_suppressed_even_with_a_changed_email(
    stores: Stores, httpserver: HTTPServer
) -> None:
    pages = {
        "1": {"items": [{"id": "d1", "email": "gone.person@dir.example", "name": "Gonzo"}], "next": "2"},
        "2": {"items": [{"id": "d2", "email": "stays.person@dir.example", "name": "Stella"}], "next": None},
    }
    _serve(httpserver, pages)
    first = _sync(stores, httpserver)
    assert first.counts["created"] == 2
    with unit_of_work(stores) as session:
        record = store.find_source_record(session, "directory", "d1")
        assert record is not None
        erase_subject(session, [record.profile_id], actor=SYSTEM, request_id=uuid.uuid4())
    before = _rows(stores)

    again = _sync(stores, httpserver)
    assert (again.counts["suppressed"], again.counts["unchanged"], again.counts["created"]) == (1, 1, 0)
    # The tool changed her address; its own contact id still blocks the record (item 21).
    pages["1"]["items"][0] |= {"email": "gonzo.new@elsewhere.example", "at": "2026-11-21T09:00:00+00:00"}
    _serve(httpserver, pages)
    moved = _sync(stores, httpserver)
    assert (moved.counts["suppressed"], moved.counts["created"]) == (1, 0)
    assert _rows(stores) == before


def test_a_form_submission_of_an_erased_person_is_accepted_and_stores_nothing(client: Any) -> None:
    """The public form answers 201 as always (it must not reveal who was erased) and keeps nothing."""
    import json

    from cdp.audit.models import AuditEntry

    body = json.dumps({"email": "ada.lovelace@example.com", "first_name": "Ada", "consent_marketing_email": True})
    headers = {"Origin": "https://www.example.com", "Content-Type": "application/json"}
    assert client.post("/v1/forms/newsletter", content=body.encode(), headers=headers).status_code == 201
    stores = client.app.state.runtime.stores
    with unit_of_work(stores) as session:
        [pid] = session.scalars(select(SourceRecord.profile_id).where(SourceRecord.source == "webform")).all()
        erase_subject(session, [pid], actor=SYSTEM, request_id=uuid.uuid4())
    before = _rows(stores)

    again = client.post("/v1/forms/newsletter", content=body.encode(), headers=headers)

    assert again.status_code == 201 and set(again.json()) == {"submission_id"}
    assert _rows(stores) == before
    with unit_of_work(stores) as session:
        actions = session.scalars(select(AuditEntry.action).order_by(AuditEntry.seq.desc()).limit(3)).all()
    assert "ingest.suppressed" in actions
