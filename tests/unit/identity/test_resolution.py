"""Identity resolution through the one way in (`ingest_batch`): who becomes one profile, and who does not."""

import uuid

import pytest
from sqlalchemy import func
from sqlmodel import select

from cdp.audit.log import SYSTEM
from cdp.consent.ledger import states_of
from cdp.crypto.envelope import DataKeyDestroyed, vault
from cdp.errors import Conflict
from cdp.identity.merge import merge_profiles, split_profile
from cdp.identity.models import MergeEvent, MergeVeto
from cdp.ingest.pipeline import ingest_batch
from cdp.profiles import store
from cdp.profiles.errors import ProfileMerged
from cdp.profiles.models import Profile, SourceRecord
from tests.factories import contact_row


def _ingest(session, source, *rows):
    return ingest_batch(session, source, list(rows), actor=SYSTEM).results


def _live_profiles(session):
    return session.scalar(select(func.count()).select_from(Profile).where(Profile.merged_into == None))  # noqa: E711


def test_nickname_and_shared_phone_across_sources_is_one_person(session):
    a = _ingest(
        session, "crm", contact_row(email=None, first_name="William", last_name="Brightwater", phone="+44 20 7946 0555")
    )
    b = _ingest(
        session, "webform", contact_row(email=None, first_name="Bill", last_name="Brightwater", phone="020 7946 0555")
    )
    assert b[0].outcome == "merged" and b[0].profile_id == a[0].profile_id


def test_typo_in_surname_with_same_email_is_one_person(session):
    a = _ingest(
        session, "crm", contact_row(email="m.kowalczyk@firm.example", first_name="Marta", last_name="Kowalczyk")
    )
    b = _ingest(
        session, "email_tool", contact_row(email="M.Kowalczyk@firm.example", first_name="Marta", last_name="Kowalcyzk")
    )
    assert b[0].profile_id == a[0].profile_id


def test_household_sharing_a_landline_stays_two_people(session):
    phone = "+44 161 496 0123"
    a = _ingest(
        session,
        "crm",
        contact_row(email="john.hartwell@mail.example", first_name="John", last_name="Hartwell", phone=phone),
    )
    b = _ingest(
        session,
        "crm",
        contact_row(email="mary.hartwell@mail.example", first_name="Mary", last_name="Hartwell", phone=phone),
    )
    assert b[0].outcome == "created" and b[0].profile_id != a[0].profile_id


def test_role_address_shared_by_colleagues_stays_two_people(session):
    a = _ingest(session, "webform", contact_row(email="info@bakery.example", first_name="Ahmed", last_name="Siddiqui"))
    b = _ingest(session, "webform", contact_row(email="info@bakery.example", first_name="Claire", last_name="Dubonnet"))
    assert a[0].profile_id != b[0].profile_id


def test_namesakes_with_nothing_else_in_common_stay_apart(session):
    a = _ingest(
        session,
        "crm",
        contact_row(
            email="james.whitfield@alpha.example",
            first_name="James",
            last_name="Whitfield",
            company="Alpha Ltd",
            city="Leeds",
        ),
    )
    b = _ingest(
        session,
        "crm",
        contact_row(
            email="jwhitfield@beta.example",
            first_name="James",
            last_name="Whitfield",
            company="Beta GmbH",
            city="Munich",
            country="DE",
        ),
    )
    assert a[0].profile_id != b[0].profile_id


def test_link_evidence_is_kept_without_personal_data(session):
    _ingest(session, "crm", contact_row(email="evi.dence@acme.example", first_name="Evi", last_name="Dencemore"))
    b = _ingest(
        session, "email_tool", contact_row(email="evi.dence@acme.example", first_name="Evi", last_name="Dencemore")
    )
    record = session.scalars(select(SourceRecord).where(SourceRecord.source == "email_tool")).one()
    evidence = record.link_evidence
    assert evidence["matched_profile"] == str(b[0].profile_id)
    assert evidence["levels"]["email"] == "exact_personal" and evidence["decision"] == "merge"
    assert "evi" not in repr(evidence).lower().replace("evidence", "")


def test_a_record_that_matches_two_profiles_merges_them(session):
    a = _ingest(
        session, "crm", contact_row(email="dana.okafor@acme.example", first_name="Dana", last_name="Okafor", phone=None)
    )
    b = _ingest(
        session, "sms_tool", contact_row(email=None, first_name="Dana", last_name="Okafor", phone="+44 20 7946 0888")
    )
    assert a[0].profile_id != b[0].profile_id
    c = _ingest(
        session,
        "webform",
        contact_row(email="dana.okafor@acme.example", first_name="Dana", last_name="Okafor", phone="+44 20 7946 0888"),
    )
    survivor = c[0].profile_id
    merged_away = ({a[0].profile_id, b[0].profile_id} - {survivor}).pop()
    assert _live_profiles(session) == 1
    with pytest.raises(ProfileMerged) as redirect:
        store.get_profile_or_raise(session, merged_away)
    assert redirect.value.survivor_id == survivor
    event = session.scalars(select(MergeEvent)).one()
    assert event.kind == "auto" and event.merged_id == merged_away and event.weight is not None
    assert len(store.source_records_of(session, survivor)) == 3


