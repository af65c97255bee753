"""POST /v1/webhooks/{connector}: the tool's signature over the raw body is the credential."""

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from sqlmodel import col, func, select

from cdp.consent.models import ConsentEvent
from cdp.db import unit_of_work
from cdp.profiles.models import Event, SourceRecord
from tests.api.helpers import assert_problem, audit_entries
from tests.connectors.helpers import fixture

TYPEFORM = fixture("typeform_signature.json")
SENDGRID = fixture("sendgrid_events_signed.json")
SENDGRID_AT = dt.datetime.fromtimestamp(int(SENDGRID["headers"]["X-Twilio-Email-Event-Webhook-Timestamp"]), dt.UTC)
SECRETS = {"typeform": TYPEFORM["secret"], "sendgrid": SENDGRID["public_key"]}


def _count(client: Any, model: Any, source: str) -> int:
    with unit_of_work(client.app.state.runtime.stores) as session:
        return int(session.scalar(select(func.count()).select_from(model).where(col(model.source) == source)) or 0)


def _event_types(client: Any, source: str) -> list[str]:
    with unit_of_work(client.app.state.runtime.stores) as session:
        return sorted(session.scalars(select(Event.type).where(Event.source == source)).all())


def _post(client: Any, connector: str, vector: dict[str, Any], body: bytes | None = None, **headers: str) -> Any:
    raw = vector["raw_body"].encode() if body is None else body
    return client.post(f"/v1/webhooks/{connector}", content=raw, headers={**vector["headers"], **headers})


def _assert_refused(client: Any, resp: Any, connector: str) -> None:
    body = assert_problem(resp, 401, type_="/problems/bad-signature", forbid=[SECRETS[connector]])
    assert "secret" not in body or body["secret"] != SECRETS[connector]
    [denied] = audit_entries(client.app.state.runtime, "webhook.denied")
    assert (denied["actor_id"], denied["outcome"], denied["resource_id"]) == (
        f"connector:{connector}",
        "denied",
        connector,
    )
    assert _count(client, SourceRecord, connector) == 0
    assert _count(client, Event, connector) == 0
    assert _count(client, ConsentEvent, connector) == 0


def test_typeform_response_is_ingested_once(webhook_client: Callable[..., Any]) -> None:
    client = webhook_client(SECRETS)
    resp = _post(client, "typeform", TYPEFORM)
    assert resp.status_code == 200, resp.text
    assert resp.json()["counts"]["created"] == 1
    with unit_of_work(client.app.state.runtime.stores) as session:
        [consent] = session.scalars(select(ConsentEvent).where(ConsentEvent.source == "typeform")).all()
        assert (consent.purpose, consent.status, consent.method, consent.has_proof) == (
            "email_marketing",
            "granted",
            "web_form",
            True,
        )
        assert consent.actor == "connector:typeform"
    assert _event_types(client, "typeform") == ["form_submitted", "source_record_created"]

    again = _post(client, "typeform", TYPEFORM)
    assert again.status_code == 200, again.text
    assert again.json()["counts"]["unchanged"] == 1
    assert _event_types(client, "typeform") == ["form_submitted", "source_record_created"]
    assert _count(client, ConsentEvent, "typeform") == 1


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        (TYPEFORM["raw_body"].replace("Ada", "Eve").encode(), {}),
        (None, {"Typeform-Signature": "sha256=AAAA"}),
        (None, {"Typeform-Signature": ""}),
    ],
    ids=["tampered", "wrong-signature", "empty-signature"],
)
def test_typeform_bad_signature_is_refused_and_audited(
    webhook_client: Callable[..., Any], body: bytes | None, headers: dict[str, str]
) -> None:
    client = webhook_client(SECRETS)
    _assert_refused(client, _post(client, "typeform", TYPEFORM, body, **headers), "typeform")


def test_unconfigured_connector_is_refused(webhook_client: Callable[..., Any]) -> None:
    client = webhook_client({})
    _assert_refused(client, _post(client, "typeform", TYPEFORM), "typeform")


def test_unknown_connector_is_404(webhook_client: Callable[..., Any]) -> None:
    client = webhook_client(SECRETS)
    assert_problem(client.post("/v1/webhooks/nosuchtool", content=b"{}"), 404)


def test_signed_but_unreadable_body_is_422(webhook_client: Callable[..., Any]) -> None:
    from connectors.typeform.webhooks import sign

    client = webhook_client(SECRETS)
    raw = b"[not json"
    resp = client.post(
        "/v1/webhooks/typeform", content=raw, headers={"Typeform-Signature": sign(TYPEFORM["secret"], raw)}
    )
    assert_problem(resp, 422)


def test_sendgrid_unsubscribes_withdraw_consent_once(webhook_client: Callable[..., Any]) -> None:
    client = webhook_client(SECRETS, now=SENDGRID_AT + dt.timedelta(seconds=5))
    resp = _post(client, "sendgrid", SENDGRID)
    assert resp.status_code == 200, resp.text
    assert resp.json()["counts"]["created"] == 2, resp.json()
    with unit_of_work(client.app.state.runtime.stores) as session:
        consents = session.scalars(select(ConsentEvent).where(ConsentEvent.source == "sendgrid")).all()
        assert sorted((c.purpose, c.status, c.method) for c in consents) == [
            ("email_marketing", "withdrawn", "email_tool"),
            ("email_marketing", "withdrawn", "email_tool"),
        ]
        assert {c.actor for c in consents} == {"connector:sendgrid"}
    events = _event_types(client, "sendgrid")
    assert [t for t in events if t.startswith("email_")] == [
        "email_group_resubscribed",
        "email_group_unsubscribed",
        "email_unsubscribed",
    ]

    again = _post(client, "sendgrid", SENDGRID)
    assert again.status_code == 200, again.text
    assert _event_types(client, "sendgrid") == events
    assert _count(client, ConsentEvent, "sendgrid") == 2


@pytest.mark.parametrize(
    ("body", "now"),
    [
        (SENDGRID["raw_body"].replace("grace", "grave").encode(), SENDGRID_AT),
        (None, SENDGRID_AT + dt.timedelta(seconds=301)),
    ],
    ids=["tampered", "stale"],
)
def test_sendgrid_bad_signature_or_stale_timestamp_is_refused(
    webhook_client: Callable[..., Any], body: bytes | None, now: dt.datetime
) -> None:
    client = webhook_client(SECRETS, now=now)
    _assert_refused(client, _post(client, "sendgrid", SENDGRID, body), "sendgrid")
