"""Erasing one person: the data key goes, every row about them goes, a tombstone and the redirects stay."""

import uuid

import pytest
from sqlalchemy import func
from sqlmodel import select

from cdp.audiences.models import Audience, AudienceMembershipSnapshot
from cdp.audit.log import SYSTEM, verify_chain
from cdp.audit.models import AuditEntry
from cdp.consent.models import ConsentEvent, ConsentState
from cdp.crypto.envelope import DataKeyDestroyed, vault
from cdp.identity.merge import merge_profiles, split_profile
from cdp.identity.models import MatchKey, MergeEvent, MergeVeto
from cdp.ingest.pipeline import ingest_batch
from cdp.privacy.erasure import erase_profile
from cdp.profiles import store
from cdp.profiles.errors import ProfileMerged, ProfileNotFound
from cdp.profiles.models import Event, Identity, Profile, SourceRecord
from cdp.suppression.models import Suppression
from tests.api.helpers import GRANTED_EMAIL_MARKETING
from tests.factories import contact_row

EMAIL = "erin.erasewell@acme.example"


def _ingest(session, source, *rows):
    return [r.profile_id for r in ingest_batch(session, source, list(rows), actor=SYSTEM).results]


def _count(session, model, **where):
    query = select(func.count()).select_from(model)
    for name, value in where.items():
        query = query.where(getattr(model, name) == value)
    return session.scalar(query)


@pytest.fixture
def person(session):
    """A profile with identities, records, events, consents, match keys, a snapshot row and a merged-in id."""
    (pid,) = _ingest(
        session,
        "crm",
        contact_row(
            email=EMAIL,
            phone="+44 20 7946 0999",
            first_name="Erin",
            last_name="Erasewell",
            lifecycle_stage="lead",
            consents=[GRANTED_EMAIL_MARKETING],
            events=[{"type": "email_opened", "occurred_at": "2026-02-01T00:00:00Z"}],
        ),
    )
    other_row = contact_row(first_name="Otto", last_name="Otherby", email="o@elsewhere.example")
    (other,) = _ingest(session, "webform", other_row)
    merge_profiles(
        session, session.get(Profile, pid), session.get(Profile, other), kind="manual", actor=SYSTEM, reason="same"
    )
    audience = Audience(name="newsletter", purpose="email_marketing")
    session.add(audience)
    session.flush()
    email_identity = session.scalars(
        select(Identity).where(Identity.profile_id == pid, Identity.kind == "email")
    ).first()
    session.add(
        AudienceMembershipSnapshot(
            audience_id=audience.id, destination="mailchimp", profile_id=pid, identity_id=email_identity.id
        )
    )
    session.flush()
    return {"id": pid, "merged_id": other}


def test_erasure_removes_every_row_about_the_person_and_keeps_a_tombstone(session, person):
    pid = person["id"]
    assert _count(session, MatchKey, profile_id=pid) > 0

    report = erase_profile(session, pid, actor=SYSTEM, reason="test")

    for model in (Identity, SourceRecord, Event, ConsentEvent, ConsentState, MatchKey, AudienceMembershipSnapshot):
        assert _count(session, model, profile_id=pid) == 0, model.__name__
    assert _count(session, MergeEvent) == 0, "the merge evidence named its records"
    tombstone = session.get(Profile, pid)
    assert tombstone.status == "erased"
    assert tombstone.golden == b"" and tombstone.field_provenance == {}
    assert tombstone.lifecycle_stage is None and tombstone.last_activity_at is None
    assert report.counts["source_record"] == 2 and report.counts["identity"] >= 3
    assert report.counts["data_key"] == 1


def test_erased_personal_data_is_unreadable(session, person):
    pid = person["id"]
    erase_profile(session, pid, actor=SYSTEM, reason="test")
    assert not vault(session).has_key(pid)
    with pytest.raises(DataKeyDestroyed):
        store.read_golden(session, session.get(Profile, pid))
    with pytest.raises(ProfileNotFound):
        store.get_profile_or_raise(session, pid)


def test_a_merged_in_id_stays_a_redirect_to_the_tombstone(session, person):
    erase_profile(session, person["id"], actor=SYSTEM, reason="test")
    merged = session.get(Profile, person["merged_id"])
    assert merged.merged_into == person["id"]
    with pytest.raises(ProfileMerged):
        store.get_profile_or_raise(session, person["merged_id"])


def test_erasing_a_merged_away_id_names_its_survivor(session, person):
    with pytest.raises(ProfileMerged):
        erase_profile(session, person["merged_id"], actor=SYSTEM, reason="test")


def test_split_vetoes_on_its_records_go_and_the_other_profile_is_untouched(session):
    (pid,) = _ingest(session, "crm", contact_row(email=EMAIL, first_name="Erin", last_name="Erasewell"))
    _ingest(session, "webform", contact_row(email=EMAIL, first_name="Erin", last_name="Erasewell"))
    web = session.scalars(select(SourceRecord).where(SourceRecord.source == "webform")).one()
    split, _ = split_profile(session, session.get(Profile, pid), {web.id}, actor=SYSTEM, reason="two people")
    assert _count(session, MergeVeto) == 1

    erase_profile(session, split.id, actor=SYSTEM, reason="test")

    assert _count(session, MergeVeto) == 0
    assert store.read_golden(session, session.get(Profile, pid))["email"] == EMAIL
    assert _count(session, SourceRecord, profile_id=pid) == 1


def test_erasure_writes_one_audit_entry_with_ids_and_counts_only(session, person):
    before = _count(session, AuditEntry)
    erase_profile(session, person["id"], actor=SYSTEM, reason="retention:test")
    entries = list(session.scalars(select(AuditEntry).where(AuditEntry.seq > before)))
    assert [e.action for e in entries] == ["profile.erased"]
    assert entries[0].resource_id == str(person["id"])
    assert "erasewell" not in str(entries[0].details).lower()
    assert entries[0].details["reason"] == "retention:test"
    assert verify_chain(session).ok


def test_erasure_adds_no_suppression_and_erasing_twice_is_a_no_op(session, person):
    erase_profile(session, person["id"], actor=SYSTEM, reason="test")
    again = erase_profile(session, person["id"], actor=SYSTEM, reason="test")
    assert again.already_erased and again.rows == 0
    from cdp.db import compliance_session

    assert compliance_session(session).scalar(select(func.count()).select_from(Suppression)) == 0


def test_anonymisation_keeps_only_stage_and_creation_time(session, person):
    created = session.get(Profile, person["id"]).created_at
    erase_profile(session, person["id"], actor=SYSTEM, reason="test", keep_counts=True)
    tombstone = session.get(Profile, person["id"])
    assert tombstone.status == "erased" and tombstone.golden == b""
    assert tombstone.lifecycle_stage == "lead" and tombstone.created_at == created


def test_unknown_profile_is_not_found(session):
    with pytest.raises(ProfileNotFound):
        erase_profile(session, uuid.uuid4(), actor=SYSTEM, reason="test")
