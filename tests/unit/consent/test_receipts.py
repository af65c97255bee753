"""Consent receipts from real ledger events: both schemas, DPV mapping, withdrawal, no personal data."""

import datetime as dt
import json
import uuid

import pytest

from cdp.audit.log import SYSTEM
from cdp.consent.errors import ConsentRecordNotFound
from cdp.consent.ledger import change_consent, record_consent
from cdp.consent.receipts import DPV, GDPR, Controller, kantara_view, receipt_27560
from cdp.ingest.pipeline import ingest_batch
from cdp.profiles import store
from cdp.profiles.models import Profile
from tests.factories import contact_row
from tests.receipt_schemas import KANTARA_V1_1, RECEIPT_27560, assert_valid

T = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
EMAIL = "receipt.person@acme.example"
PHONE = "+44 20 7946 0321"
FIRST, LAST = "Rosalind", "Receiptington"
PROOF = {"ip": "192.0.2.77", "user_agent": "ReceiptAgent/1.0", "page_url": "https://example.com/signup"}
CONTROLLER = Controller(
    name="Acme Ltd", email="privacy@acme.example", phone="+44 20 0000 0000", address="1 Acme Way, London",
    url="https://acme.example/privacy",
)  # fmt: skip


@pytest.fixture
def person(session):
    row = contact_row(email=EMAIL, phone=PHONE, first_name=FIRST, last_name=LAST)
    result = ingest_batch(session, "crm", [row], actor=SYSTEM).results[0]
    profile = session.get(Profile, result.profile_id)
    ids = {i.kind: i for i in store.identities_of(session, profile.id)}
    return profile, ids["email"]


def _grant(session, profile, email, at=T, **kw):
    return record_consent(
        session,
        profile_id=profile.id,
        identity_id=email.id,
        purpose="email_marketing",
        status="granted",
        occurred_at=at,
        source="webform:signup",
        method="web_form",
        consent_type="explicitly_expressed",
        proof=PROOF,
        **kw,
    )


def _withdraw(session, profile, email, at):
    [event] = change_consent(
        session,
        profile.id,
        identity=email,
        actor=SYSTEM,
        purpose="email_marketing",
        status="withdrawn",
        occurred_at=at,
        method="one_click_unsubscribe",
        source="email_tool",
    )
    return event


def _no_personal_data(document) -> None:
    text = json.dumps(document).lower()
    for value in (EMAIL, "receipt.person", PHONE, PHONE.replace(" ", ""), "79460321", FIRST, LAST, *PROOF.values()):
        assert value.lower() not in text, f"receipt carries {value!r}"


def test_a_grant_gives_a_valid_27560_receipt_with_dpv_terms(session, person):
    profile, email = person
    event = _grant(session, profile, email)
    receipt = receipt_27560(session, event.record_id, now=T + dt.timedelta(days=1), controller=CONTROLLER)

    assert_valid(RECEIPT_27560, receipt)
    header = receipt["header"]
    assert receipt["schema_version"] == header["schema_version"] == "cdp-27560/1"
    assert uuid.UUID(header["receipt_id"]).version == 4
    assert header["record_id"] == str(event.record_id)
    assert header["pii_principal_id"] == str(profile.id)
    processing = receipt["processing"]
    assert processing["purpose"]["purpose_iri"] == DPV + "DirectMarketing"
    assert processing["lawful_basis"] == {"id": "consent", "iris": [DPV + "Consent", GDPR + "A6-1-a"]}
    assert [c["iri"] for c in processing["personal_data"]] == [
        "https://w3id.org/dpv/pd#EmailAddress",
        "https://w3id.org/dpv/pd#Name",
    ]
    assert processing["recipients"] == ["mailchimp", "sendgrid"]
    assert processing["jurisdictions"] == ["EU", "UK"]
    assert processing["contact_point"] == {"id": str(email.id), "kind": "email"}
    assert processing["notice"]["id"] == "newsletter-signup" and processing["notice"]["version"] == "3"
    assert receipt["parties"][0]["name"] == "Acme Ltd"
    [entry] = receipt["events"]
    assert entry["status_iri"] == DPV + "ConsentGiven"
    assert entry["consent_type_iri"] == DPV + "ExplicitlyExpressedConsent"
    assert entry["has_proof"] is True and entry["method"] == "web_form"
    assert receipt["status"]["state"] == "granted"
    _no_personal_data(receipt)


