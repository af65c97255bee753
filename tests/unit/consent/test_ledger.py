"""The ledger on a real database: catalog checks, 27560 fields, live state, objection fan-out, GPC, expiry."""

import datetime as dt

import pytest
from sqlmodel import select

from cdp.audit.log import SYSTEM
from cdp.audit.models import AuditEntry
from cdp.consent.errors import InvalidConsent
from cdp.consent.fold import OBJECTION_STANDS, UNPROVEN_IMPORT
from cdp.consent.ledger import change_consent, record_consent, record_consent_events, record_gpc_signal
from cdp.consent.models import SCHEMA_VERSION, ConsentEvent, ConsentState
from cdp.consent.state import rebuild_states, states_as_of, states_of
from cdp.consent.views import profile_view
from cdp.crypto.envelope import vault
from cdp.ingest.pipeline import ingest_batch
from cdp.profiles import store
from cdp.profiles.models import Event, Profile
from tests.factories import contact_row

T = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)


def hours(n: float) -> dt.datetime:
    return T + dt.timedelta(hours=n)


@pytest.fixture
def person(session):
    """A profile with an email and a phone; returns (profile, email identity, phone identity)."""
    result = ingest_batch(
        session, "crm", [contact_row(email="ledger.person@acme.example", phone="+44 20 7946 0199")], actor=SYSTEM
    ).results[0]
    profile = session.get(Profile, result.profile_id)
    ids = {i.kind: i for i in store.identities_of(session, profile.id)}
    return profile, ids["email"], ids["phone"]


def record(session, profile, identity, purpose="email_marketing", status="granted", at=T, **kw):
    kw.setdefault("source", "api")
    kw.setdefault("method", "web_form")
    return record_consent(
        session,
        profile_id=profile.id,
        identity_id=identity.id if identity else None,
        purpose=purpose,
        status=status,
        occurred_at=at,
        **kw,
    )


def state(session, profile, identity, purpose="email_marketing"):
    return session.scalars(
        select(ConsentState).where(
            ConsentState.profile_id == profile.id,
            ConsentState.identity_id == (identity.id if identity else None),
            ConsentState.purpose == purpose,
        )
    ).one()


# --- 27560 fields ---------------------------------------------------------------------------------------


def test_event_carries_27560_fields_and_the_notice_in_force(session, person):
    profile, email, _ = person
    event = record(
        session, profile, email, consent_type="explicitly_expressed", indicated_by="data_subject", actor="k1"
    )
    assert event.schema_version == SCHEMA_VERSION == "cdp-27560/1"
    assert event.record_id.version == 4
    assert (event.notice_id, event.notice_version, event.language) == ("newsletter-signup", "3", "en")
    assert (event.consent_type, event.indicated_by, event.actor, event.lawful_basis) == (
        "explicitly_expressed",
        "data_subject",
        "k1",
        "consent",
    )
    assert event.ignored_reason is None


def test_notice_defaults_to_the_version_in_force_at_occurred_at(session, person):
    profile, email, _ = person
    event = record(session, profile, email, at=dt.datetime(2024, 6, 1, tzinfo=dt.UTC))
    assert (event.notice_id, event.notice_version) == ("newsletter-signup", "2")


def test_record_id_is_stable_per_subject_and_differs_across_contact_points_and_purposes(session, person):
    profile, email, phone = person
    a = record(session, profile, email)
    b = record(session, profile, email, status="withdrawn", at=hours(1))
    c = record(session, profile, phone, purpose="sms_marketing", consent_type="explicitly_expressed")
    d = record(session, profile, phone, purpose="sales_outreach")
    assert a.record_id == b.record_id == state(session, profile, email).record_id
    assert len({a.record_id, c.record_id, d.record_id}) == 3


def test_proof_is_encrypted_at_rest(session, person):
    profile, email, _ = person
    event = record(session, profile, email, proof={"ip": "192.0.2.7", "page_url": "https://example.com/signup"})
    assert event.has_proof and b"192.0.2.7" not in event.proof
    assert vault(session).decrypt_json(profile.id, event.proof, context="consent_event.proof")["ip"] == "192.0.2.7"


