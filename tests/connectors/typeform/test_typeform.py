"""Typeform: the signature vector, a tampered body, and the form_response mapping."""

import datetime as dt
import json

import pytest

from cdp.connectors import BadSignature, get_webhook_source
from cdp.ingest.records import ContactRecord
from connectors.typeform import FieldMap, TypeformWebhook
from connectors.typeform.webhooks import sign
from tests.connectors.helpers import fixture

VECTOR = fixture("typeform_signature.json")
RAW = VECTOR["raw_body"].encode()
NOW = dt.datetime(2026, 11, 20, 11, 5, tzinfo=dt.UTC)


def test_registered() -> None:
    assert isinstance(get_webhook_source("typeform"), TypeformWebhook)


def test_vector_verifies() -> None:
    assert sign(VECTOR["secret"], RAW) == VECTOR["headers"]["Typeform-Signature"]
    TypeformWebhook().verify(VECTOR["headers"], RAW, NOW, secret=VECTOR["secret"])


@pytest.mark.parametrize(
    ("body", "header", "secret"),
    [
        (RAW.replace(b"Ada", b"Eve"), VECTOR["headers"]["Typeform-Signature"], VECTOR["secret"]),
        (RAW + b"\n", VECTOR["headers"]["Typeform-Signature"], VECTOR["secret"]),
        (RAW, VECTOR["headers"]["Typeform-Signature"], "another-secret"),
        (RAW, VECTOR["headers"]["Typeform-Signature"], None),
        (RAW, None, VECTOR["secret"]),
        (RAW, "sha256=not base64!", VECTOR["secret"]),
        (RAW, VECTOR["headers"]["Typeform-Signature"].removeprefix("sha256="), VECTOR["secret"]),
    ],
    ids=["tampered", "trailing-newline", "wrong-secret", "no-secret", "no-header", "garbage", "no-prefix"],
)
def test_refused(body: bytes, header: str | None, secret: str | None) -> None:
    headers = {"Typeform-Signature": header} if header else {}
    with pytest.raises(BadSignature):
        TypeformWebhook().verify(headers, body, NOW, secret=secret)


def test_parsed_body_equals_fixture() -> None:
    assert json.loads(RAW) == fixture("typeform_response.json")


def test_mapping() -> None:
    [row] = TypeformWebhook().parse(RAW, {})
    record = ContactRecord.model_validate(row)
    assert (record.email, record.phone) == ("ada.lovelace@example.com", "+442079460958")
    assert (record.first_name, record.last_name, record.company) == ("Ada", "Lovelace", "Northwind Traders")
    assert record.external_id == "response:9b2c6e1f0a8d4c3b7e5f1a2d3c4b5a69"
    assert record.attributes["hidden_utm_campaign"] == "q4-webinar"
    # Only the ticked box is a grant; the unticked yes/no records nothing.
    [consent] = record.consents
    assert (consent.purpose, consent.status, consent.method) == ("email_marketing", "granted", "web_form")
    assert consent.occurred_at == dt.datetime(2026, 11, 20, 11, 4, 9, tzinfo=dt.UTC)
    assert consent.proof is not None and consent.proof.payload_sha256 is not None
    assert consent.external_id == "typeform:9b2c6e1f0a8d4c3b7e5f1a2d3c4b5a69:consent_marketing_email"
    [event] = record.events
    assert (event.type, event.external_id) == ("form_submitted", "typeform:01JD40K9XQ6Y3M2T8R5V7W1ZAB")
    assert event.properties["form_id"] == "lT4Z3j"


def test_field_map_is_configurable() -> None:
    field_map = FieldMap(contact={"email": "email", "company": "job_title"}, consents={"consent_sales_contact": "x"})
    [row] = TypeformWebhook(field_map).parse(RAW, {})
    assert row["job_title"] == "Northwind Traders"
    assert "first_name" not in row and row["attributes"]["typeform_first_name"] == "Ada"
    assert row["consents"] == []  # the sales question was answered "no"; the marketing box is no longer a consent


def test_partial_responses_record_nothing() -> None:
    body = json.dumps({"event_id": "x", "event_type": "form_response_partial", "form_response": {}}).encode()
    assert TypeformWebhook().parse(body, {}) == []