def test_each_issuance_has_its_own_receipt_id(session, person):
    profile, email = person
    event = _grant(session, profile, email)
    first = receipt_27560(session, event.record_id, now=T)
    second = receipt_27560(session, event.record_id, now=T)
    assert first["header"]["receipt_id"] != second["header"]["receipt_id"]
    assert first["header"]["record_id"] == second["header"]["record_id"]


def test_a_withdrawn_consent_shows_the_withdrawal_event(session, person):
    profile, email = person
    grant = _grant(session, profile, email)
    withdrawal = _withdraw(session, profile, email, T + dt.timedelta(days=30))
    assert withdrawal.record_id == grant.record_id
    receipt = receipt_27560(session, grant.record_id, now=T + dt.timedelta(days=31), controller=CONTROLLER)

    assert_valid(RECEIPT_27560, receipt)
    assert [(e["state"], e["status_iri"]) for e in receipt["events"]] == [
        ("granted", DPV + "ConsentGiven"),
        ("withdrawn", DPV + "ConsentWithdrawn"),
    ]
    assert receipt["events"][1]["method"] == "one_click_unsubscribe"
    assert receipt["events"][1]["has_proof"] is False
    assert receipt["status"] == {
        "state": "withdrawn",
        "status_iri": DPV + "ConsentWithdrawn",
        "as_of": "2026-04-01T09:00:00Z",
        "event_id": str(withdrawal.id),
        "valid_until": None,
    }
    view = kantara_view(receipt)
    assert_valid(KANTARA_V1_1, view)
    assert view["collectionMethod"] == "one_click_unsubscribe"
    assert view["consentTimestamp"] == int((T + dt.timedelta(days=30)).timestamp())
    _no_personal_data(receipt)
    _no_personal_data(view)


def test_a_renewal_and_expiry_use_dpv_statuses(session, person):
    profile, email = person
    first = _grant(session, profile, email)
    _grant(session, profile, email, at=T + dt.timedelta(days=400))
    after_expiry = T + dt.timedelta(days=400) + dt.timedelta(days=800)
    receipt = receipt_27560(session, first.record_id, now=after_expiry)
    assert_valid(RECEIPT_27560, receipt)
    assert [e["status_iri"] for e in receipt["events"]] == [DPV + "ConsentGiven", DPV + "RenewedConsentGiven"]
    assert receipt["status"]["state"] == "expired"
    assert receipt["status"]["status_iri"] == DPV + "ConsentExpired"


def test_kantara_view_is_a_valid_v1_1_receipt(session, person):
    profile, email = person
    event = _grant(session, profile, email)
    receipt = receipt_27560(session, event.record_id, now=T, controller=CONTROLLER)
    view = kantara_view(receipt)

    assert_valid(KANTARA_V1_1, view)
    assert view["version"] == "KI-CR-v1.1.0"
    assert view["consentReceiptID"] == receipt["header"]["receipt_id"]
    assert view["piiPrincipalId"] == str(profile.id)
    assert view["consentTimestamp"] == int(T.timestamp())
    assert view["jurisdiction"] == "EU, UK"
    assert view["policyUrl"] == "https://example.com/privacy#newsletter"
    [controller] = view["piiControllers"]
    assert controller["piiController"] == "Acme Ltd" and controller["email"] == "privacy@acme.example"
    [service] = view["services"]
    [purpose] = service["purposes"]
    assert purpose["consentType"] == "EXPLICIT"
    assert purpose["purposeCategory"] == [DPV + "DirectMarketing"]
    assert purpose["thirdPartyDisclosure"] is True and purpose["thirdPartyName"] == "mailchimp, sendgrid"
    assert "P24M" in purpose["termination"]
    assert view["sensitive"] is False and view["spiCat"] == []
    _no_personal_data(view)


def test_a_receipt_with_default_controller_settings_still_validates(session, person):
    profile, email = person
    event = _grant(session, profile, email)
    receipt = receipt_27560(session, event.record_id, now=T)
    assert_valid(RECEIPT_27560, receipt)
    assert_valid(KANTARA_V1_1, kantara_view(receipt))


def test_an_unknown_record_is_not_found(session):
    with pytest.raises(ConsentRecordNotFound):
        receipt_27560(session, uuid.uuid4(), now=T)
