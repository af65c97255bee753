"""Consents inside ContactRecords: checked against the purpose catalog before anything is stored."""

import json

import pytest
from sqlmodel import select

from cdp.audit.log import SYSTEM
from cdp.consent.models import ConsentEvent, ConsentState
from cdp.ingest.models import Quarantine
from cdp.ingest.pipeline import ingest_batch
from tests.factories import contact_row

SECRET = "SECRET-PURPOSE-123"
GRANT = {"purpose": "email_marketing", "status": "granted", "occurred_at": "2026-01-01T00:00:00Z"}


@pytest.mark.parametrize(
    ("consent", "field", "type_"),
    [
        ({**GRANT, "purpose": SECRET}, "consents.0.purpose", "unknown_purpose"),
        ({**GRANT, "consent_type": "implied"}, "consents.0.consent_type", "consent_type_not_accepted"),
        ({**GRANT, "purpose": "sms_marketing"}, "consents.0.channel", "channel_not_covered"),
        ({**GRANT, "notice_id": SECRET, "notice_version": "1"}, "consents.0.notice_id", "unknown_notice"),
        ({**GRANT, "occurred_at": "2023-01-01T00:00:00Z"}, "consents.0.notice_id", "no_notice_in_force"),
        ({**GRANT, "lawful_basis": "contract"}, "consents.0.lawful_basis", "lawful_basis_mismatch"),
    ],
)
def test_a_row_with_an_invalid_consent_is_quarantined_with_a_reason_that_does_not_echo_it(
    session, consent, field, type_
):
    result = ingest_batch(session, "crm", [contact_row(consents=[consent])], actor=SYSTEM).results[0]
    assert result.outcome == "quarantined"
    assert [(r["field"], r["type"]) for r in result.reasons] == [(field, type_)]
    assert SECRET not in json.dumps(result.reasons)
    assert session.scalars(select(Quarantine)).one().reasons == result.reasons
    assert session.scalars(select(ConsentEvent)).all() == []


def test_new_fields_reach_the_ledger_on_the_batch_path_and_the_record_path(session):
    consent = {
        **GRANT,
        "method": "double_opt_in_confirm",
        "consent_type": "explicitly_expressed",
        "indicated_by": "data_subject",
        "language": "en-GB",
        "proof": {"ip": "192.0.2.1"},
    }
    row = contact_row(external_id="w-1", consents=[consent])
    first = ingest_batch(session, "webform", [row], actor=SYSTEM)
    later = {**consent, "occurred_at": "2026-02-01T00:00:00Z"}
    again = ingest_batch(session, "webform", [{**row, "first_name": "Changed", "consents": [later]}], actor=SYSTEM)
    assert [first.results[0].outcome, again.results[0].outcome] == ["created", "updated"]
    events = session.scalars(select(ConsentEvent).order_by(ConsentEvent.occurred_at)).all()
    assert [(e.consent_type, e.indicated_by, e.language, e.method, e.actor, e.notice_version) for e in events] == [
        ("explicitly_expressed", "data_subject", "en-GB", "double_opt_in_confirm", "system", "3")
    ] * 2
    assert len({e.record_id for e in events}) == 1


def test_older_payloads_without_the_new_fields_still_ingest(session):
    legacy = {**GRANT, "method": "email_tool", "lawful_basis": "consent", "jurisdiction": "GB"}
    result = ingest_batch(session, "email_tool", [contact_row(consents=[legacy])], actor=SYSTEM).results[0]
    assert result.outcome == "created"
    event = session.scalars(select(ConsentEvent)).one()
    assert (event.consent_type, event.notice_id, event.notice_version) == (None, "newsletter-signup", "3")


def test_an_objection_in_a_record_fans_out_to_every_direct_marketing_purpose(session):
    objection = {"purpose": "email_marketing", "status": "objected", "occurred_at": "2026-01-02T00:00:00Z"}
    result = ingest_batch(session, "crm", [contact_row(consents=[GRANT, objection])], actor=SYSTEM).results[0]
    states = session.scalars(select(ConsentState).where(ConsentState.profile_id == result.profile_id)).all()
    assert {s.purpose for s in states} == {
        "email_marketing",
        "sales_outreach",
        "customer_similar_products_email",
        "profiling",
        "ad_audience_sharing",
    }
    assert {s.status for s in states} == {"objected"}


def test_a_soft_opt_in_cannot_arrive_through_ingestion_which_has_no_sale_link(session):
    soft = {
        "purpose": "customer_similar_products_email",
        "status": "granted",
        "occurred_at": "2026-01-02T00:00:00Z",
        "consent_type": "soft_opt_in",
        "lawful_basis": "legitimate_interest",
        "proof": {"opt_out_offered": True},
    }
    result = ingest_batch(session, "shop", [contact_row(consents=[soft])], actor=SYSTEM).results[0]
    assert result.outcome == "quarantined"
    assert session.scalars(select(ConsentEvent)).all() == []
