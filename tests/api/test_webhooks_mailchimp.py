"""POST /v1/webhooks/mailchimp?secret=...: the URL secret is the credential; consent follows the audience."""

from collections.abc import Callable
from typing import Any

import pytest
from sqlmodel import col, func, select

from cdp.consent.models import ConsentEvent, ConsentState
from cdp.db import unit_of_work
from cdp.profiles.models import Event, SourceRecord
from tests.api.helpers import assert_problem, audit_entries
from tests.connectors.helpers import FIXTURES

SECRET = "mc-url-secret-0123456789"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def raw(kind: str) -> bytes:
    return (FIXTURES / f"mailchimp_webhook_{kind}.txt").read_bytes()


SUBSCRIBE = raw("subscribe")
# The same member (Ada) unsubscribing after she subscribed.
UNSUBSCRIBE = (
    raw("unsubscribe")
    .replace(b"grace.hopper%40example.org", b"ada.lovelace%40example.com")
    .replace(b"9c1e0a2b3d", b"8a25ff1d98")
    .replace(b"2026-11-20+08%3A01%3A55", b"2026-11-20+10%3A01%3A55")
)


def _post(client: Any, body: bytes, secret: str | None = SECRET) -> Any:
    url = "/v1/webhooks/mailchimp" + (f"?secret={secret}" if secret is not None else "")
    return client.post(url, content=body, headers=FORM)


def _count(client: Any, model: Any) -> int:
    with unit_of_work(client.app.state.runtime.stores) as session:
        stmt = select(func.count()).select_from(model).where(col(model.source) == "mailchimp")
        return int(session.scalar(stmt) or 0)


def _event_types(client: Any) -> list[str]:
    with unit_of_work(client.app.state.runtime.stores) as session:
        return sorted(session.scalars(select(Event.type).where(Event.source == "mailchimp")).all())


def test_subscribe_then_unsubscribe_withdraws(webhook_client: Callable[..., Any]) -> None:
    client = webhook_client({"mailchimp": SECRET})
    first = _post(client, SUBSCRIBE)
    assert first.status_code == 200, first.text
    assert first.json()["counts"]["created"] == 1
    profile_id = first.json()["results"][0]["profile_id"]
    with unit_of_work(client.app.state.runtime.stores) as session:
        [state] = session.scalars(select(ConsentState).where(col(ConsentState.purpose) == "email_marketing")).all()
        assert (str(state.profile_id), state.status) == (profile_id, "granted")

    second = _post(client, UNSUBSCRIBE)
    assert second.status_code == 200, second.text
    assert second.json()["results"][0]["profile_id"] == profile_id
    with unit_of_work(client.app.state.runtime.stores) as session:
        [state] = session.scalars(select(ConsentState).where(col(ConsentState.purpose) == "email_marketing")).all()
        assert (str(state.profile_id), state.status) == (profile_id, "withdrawn")
        consents = session.scalars(select(ConsentEvent).where(ConsentEvent.source == "mailchimp")).all()
        assert sorted((c.status, c.method, c.actor) for c in consents) == [
            ("granted", "email_tool", "connector:mailchimp"),
            ("withdrawn", "email_tool", "connector:mailchimp"),
        ]
    types = _event_types(client)
    assert {"email_subscribed", "email_unsubscribed"} <= set(types)


def test_redelivery_records_once(webhook_client: Callable[..., Any]) -> None:
    client = webhook_client({"mailchimp": SECRET})
    assert _post(client, SUBSCRIBE).status_code == 200
    events = _event_types(client)
    again = _post(client, SUBSCRIBE)
    assert again.status_code == 200, again.text
    assert again.json()["counts"]["unchanged"] == 1
    assert _event_types(client) == events
    assert events.count("email_subscribed") == 1
    assert _count(client, ConsentEvent) == 1


def test_campaign_is_accepted_and_ignored(webhook_client: Callable[..., Any]) -> None:
    client = webhook_client({"mailchimp": SECRET})
    resp = _post(client, raw("campaign"))
    assert resp.status_code == 200, resp.text
    assert resp.json()["results"] == []
    assert _count(client, SourceRecord) == 0


def test_unreadable_body_is_422(webhook_client: Callable[..., Any]) -> None:
    client = webhook_client({"mailchimp": SECRET})
    assert_problem(_post(client, b"type=subscribe&fired_at=never"), 422)


@pytest.mark.parametrize(
    ("configured", "secret"),
    [({"mailchimp": SECRET}, "wrong"), ({"mailchimp": SECRET}, None), ({}, SECRET)],
    ids=["wrong-secret", "no-secret", "unconfigured"],
)
def test_wrong_secret_is_refused_and_nothing_stored(
    webhook_client: Callable[..., Any], configured: dict[str, str], secret: str | None
) -> None:
    client = webhook_client(configured)
    resp = _post(client, SUBSCRIBE, secret)
    assert_problem(resp, 401, type_="/problems/bad-signature", forbid=[SECRET])
    [denied] = audit_entries(client.app.state.runtime, "webhook.denied")
    assert (denied["actor_id"], denied["outcome"], denied["resource_id"]) == (
        "connector:mailchimp",
        "denied",
        "mailchimp",
    )
    assert SECRET not in repr(denied)
    assert _count(client, SourceRecord) == 0
    assert _count(client, Event) == 0
    assert _count(client, ConsentEvent) == 0