# --- validation against the catalog ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "code", "field"),
    [
        ({"purpose": "newsletter_of_doom"}, "unknown_purpose", "purpose"),
        ({"consent_type": "implied"}, "consent_type_not_accepted", "consent_type"),
        ({"purpose": "sms_marketing", "consent_type": "explicitly_expressed"}, "channel_not_covered", "channel"),
        ({"notice_id": "newsletter-signup", "notice_version": "99"}, "unknown_notice", "notice_version"),
        ({"notice_id": "someone-elses-notice", "notice_version": "1"}, "unknown_notice", "notice_id"),
        ({"notice_version": "3"}, "unknown_notice", "notice_id"),
        ({"notice_id": "newsletter-signup", "notice_version": "3", "at": dt.datetime(2024, 6, 1, tzinfo=dt.UTC)},
         "notice_not_in_force", "notice_version"),
        ({"at": dt.datetime(2023, 6, 1, tzinfo=dt.UTC)}, "no_notice_in_force", "notice_id"),
        ({"lawful_basis": "legitimate_interest"}, "lawful_basis_mismatch", "lawful_basis"),
        ({"method": "one_click_unsubscribe"}, "method_status_mismatch", "method"),
        ({"method": "gpc_signal"}, "method_status_mismatch", "method"),
    ],
)  # fmt: skip
def test_catalog_rejects(session, person, kwargs, code, field):
    profile, email, _ = person
    with pytest.raises(InvalidConsent) as caught:
        record(session, profile, email, **kwargs)
    assert (caught.value.code, caught.value.field) == (code, field)
    assert session.scalars(select(ConsentEvent)).all() == []


def test_unknown_purpose_is_named_and_known_ones_listed(session, person):
    profile, email, _ = person
    with pytest.raises(InvalidConsent) as caught:
        record(session, profile, email, purpose="newsletter_of_doom")
    assert "'newsletter_of_doom'" in caught.value.detail and "email_marketing" in caught.value.detail
    assert "newsletter_of_doom" not in caught.value.quiet_detail


def test_a_phone_contact_point_is_covered_by_an_sms_purpose(session, person):
    profile, _, phone = person
    assert record(session, profile, phone, purpose="sms_marketing", consent_type="explicitly_expressed")


def test_a_consent_tied_to_no_contact_point_needs_a_purpose_for_any_channel(session, person):
    profile, _, _ = person
    assert record(session, profile, None, purpose="profiling")
    with pytest.raises(InvalidConsent):
        record(session, profile, None, purpose="email_marketing")


def test_withdrawals_need_no_notice_and_any_consent_type(session, person):
    profile, email, _ = person
    event = record(session, profile, email, status="withdrawn", consent_type="implied", method="one_click_unsubscribe")
    assert event.notice_id is None


def test_duplicate_from_the_same_source_is_recorded_once(session, person):
    profile, email, _ = person
    assert record(session, profile, email, dedup_id="evt-1")
    assert record(session, profile, email, dedup_id="evt-1") is None
    assert len(session.scalars(select(ConsentEvent)).all()) == 1


# --- state: per contact point, live equals rebuild ---------------------------------------------------------


def test_consent_for_one_address_does_not_cover_another_of_the_same_person(session, person):
    profile, email, _ = person
    second = store.upsert_identity(
        session,
        profile,
        kind="email",
        normalized="ledger.person.work@acme.example",
        source="webform",
        trust="high",
        seen_at=T,
    )
    session.flush()
    record(session, profile, email)
    statuses = {s.identity_id: s.status for s in states_of(session, profile.id)}
    assert statuses == {email.id: "granted"}
    assert second.id not in statuses


def test_out_of_order_withdrawal_marks_a_stale_import_grant_ignored(session, person):
    profile, email, _ = person
    stale = record(session, profile, email, at=hours(2), method="crm_sync", source="crm")
    assert state(session, profile, email).status == "granted"
    withdrawal = record(session, profile, email, status="withdrawn", at=hours(1), method="one_click_unsubscribe")
    assert state(session, profile, email).status == "withdrawn"
    assert state(session, profile, email).event_id == withdrawal.id
    session.refresh(stale)
    assert stale.ignored_reason == UNPROVEN_IMPORT


