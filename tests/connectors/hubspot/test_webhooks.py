"""HubSpot webhooks: the v3 signature over method + URL + raw body + timestamp (fixture vector), refusals
(401 problem, audit entry, nothing stored), idempotent redelivery, and privacyDeletion -> erasure request."""

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import pytest
from sqlmodel import col, func, select

from cdp.audit.log import Actor
from cdp.connectors import BadSignature, RequestSignedWebhook, get_pull_source, get_webhook_source
from cdp.consent.models import ConsentEvent
from cdp.db import unit_of_work
from cdp.ingest.pipeline import ingest_batch
from cdp.ingest.records import ContactRecord
from cdp.privacy.models import PrivacyRequest
from cdp.profiles import store
from cdp.profiles.models import Event, SourceRecord
from connectors.hubspot import HubSpotSource, HubSpotWebhook
from connectors.hubspot.mapping import ContactMap, map_contact
from connectors.hubspot.webhooks import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign_v3, signed_uri, verify_v3
from tests.api.helpers import assert_problem, audit_entries
from tests.connectors.helpers import FIXTURES, fixture

VECTOR = fixture("hubspot_webhook_signature.json")["v3"]
SECRET = VECTOR["client_secret"]
RAW = (FIXTURES / "hubspot_webhook_batch.raw.json").read_bytes()
SIGNED_AT = dt.datetime.fromtimestamp(int(VECTOR["headers"][TIMESTAMP_HEADER]) / 1000, dt.UTC)
URI = VECTOR["uri"]


def test_registered_as_webhook_and_pull() -> None:
    assert isinstance(get_webhook_source("hubspot"), HubSpotWebhook)
    assert isinstance(get_pull_source("hubspot"), HubSpotSource)
    assert isinstance(get_webhook_source("hubspot"), RequestSignedWebhook)


def test_the_fixture_vector() -> None:
    assert VECTOR["raw_body"].encode() == RAW and json.loads(RAW) == fixture("hubspot_webhook_batch.json")
    stamp = VECTOR["headers"][TIMESTAMP_HEADER]
    assert sign_v3(SECRET, "POST", URI, RAW, stamp) == VECTOR["expected_signature"]
    verify_v3(VECTOR["headers"], RAW, SIGNED_AT, secret=SECRET, method="POST", url=URI)


def test_only_the_listed_escapes_in_the_query_are_decoded() -> None:
    assert (
        signed_uri("https://h.example/a%2Fb?x=%3A%2F%40%21%2c&y=%20%26") == "https://h.example/a%2Fb?x=:/@!,&y=%20%26"
    )


def _headers(**changes: str | None) -> dict[str, str]:
    headers = dict(VECTOR["headers"])
    for key, value in changes.items():
        name = {"sig": SIGNATURE_HEADER, "ts": TIMESTAMP_HEADER}[key]
        if value is None:
            headers.pop(name)
        else:
            headers[name] = value
    return headers


@pytest.mark.parametrize(
    ("headers", "body", "now", "secret", "method", "url"),
    [
        (_headers(), RAW.replace(b"ada@", b"eve@"), SIGNED_AT, SECRET, "POST", URI),
        (_headers(), RAW + b"\n", SIGNED_AT, SECRET, "POST", URI),
        (_headers(), RAW, SIGNED_AT + dt.timedelta(seconds=301), SECRET, "POST", URI),
        (_headers(), RAW, SIGNED_AT, "another-secret", "POST", URI),
        (_headers(), RAW, SIGNED_AT, None, "POST", URI),
        (_headers(), RAW, SIGNED_AT, SECRET, "PUT", URI),
        (_headers(), RAW, SIGNED_AT, SECRET, "POST", URI.replace("62515", "1")),
        (_headers(ts=str(int(VECTOR["headers"][TIMESTAMP_HEADER]) + 1)), RAW, SIGNED_AT, SECRET, "POST", URI),
        (_headers(ts="soon"), RAW, SIGNED_AT, SECRET, "POST", URI),
        (_headers(ts=None), RAW, SIGNED_AT, SECRET, "POST", URI),
        (_headers(sig=None), RAW, SIGNED_AT, SECRET, "POST", URI),
        (_headers(sig="%%%"), RAW, SIGNED_AT, SECRET, "POST", URI),
    ],
    ids=[
        "tampered",
        "trailing-newline",
        "stale",
        "wrong-secret",
        "no-secret",
        "other-method",
        "other-url",
        "timestamp-changed",
        "bad-timestamp",
        "no-timestamp",
        "no-signature",
        "garbage-signature",
    ],
)
def test_refused(
    headers: dict[str, str], body: bytes, now: dt.datetime, secret: str | None, method: str, url: str
) -> None:
    with pytest.raises(BadSignature):
        HubSpotWebhook().verify_request(method, url, headers, body, now, secret=secret)


