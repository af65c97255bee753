"""SendGrid: the official SDK vector, the signed delivery, replay window, and the event mapping."""

import datetime as dt
from typing import Any

import pytest

from cdp.connectors import BadSignature, get_webhook_source
from cdp.ingest.records import ContactRecord
from connectors.sendgrid import EventMap, SendGridWebhook
from connectors.sendgrid.mapping import map_events
from connectors.sendgrid.webhooks import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature
from tests.connectors.helpers import fixture

VECTOR = fixture("sendgrid_signature_vector.json")
SIGNED = fixture("sendgrid_events_signed.json")
RAW = SIGNED["raw_body"].encode()
SIGNED_AT = dt.datetime.fromtimestamp(int(SIGNED["headers"][TIMESTAMP_HEADER]), dt.UTC)


def test_registered() -> None:
    assert isinstance(get_webhook_source("sendgrid"), SendGridWebhook)


def test_official_vector() -> None:
    verify_signature(VECTOR["public_key"], VECTOR["signature"], VECTOR["timestamp"], VECTOR["payload"].encode())


@pytest.mark.parametrize("case", ["bad_timestamp", "bad_signature", "bad_public_key"])
def test_official_negative_cases(case: str) -> None:
    args = {"public_key": VECTOR["public_key"], "signature": VECTOR["signature"], "timestamp": VECTOR["timestamp"]}
    args[case.removeprefix("bad_")] = VECTOR["negative_cases"][case]
    with pytest.raises(BadSignature):
        verify_signature(args["public_key"], args["signature"], args["timestamp"], VECTOR["payload"].encode())


def test_signed_delivery_verifies_within_the_window() -> None:
    for now in (SIGNED_AT, SIGNED_AT + dt.timedelta(seconds=300), SIGNED_AT - dt.timedelta(seconds=300)):
        SendGridWebhook().verify(SIGNED["headers"], RAW, now, secret=SIGNED["public_key"])


def _headers(**changes: str | None) -> dict[str, str]:
    headers = dict(SIGNED["headers"])
    for key, value in changes.items():
        name = {"sig": SIGNATURE_HEADER, "ts": TIMESTAMP_HEADER}[key]
        if value is None:
            headers.pop(name)
        else:
            headers[name] = value
    return headers


@pytest.mark.parametrize(
    ("headers", "body", "now", "secret"),
    [
        (_headers(), RAW.replace(b"grace", b"grave"), SIGNED_AT, SIGNED["public_key"]),
        (_headers(), RAW.rstrip(b"\r\n"), SIGNED_AT, SIGNED["public_key"]),
        (_headers(), RAW, SIGNED_AT + dt.timedelta(seconds=301), SIGNED["public_key"]),
        (_headers(), RAW, SIGNED_AT - dt.timedelta(seconds=301), SIGNED["public_key"]),
        (_headers(ts=str(int(SIGNED_AT.timestamp()) + 1)), RAW, SIGNED_AT, SIGNED["public_key"]),
        (_headers(sig=None), RAW, SIGNED_AT, SIGNED["public_key"]),
        (_headers(ts=None), RAW, SIGNED_AT, SIGNED["public_key"]),
        (_headers(ts="soon"), RAW, SIGNED_AT, SIGNED["public_key"]),
        (_headers(sig="%%%"), RAW, SIGNED_AT, SIGNED["public_key"]),
        (_headers(), RAW, SIGNED_AT, VECTOR["negative_cases"]["bad_public_key"]),
        (_headers(), RAW, SIGNED_AT, "not a key"),
        (_headers(), RAW, SIGNED_AT, None),
    ],
    ids=[
        "tampered",
        "crlf-stripped",
        "stale",
        "future",
        "timestamp-changed",
        "no-signature",
        "no-timestamp",
        "bad-timestamp",
        "garbage-signature",
        "other-key",
        "bad-key",
        "no-key",
    ],
)
def test_refused(headers: dict[str, str], body: bytes, now: dt.datetime, secret: str | None) -> None:
    with pytest.raises(BadSignature):
        SendGridWebhook().verify(headers, body, now, secret=secret)


def _by_email(rows: list[dict[str, Any]]) -> dict[str, ContactRecord]:
    records = [ContactRecord.model_validate(r) for r in rows]
    return {r.email or "": r for r in records}


def test_mapping_of_every_event_kind() -> None:
    events = fixture("sendgrid_events.json")
    records = _by_email(map_events(events, EventMap(group_purposes={10: "sales_outreach"})))
    ada = records["ada.lovelace@example.com"]
    assert [e.type for e in ada.events] == ["email_processed", "email_delivered", "email_opened", "email_clicked"]
    assert ada.consents == []
    assert ada.events[2].properties["sg_machine_open"] is False
    assert {e.external_id for e in ada.events} == {f"sendgrid:{e['sg_event_id']}" for e in events[:4]}
    assert ada.external_id.startswith("email-sha256:") and "@" not in ada.external_id

    bounced = records["bounced@example.net"]
    assert [e.type for e in bounced.events] == ["email_bounced", "email_undeliverable"]
    assert [e.type for e in records["suppressed@example.com"].events] == ["email_dropped"]

    grace = records["grace.hopper@example.org"]
    assert [(c.purpose, c.status, c.method) for c in grace.consents] == [
        ("email_marketing", "withdrawn", "email_tool"),
        ("email_marketing", "objected", "email_tool"),
        ("email_marketing", "withdrawn", "email_tool"),
    ]
    assert len({c.external_id for c in grace.consents}) == 3

    alan = records["alan.turing@example.net"]
    assert [(c.purpose, c.status) for c in alan.consents] == [
        ("sales_outreach", "withdrawn"),
        ("sales_outreach", "granted"),
    ]
    assert alan.consents[0].proof is not None and alan.consents[0].proof.ip == "198.51.100.40"


def test_unmapped_groups_use_the_marketing_purpose_and_ignore_resubscribes() -> None:
    events = [e for e in fixture("sendgrid_events.json") if e["event"].startswith("group_")]
    [alan] = _by_email(map_events(events, EventMap(marketing_purpose="newsletter"))).values()
    assert [(c.purpose, c.status) for c in alan.consents] == [("newsletter", "withdrawn")]


def test_a_blocked_bounce_is_not_undeliverable() -> None:
    event = {
        "email": "a@example.com",
        "timestamp": 1763629210,
        "event": "bounce",
        "sg_event_id": "b1",
        "type": "blocked",
    }
    [row] = map_events([event], EventMap())
    assert [e["type"] for e in row["events"]] == ["email_bounced"]


def test_events_without_address_or_id_are_skipped() -> None:
    events = [{"timestamp": 1, "event": "open", "sg_event_id": "x"}, {"email": "a@example.com", "event": "open"}]
    assert map_events(events, EventMap()) == []