def test_rebuild_states_equals_the_live_state(session, person):
    profile, email, phone = person
    record(session, profile, email, at=hours(0))
    record(session, profile, email, status="withdrawn", at=hours(3))
    record(session, profile, email, at=hours(4), method="csv_import", source="csv")
    record(session, profile, phone, purpose="sales_outreach", at=hours(1))
    live = sorted((s.identity_id, s.purpose, s.status, s.event_id, s.record_id) for s in states_of(session, profile.id))
    rebuild_states(session, profile.id)
    rebuilt = sorted(
        (s.identity_id, s.purpose, s.status, s.event_id, s.record_id) for s in states_of(session, profile.id)
    )
    assert rebuilt == live


# --- expiry (the issue's done-when) -----------------------------------------------------------------------


def test_an_expired_consent_drops_the_person_from_consent_state(session, person):
    profile, email, _ = person
    record(session, profile, email, at=dt.datetime(2025, 1, 10, tzinfo=dt.UTC))  # email_marketing: P24M
    before = dt.datetime(2027, 1, 9, tzinfo=dt.UTC)
    after = dt.datetime(2027, 1, 11, tzinfo=dt.UTC)

    assert state(session, profile, email).expires_at == dt.datetime(2027, 1, 10, tzinfo=dt.UTC)
    assert [c.status for c in profile_view(session, profile, now=before).consents] == ["granted"]
    assert [i.kind for i in profile_view(session, profile, consented_only=True, now=before).identities] == ["email"]

    assert [c.status for c in profile_view(session, profile, now=after).consents] == ["expired"]
    marketing = profile_view(session, profile, consented_only=True, now=after)
    assert marketing.identities == [] and marketing.consents == []
    assert [s.status for s in states_as_of(session, profile.id, after)] == ["expired"]


def test_an_explicit_expiry_sooner_than_the_validity_wins(session, person):
    profile, email, _ = person
    record(session, profile, email, expires_at=hours(24))
    assert state(session, profile, email).expires_at == hours(24)
    assert [s.status for s in states_as_of(session, profile.id, hours(25))] == ["expired"]


def test_state_as_of_a_moment_before_a_withdrawal(session, person):
    profile, email, _ = person
    record(session, profile, email, at=hours(0))
    record(session, profile, email, status="withdrawn", at=hours(5))
    assert [s.status for s in states_as_of(session, profile.id, hours(1))] == ["granted"]
    assert [s.status for s in states_as_of(session, profile.id, hours(6))] == ["withdrawn"]
    assert states_as_of(session, profile.id, hours(-1)) == []


# --- objection (Art. 21) -----------------------------------------------------------------------------------


def test_objection_covers_every_direct_marketing_purpose_and_contact_point(session, person):
    profile, email, phone = person
    record(session, profile, email, at=hours(0))
    events = record_consent_events(
        session,
        profile_id=profile.id,
        identity_id=email.id,
        purpose="email_marketing",
        status="objected",
        occurred_at=hours(1),
        source="api",
        method="api",
    )
    subjects = {(e.identity_id, e.purpose) for e in events}
    assert subjects == {
        (email.id, "email_marketing"),
        (phone.id, "sms_marketing"),
        (email.id, "sales_outreach"),
        (phone.id, "sales_outreach"),
        (email.id, "customer_similar_products_email"),  # a soft opt-in is direct marketing too
        (email.id, "profiling"),
        (phone.id, "profiling"),
        (None, "profiling"),
        (email.id, "ad_audience_sharing"),
        (phone.id, "ad_audience_sharing"),
        (None, "ad_audience_sharing"),
    }
    assert {s.status for s in states_of(session, profile.id)} == {"objected"}
    assert "customer_service" not in {s.purpose for s in states_of(session, profile.id)}


def test_objection_to_a_purpose_that_is_not_direct_marketing_stays_put(session, person):
    profile, email, _ = person
    events = record_consent_events(
        session,
        profile_id=profile.id,
        identity_id=email.id,
        purpose="analytics",
        status="objected",
        occurred_at=T,
        source="api",
        method="api",
    )
    assert [(e.purpose, e.identity_id) for e in events] == [("analytics", email.id)]


def test_after_objection_an_earlier_import_is_ignored_and_new_proven_consent_is_honoured(session, person):
    profile, email, _ = person
    record(session, profile, email, status="objected", at=hours(1), method="api")
    old = record(session, profile, email, at=hours(0), method="crm_sync", source="crm")
    assert state(session, profile, email).status == "objected"
    unproven = record(session, profile, email, at=hours(2), method="web_form")
    assert state(session, profile, email).status == "objected"
    session.refresh(unproven)
    assert unproven.ignored_reason == OBJECTION_STANDS
    assert old.ignored_reason is None  # it came before the objection: simply superseded
    fresh = record(session, profile, email, at=hours(3), method="double_opt_in_confirm", proof={"ip": "192.0.2.1"})
    assert state(session, profile, email).event_id == fresh.id
    assert state(session, profile, email).status == "granted"