def test_plain_verify_fails_closed() -> None:
    with pytest.raises(BadSignature):
        HubSpotWebhook().verify(VECTOR["headers"], RAW, SIGNED_AT, secret=SECRET)


def test_mapping_and_signals() -> None:
    rows = HubSpotWebhook().parse(RAW, {})
    records = [ContactRecord.model_validate(r) for r in rows]
    assert [(r.external_id, [e.type for e in r.events]) for r in records] == [
        ("154", ["crm_created"]),
        ("151", ["crm_property_changed"]),
        ("152", ["crm_property_changed"]),
        ("148", ["crm_deleted"]),
    ]
    # No contact data: the email's new value is not kept, the opt-out flag is.
    assert all(r.email is None and r.first_name is None for r in records)
    assert records[1].events[0].properties == {
        "subscription_type": "contact.propertyChange",
        "change_source": "CRM_UI",
        "property": "email",
    }
    assert records[2].events[0].properties["value"] == "true"
    [optout] = records[2].consents
    assert (optout.purpose, optout.status, optout.external_id) == (
        "email_marketing",
        "withdrawn",
        "hubspot:contact:152:hs_email_optout:email_marketing",
    )
    [signal] = HubSpotWebhook().signals(RAW, {})
    assert (signal.type, signal.source, signal.external_id) == ("erasure", "hubspot", "149")
    assert signal.occurred_at == dt.datetime.fromtimestamp(1763629440, dt.UTC)
    # A redelivery (attemptNumber bumped) has the same event ids.
    again = json.loads(RAW)
    for event in again:
        event["attemptNumber"] = 3
    redelivered = HubSpotWebhook().parse(json.dumps(again).encode(), {})
    assert [r["events"][0]["external_id"] for r in redelivered] == [r["events"][0]["external_id"] for r in rows]


# --- through the API ----------------------------------------------------------------------------------------


