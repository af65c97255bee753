"""Mailchimp: the URL-secret check and the mapping of each webhook fixture (raw bodies as posted)."""

import datetime as dt
import hashlib
from typing import Any

import pytest

from cdp.connectors import BadSignature, get_webhook_source
from cdp.ingest.records import ContactRecord
from connectors.mailchimp import EventMap, MailchimpWebhook
from connectors.mailchimp.mapping import map_webhook
from tests.connectors.helpers import FIXTURES

NOW = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)


def raw(kind: str) -> bytes:
    return (FIXTURES / f"mailchimp_webhook_{kind}.txt").read_bytes()


def key(body: bytes) -> str:
    return "mailchimp:" + hashlib.sha256(body).hexdigest()


def mapped(kind: str, event_map: EventMap | None = None) -> list[dict[str, Any]]:
    records = map_webhook(raw(kind), event_map or EventMap())
    for record in records:
        ContactRecord.model_validate(record)
    return records


def test_registered() -> None:
    assert isinstance(get_webhook_source("mailchimp"), MailchimpWebhook)


def test_secret_in_query_verifies() -> None:
    MailchimpWebhook().verify({}, raw("subscribe"), NOW, secret="s3cret", query={"secret": "s3cret"})


@pytest.mark.parametrize(
    ("secret", "query"),
    [("s3cret", {"secret": "wrong"}), ("s3cret", {}), ("s3cret", {"secret": ""}), (None, {"secret": "s3cret"})],
    ids=["wrong", "missing", "empty", "unconfigured"],
)
def test_wrong_or_missing_secret_is_refused(secret: str | None, query: dict[str, str]) -> None:
    with pytest.raises(BadSignature) as exc:
        MailchimpWebhook().verify({}, raw("subscribe"), NOW, secret=secret, query=query)
    assert "s3cret" not in str(exc.value.detail)


def test_default_query_is_empty_and_refused() -> None:
    with pytest.raises(BadSignature):
        MailchimpWebhook().verify({}, raw("subscribe"), NOW, secret="s3cret")


def test_subscribe_grants_consent() -> None:
    [record] = mapped("subscribe")
    body = raw("subscribe")
    assert (record["source"], record["external_id"], record["email"]) == (
        "mailchimp",
        "member:8a25ff1d98",
        "ada.lovelace@example.com",
    )
    assert (record["first_name"], record["last_name"]) == ("Ada", "Lovelace")
    assert record["observed_at"] == "2026-11-20T09:20:02+00:00"
    assert record["attributes"] == {"mailchimp_interests": "Group1,Group2"}
    [consent] = record["consents"]
    assert consent == {
        "purpose": "email_marketing",
        "status": "granted",
        "occurred_at": "2026-11-20T09:20:02+00:00",
        "channel": "email",
        "method": "email_tool",
        "consent_type": "expressed",
        "indicated_by": "data_subject",
        "external_id": key(body) + ":granted",
        "proof": {"payload_sha256": hashlib.sha256(body).hexdigest(), "ip": "203.0.113.7"},
    }
    [event] = record["events"]
    assert (event["type"], event["external_id"], event["properties"]) == (
        "email_subscribed",
        key(body),
        {"list_id": "a6b5da1054"},
    )


def test_configured_purpose() -> None:
    [record] = mapped("subscribe", EventMap(marketing_purpose="newsletter"))
    assert record["consents"][0]["purpose"] == "newsletter"


def test_unsubscribe_withdraws_consent() -> None:
    [record] = mapped("unsubscribe")
    assert (record["external_id"], record["email"]) == ("member:9c1e0a2b3d", "grace.hopper@example.org")
    assert "first_name" not in record  # an unsubscribe changes consent, not the profile
    [consent] = record["consents"]
    assert (consent["status"], consent["purpose"], consent["indicated_by"]) == (
        "withdrawn",
        "email_marketing",
        "data_subject",
    )
    [event] = record["events"]
    assert event["type"] == "email_unsubscribed"
    assert event["properties"]["reason"] == "manual"
    assert event["properties"]["action"] == "unsub"


def test_an_admin_delete_is_a_list_removal_not_a_withdrawal() -> None:
    [record] = mapped("unsubscribe_delete")
    assert record["consents"] == []
    [event] = record["events"]
    assert (event["type"], event["properties"]["action"]) == ("email_list_removed", "delete")


def test_abuse_unsubscribe_is_also_an_objection() -> None:
    body = raw("unsubscribe").replace(b"reason%5D=manual", b"reason%5D=abuse")
    [record] = map_webhook(body, EventMap())
    assert [c["status"] for c in record["consents"]] == ["withdrawn", "objected"]
    assert len({c["external_id"] for c in record["consents"]}) == 2


def test_profile_updates_merge_fields_only() -> None:
    [record] = mapped("profile")
    assert (record["external_id"], record["first_name"], record["last_name"]) == ("member:8a25ff1d98", "Ada", "King")
    assert record["attributes"] == {"mailchimp_interests": "Group1"}
    assert record["consents"] == [] and record["events"] == []


def test_upemail_never_shows_the_old_address() -> None:
    [record] = mapped("upemail")
    assert (record["external_id"], record["email"]) == ("member:51da8c3259", "ada@example.com")
    [event] = record["events"]
    assert event["type"] == "email_address_changed"
    assert event["properties"] == {
        "list_id": "a6b5da1054",
        "old_email_sha256": hashlib.sha256(b"ada.lovelace@example.com").hexdigest(),
    }
    assert "ada.lovelace" not in repr(record)
    assert record["consents"] == []


def test_cleaned_is_undeliverable() -> None:
    [record] = mapped("cleaned")
    email = "bounced@example.net"
    assert (record["external_id"], record["email"]) == (
        "email-sha256:" + hashlib.sha256(email.encode()).hexdigest(),
        email,
    )
    [event] = record["events"]
    assert (event["type"], event["properties"]["reason"]) == ("email_undeliverable", "hard")
    assert record["consents"] == []


def test_campaign_is_ignored() -> None:
    assert mapped("campaign") == []


@pytest.mark.parametrize(
    "body",
    [
        b"fired_at=2026-11-20+09%3A20%3A02",
        b"type=subscribe&fired_at=yesterday&data%5Bemail%5D=a%40b.c",
        b"type=subscribe&fired_at=2026-11-20+09%3A20%3A02",
        b"\xff\xfe",
    ],
    ids=["no-type", "bad-fired-at", "no-email", "not-utf8"],
)
def test_unreadable_bodies_raise_value_error(body: bytes) -> None:
    with pytest.raises(ValueError):
        map_webhook(body, EventMap())