# --- GPC ---------------------------------------------------------------------------------------------------


def test_gpc_signal_refuses_every_sale_share_and_profiling_purpose(session, person):
    profile, email, _ = person
    events = record_gpc_signal(session, profile.id, email.id, T, "webform:contact", {"ip": "192.0.2.9"})
    assert sorted(e.purpose for e in events) == ["ad_audience_sharing", "profiling"]
    assert {(e.status, e.method, e.identity_id, e.has_proof) for e in events} == {
        ("denied", "gpc_signal", email.id, True)
    }
    assert {s.purpose: s.status for s in states_of(session, profile.id)} == {
        "ad_audience_sharing": "denied",
        "profiling": "denied",
    }
    timeline = session.scalars(select(Event).where(Event.profile_id == profile.id, Event.type == "consent_changed"))
    assert len(list(timeline)) == 2


def test_an_unproven_crm_grant_does_not_undo_a_gpc_refusal(session, person):
    profile, email, _ = person
    record_gpc_signal(session, profile.id, email.id, hours(0), "webform:contact", None)
    record(session, profile, email, purpose="ad_audience_sharing", at=hours(1), method="crm_sync", source="crm")
    assert state(session, profile, email, "ad_audience_sharing").status == "denied"


# --- changes through the API path: timeline and audit -------------------------------------------------------


def test_a_change_writes_an_encrypted_timeline_event_and_an_audit_entry_without_the_address(session, person):
    profile, email, _ = person
    events = change_consent(
        session,
        profile.id,
        identity=email,
        actor=SYSTEM,
        purpose="email_marketing",
        status="granted",
        occurred_at=T,
        source="api",
        method="api",
        consent_type="expressed",
    )
    timeline = session.scalars(
        select(Event).where(Event.profile_id == profile.id, Event.type == "consent_changed")
    ).one()
    assert b"email_marketing" not in (timeline.properties or b"")
    props = vault(session).decrypt_json(profile.id, timeline.properties, context=store.EVENT_PROPERTIES)
    assert props["consent_event_id"] == str(events[0].id) and props["status"] == "granted"
    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "consent.recorded")).one()
    assert entry.resource_id == str(profile.id)
    assert entry.details["consent_event_ids"] == [str(events[0].id)]
    assert "ledger.person" not in str(entry.details)


# --- soft opt-in (COMPLIANCE 7.10) -----------------------------------------------------------------------


def test_a_soft_opt_in_links_to_a_sale_and_ends_with_an_unsubscribe(session, person):
    profile, email, _ = person
    sale = store.add_event(session, profile, type="sale_negotiated", occurred_at=hours(-1), source="crm", dedup_id=None)
    session.flush()
    soft = {
        "purpose": "customer_similar_products_email",
        "consent_type": "soft_opt_in",
        "proof": {"opt_out_offered": True},
    }
    granted = record(session, profile, email, at=hours(0), linked_event_id=sale.id, **soft)
    assert granted.linked_event_id == sale.id and state(session, profile, email, soft["purpose"]).status == "granted"
    record(session, profile, email, soft["purpose"], "withdrawn", at=hours(1), method="one_click_unsubscribe")
    again = record(session, profile, email, at=hours(2), linked_event_id=sale.id, **soft)
    assert again.ignored_reason == "soft_opt_in_ended_by_opt_out"
    assert state(session, profile, email, soft["purpose"]).status == "withdrawn"


def test_a_soft_opt_in_linked_to_a_non_sale_event_is_refused(session, person):
    profile, email, _ = person
    visit = store.add_event(session, profile, type="email_opened", occurred_at=hours(-1), source="crm", dedup_id=None)
    session.flush()
    with pytest.raises(InvalidConsent) as refused:
        record(
            session,
            profile,
            email,
            purpose="customer_similar_products_email",
            consent_type="soft_opt_in",
            linked_event_id=visit.id,
            proof={"opt_out_offered": True},
        )
    assert refused.value.code == "soft_opt_in_not_a_sale"