@pytest.fixture
def hubspot_client(webhook_client: Callable[..., Any], monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    def make(now: dt.datetime = SIGNED_AT, url: str | None = URI, secret: str = SECRET) -> Any:
        if url is None:
            monkeypatch.delenv("CDP_CONNECTOR_HUBSPOT__WEBHOOK_URL", raising=False)
        else:
            monkeypatch.setenv("CDP_CONNECTOR_HUBSPOT__WEBHOOK_URL", url)
        return webhook_client({"hubspot": secret}, now=now)

    return make


def _count(client: Any, model: Any) -> int:
    with unit_of_work(client.app.state.runtime.stores) as s:
        return int(s.scalar(select(func.count()).select_from(model).where(col(model.source) == "hubspot")) or 0)


def _events(client: Any) -> list[str]:
    with unit_of_work(client.app.state.runtime.stores) as s:
        return sorted(s.scalars(select(Event.type).where(Event.source == "hubspot")).all())


def _pull_known_contacts(client: Any) -> None:
    """Contacts 151, 152 and 149 as a pull stored them, before the webhook arrives."""
    contacts = fixture("hubspot_contact_page.json")["results"]
    gdpr = {**contacts[0], "id": "149", "properties": {**contacts[0]["properties"], "email": "gdpr@example.com"}}
    rows = [map_contact(c, ContactMap()) for c in [*contacts, gdpr]]
    with unit_of_work(client.app.state.runtime.stores) as s:
        ingest_batch(s, "hubspot", rows, actor=Actor("test", "system"))


def _post(client: Any, body: bytes = RAW, **headers: str) -> Any:
    return client.post("/v1/webhooks/hubspot", content=body, headers={**VECTOR["headers"], **headers})


def test_a_signed_batch_is_recorded_once_and_opens_one_erasure_request(hubspot_client: Callable[..., Any]) -> None:
    client = hubspot_client()
    _pull_known_contacts(client)
    before = _events(client)

    resp = _post(client)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["privacy_requests"] == 1
    # 151 and 152 are known; 154 and 148 are not (the pull brings them): nothing to attach their events to.
    assert (body["counts"]["updated"], body["counts"]["unchanged"], body["counts"]["created"]) == (2, 2, 0)
    added = sorted(set(_events(client)) - set(before))
    assert added == ["crm_property_changed"] and _events(client).count("crm_property_changed") == 2
    stores = client.app.state.runtime.stores
    with unit_of_work(stores) as s:
        # The pulled view of 151 is kept: a webhook naming only the id does not blank the contact.
        record = store.find_source_record(s, "hubspot", "151")
        assert record is not None
        assert store.source_payload(s, record)["first_name"] == "Ada"
        [request] = s.info["compliance"].scalars(select(PrivacyRequest)).all()
        assert (request.type, request.requested_by, request.result["subject_found"]) == (
            "erasure",
            "connector:hubspot",
            True,
        )
    counted = (_count(client, Event), _count(client, SourceRecord))

    # Delivered again, and again with HubSpot's retry counter bumped: nothing new.
    again = _post(client)
    assert again.status_code == 200 and again.json()["privacy_requests"] == 0
    assert set(again.json()["counts"]) >= {"unchanged"} and again.json()["counts"]["unchanged"] == 4
    retried = json.dumps([{**e, "attemptNumber": 1} for e in json.loads(RAW)], separators=(",", ":")).encode()
    stamp = VECTOR["headers"][TIMESTAMP_HEADER]
    resp = _post(client, retried, **{SIGNATURE_HEADER: sign_v3(SECRET, "POST", URI, retried, stamp)})
    assert resp.status_code == 200 and resp.json()["counts"]["unchanged"] == 4
    assert (_count(client, Event), _count(client, SourceRecord)) == counted
    with unit_of_work(stores) as s:
        assert len(s.info["compliance"].scalars(select(PrivacyRequest)).all()) == 1


def test_without_a_configured_url_the_request_url_is_signed(hubspot_client: Callable[..., Any]) -> None:
    client = hubspot_client(url=None)
    url = "http://testserver/v1/webhooks/hubspot?portal=62515"
    stamp = VECTOR["headers"][TIMESTAMP_HEADER]
    resp = client.post(
        "/v1/webhooks/hubspot?portal=62515",
        content=RAW,
        headers={**VECTOR["headers"], SIGNATURE_HEADER: sign_v3(SECRET, "POST", url, RAW, stamp)},
    )
    assert resp.status_code == 200, resp.text


@pytest.mark.parametrize(
    ("case", "body", "now", "secret"),
    [
        ("tampered", RAW.replace(b"ada@", b"eve@"), SIGNED_AT, SECRET),
        ("stale", RAW, SIGNED_AT + dt.timedelta(minutes=6), SECRET),
        ("wrong-secret", RAW, SIGNED_AT, "not-the-client-secret"),
    ],
)
def test_refused_deliveries_are_audited_and_store_nothing(
    hubspot_client: Callable[..., Any], case: str, body: bytes, now: dt.datetime, secret: str
) -> None:
    client = hubspot_client(now=now, secret=secret)
    resp = _post(client, body)
    problem = assert_problem(resp, 401, type_="/problems/bad-signature", forbid=[SECRET, "ada@example.com"])
    assert problem["status"] == 401, case
    [denied] = audit_entries(client.app.state.runtime, "webhook.denied")
    assert (denied["actor_id"], denied["outcome"], denied["resource_id"]) == ("connector:hubspot", "denied", "hubspot")
    assert (_count(client, SourceRecord), _count(client, Event)) == (0, 0)
    with unit_of_work(client.app.state.runtime.stores) as s:
        assert s.info["compliance"].scalars(select(PrivacyRequest)).all() == []


def test_a_merge_is_an_event_on_the_surviving_contact() -> None:
    merge = {
        "eventId": 7,
        "subscriptionId": 1,
        "portalId": 62515,
        "appId": 54321,
        "occurredAt": 1763629500000,
        "subscriptionType": "contact.merge",
        "attemptNumber": 0,
        "objectId": 151,
        "primaryObjectId": 151,
        "mergedObjectIds": [152],
        "newObjectId": 151,
        "changeSource": "CRM_UI",
    }
    [row] = HubSpotWebhook().parse(json.dumps([merge]).encode(), {})
    assert row["external_id"] == "151"
    [event] = row["events"]
    assert (event["type"], event["properties"]["merged_object_ids"]) == ("crm_merged", ["152"])


def _signed(events: list[dict[str, Any]]) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(events, separators=(",", ":")).encode()
    stamp = VECTOR["headers"][TIMESTAMP_HEADER]
    return body, {**VECTOR["headers"], SIGNATURE_HEADER: sign_v3(SECRET, "POST", URI, body, stamp)}


def test_an_opt_out_by_webhook_withdraws_consent_for_the_stored_email_once(
    hubspot_client: Callable[..., Any],
) -> None:
    client = hubspot_client()
    _pull_known_contacts(client)
    optout = {**json.loads(RAW)[2], "objectId": 151, "eventId": 42}
    body, headers = _signed([optout])
    stores = client.app.state.runtime.stores

    def withdrawals() -> list[Any]:
        with unit_of_work(stores) as s:
            record = store.find_source_record(s, "hubspot", "151")
            assert record is not None
            rows = s.scalars(
                select(ConsentEvent).where(
                    ConsentEvent.profile_id == record.profile_id, ConsentEvent.status == "withdrawn"
                )
            ).all()
            email = next(i for i in store.identities_of(s, record.profile_id) if i.kind == "email")
            assert all(c.identity_id == email.id for c in rows)
            return [(c.purpose, c.method, c.occurred_at) for c in rows]

    assert client.post("/v1/webhooks/hubspot", content=body, headers=headers).json()["counts"]["updated"] == 1
    at = dt.datetime.fromtimestamp(optout["occurredAt"] / 1000, dt.UTC)
    assert withdrawals() == [("email_marketing", "crm_sync", at)]
    again = client.post("/v1/webhooks/hubspot", content=body, headers=headers)
    assert again.json()["counts"]["unchanged"] == 1
    # The pull then sees the flag: the same withdrawal, not a second one.
    ada = fixture("hubspot_contact_page.json")["results"][0]
    ada = {**ada, "properties": {**ada["properties"], "hs_email_optout": "true", "lastname": "King"}}
    with unit_of_work(stores) as s:
        ingest_batch(s, "hubspot", [map_contact(ada, ContactMap())], actor=Actor("test", "system"))
    assert withdrawals() == [("email_marketing", "crm_sync", at)]


def test_an_opt_out_for_a_contact_not_yet_pulled_is_quarantined(hubspot_client: Callable[..., Any]) -> None:
    client = hubspot_client()
    body, headers = _signed([{**json.loads(RAW)[2], "objectId": 999}])
    resp = client.post("/v1/webhooks/hubspot", content=body, headers=headers)
    assert resp.status_code == 200 and resp.json()["results"][0]["outcome"] == "quarantined"
    assert (_count(client, SourceRecord), _count(client, ConsentEvent)) == (0, 0)