def test_merge_reencrypts_under_the_survivor_and_destroys_the_old_key(session):
    a = _ingest(session, "crm", contact_row(first_name="Ines", last_name="Albuquerque", email="ines@porto.example"))
    b = _ingest(session, "crm", contact_row(first_name="Inês", last_name="Albuquerque", email="ines.a@lisboa.example"))
    assert a[0].profile_id != b[0].profile_id
    survivor, merged = session.get(Profile, a[0].profile_id), session.get(Profile, b[0].profile_id)
    merge_profiles(session, survivor, merged, kind="manual", actor=SYSTEM, reason="confirmed by phone")
    assert not vault(session).has_key(merged.id)
    with pytest.raises(DataKeyDestroyed):
        vault(session).key_for(merged.id)
    payloads = [store.source_payload(session, r)["email"] for r in store.source_records_of(session, survivor.id)]
    assert sorted(payloads) == ["ines.a@lisboa.example", "ines@porto.example"]
    emails = {store.identity_value(session, i) for i in store.identities_of(session, survivor.id) if i.kind == "email"}
    assert emails == {"ines@porto.example", "ines.a@lisboa.example"}


def test_survivorship_prefers_the_trusted_source_for_last_name(session):
    a = _ingest(
        session,
        "crm",
        contact_row(
            email="s.v@acme.example", first_name="Sam", last_name="Vanderbilt", observed_at="2026-01-01T00:00:00Z"
        ),
    )
    _ingest(
        session,
        "webform",
        contact_row(
            email="s.v@acme.example", first_name="Samantha", last_name="Vanderbillt", observed_at="2026-06-01T00:00:00Z"
        ),
    )
    profile = session.get(Profile, a[0].profile_id)
    golden = store.read_golden(session, profile)
    assert golden["last_name"] == "Vanderbilt"  # crm outranks webform for last_name (policies/identity.yaml)
    assert golden["first_name"] == "Samantha"  # most complete
    assert profile.field_provenance["last_name"]["rule"] == "most_trusted_source"


def test_unmerge_moves_records_and_their_consents_back_and_vetoes_the_link(session):
    a = _ingest(session, "crm", contact_row(email="twin.a@acme.example", first_name="Alex", last_name="Twinning"))
    consent = {"purpose": "email_marketing", "status": "granted", "occurred_at": "2026-01-01T00:00:00Z"}
    _ingest(
        session,
        "email_tool",
        contact_row(
            email="twin.a@acme.example", first_name="Alex", last_name="Twinning", consents=[consent], external_id="et-7"
        ),
    )
    profile = session.get(Profile, a[0].profile_id)
    record = session.scalars(select(SourceRecord).where(SourceRecord.source == "email_tool")).one()
    assert len(states_of(session, profile.id)) == 1

    split, _ = split_profile(session, profile, {record.id}, actor=SYSTEM, reason="two people share a mailbox")

    assert [r.id for r in store.source_records_of(session, split.id)] == [record.id]
    assert states_of(session, profile.id) == []
    assert [s.status for s in states_of(session, split.id)] == ["granted"]
    assert session.scalars(select(MergeVeto)).all()
    with pytest.raises(Conflict):
        merge_profiles(session, profile, split, kind="manual", actor=SYSTEM, reason="retry")
    again = _ingest(
        session,
        "email_tool",
        contact_row(
            email="twin.a@acme.example",
            first_name="Alexandra",
            last_name="Twinning",
            consents=[consent],
            external_id="et-7",
        ),
    )
    assert again[0].outcome == "updated" and again[0].profile_id == split.id


def test_undoing_a_merge_gives_the_merged_away_id_back(session):
    a = _ingest(session, "crm", contact_row(email="undo.a@acme.example", first_name="Uma", last_name="Undset"))
    b = _ingest(session, "crm", contact_row(email="undo.b@other.example", first_name="Ulf", last_name="Umbridge"))
    survivor, merged = session.get(Profile, a[0].profile_id), session.get(Profile, b[0].profile_id)
    event = merge_profiles(session, survivor, merged, kind="manual", actor=SYSTEM, reason="mistake")
    records = {uuid.UUID(r) for r in event.source_record_ids}

    split, _ = split_profile(session, survivor, records, actor=SYSTEM, reason="undo", undo=event)
    assert split.id == merged.id and split.merged_into is None and split.status == "active"
    assert store.read_golden(session, split)["last_name"] == "Umbridge"
    assert event.undone_at is not None


def test_most_complete_name_prefers_careful_casing_over_a_later_sloppy_entry(session):
    a = _ingest(
        session,
        "crm",
        contact_row(
            email="orla.f@acme.example", first_name="Orla", last_name="Fitzgerald", observed_at="2026-01-01T00:00:00Z"
        ),
    )
    _ingest(
        session,
        "webform",
        contact_row(
            email="orla.f@acme.example", first_name="orla", last_name="fitzgerald", observed_at="2026-02-01T00:00:00Z"
        ),
    )
    assert store.read_golden(session, session.get(Profile, a[0].profile_id))["first_name"] == "Orla"
