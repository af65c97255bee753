"""`erase_subject`: one person, every row, suppressed identifiers, Art. 19 destinations, a PII-free result."""

import json
import uuid

from sqlalchemy import func
from sqlmodel import select

from cdp.audiences.models import Audience, AudienceMembershipSnapshot, DestinationRemoval
from cdp.audiences.removals import seal_ref, task_refs
from cdp.audit.log import SYSTEM
from cdp.audit.models import AuditEntry
from cdp.crypto.envelope import vault
from cdp.ingest.models import Quarantine
from cdp.ingest.pipeline import ingest_batch
from cdp.privacy.erasure import erase_subject
from cdp.profiles.models import Event, Identity, Profile, SourceRecord
from cdp.suppression.check import find_suppressions
from cdp.suppression.models import Suppression
from tests.api.helpers import GRANTED_EMAIL_MARKETING
from tests.connectors.fakes import md5
from tests.factories import contact_row

EMAIL = "sally.subjectson@acme.example"
PHONE = "+44 20 7946 0321"


def _ingest(session, source, *rows):
    return ingest_batch(session, source, list(rows), actor=SYSTEM)


def _count(session, model, **where):
    query = select(func.count()).select_from(model)
    for name, value in where.items():
        query = query.where(getattr(model, name) == value)
    return session.scalar(query)


def _person(session):
    row = contact_row(
        external_id="crm-sally",
        email=EMAIL,
        phone=PHONE,
        first_name="Sally",
        last_name="Subjectson",
        consents=[GRANTED_EMAIL_MARKETING],
        events=[{"type": "email_opened", "occurred_at": "2026-02-01T00:00:00Z"}],
    )
    (result,) = _ingest(session, "crm", row).results
    return result.profile_id, row


def test_erase_subject_deletes_suppresses_and_reports_counts_only(session):
    pid, _ = _person(session)
    audience = Audience(name="news", purpose="email_marketing")
    session.add(audience)
    session.flush()
    identity = session.scalars(select(Identity).where(Identity.profile_id == pid, Identity.kind == "email")).one()
    session.add(
        AudienceMembershipSnapshot(
            audience_id=audience.id,
            destination="mailchimp",
            profile_id=pid,
            identity_id=identity.id,
            member_ref=seal_ref(session, pid, md5(EMAIL)),
        )
    )
    # A rejected row of the same person sits in quarantine under its own key.
    (bad,) = _ingest(session, "crm", {"external_id": "crm-sally", "email": EMAIL, "observed_at": "not a date"}).results
    assert bad.outcome == "quarantined"
    request_id = uuid.uuid4()

    result = erase_subject(session, [pid], actor=SYSTEM, request_id=request_id)

    assert result.profile_ids == (pid,)
    assert result.counts["identity"] == 3 and result.counts["source_record"] == 1
    assert result.counts["event"] >= 2 and result.counts["consent_event"] == 1
    assert result.counts["quarantine"] == 1 and result.counts["audience_membership_snapshot"] == 1
    assert result.destroyed_key_ids == (pid, bad.quarantine_id)  # the profile's and the quarantined row's
    assert result.suppressed == {"email": 1, "phone": 1, "external": 1}
    assert result.destinations == ("mailchimp",)
    [task] = session.scalars(select(DestinationRemoval)).all()
    assert (task.destination, task.erase, task.reason, task_refs(session, task)) == (
        "mailchimp",
        True,
        f"erasure:{request_id}",
        [md5(EMAIL)],
    )
    assert _count(session, Identity, profile_id=pid) == 0
    assert _count(session, SourceRecord, profile_id=pid) == 0
    assert _count(session, Event, profile_id=pid) == 0
    assert session.get(Quarantine, bad.quarantine_id) is None
    assert session.get(Profile, pid).status == "erased"
    assert not vault(session).has_key(pid)
    hits = find_suppressions(session, [("email", EMAIL), ("phone", "+442079460321"), ("external:crm", "crm-sally")])
    assert {(h.kind, h.match_mode) for h in hits} == {
        ("email", "drop_record"),
        ("phone", "drop_record"),
        ("external:crm", "drop_record"),
    }

    dumped = json.dumps(result.to_json())
    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "privacy.erasure")).one()
    assert entry.resource_id == str(request_id)
    assert entry.details["destinations"] == ["mailchimp"]
    for text in (dumped, json.dumps(entry.details)):
        for secret in ("sally", "subjectson", "7946", "crm-sally"):
            assert secret not in text.lower()


def test_dry_run_reports_the_same_and_changes_nothing(session):
    pid, _ = _person(session)
    preview = erase_subject(session, [pid], actor=SYSTEM, request_id=uuid.uuid4(), dry_run=True)
    assert preview.dry_run and preview.counts["identity"] == 3
    assert session.get(Profile, pid).status == "active"
    assert vault(session).has_key(pid)
    assert _count(session, Identity, profile_id=pid) == 3
    from cdp.db import compliance_session

    assert compliance_session(session).scalar(select(func.count()).select_from(Suppression)) == 0
    real = erase_subject(session, [pid], actor=SYSTEM, request_id=uuid.uuid4())
    assert real.counts == preview.counts and real.suppressed == preview.suppressed


def test_second_erasure_is_a_no_op(session):
    pid, _ = _person(session)
    erase_subject(session, [pid], actor=SYSTEM, request_id=uuid.uuid4())
    again = erase_subject(session, [pid], actor=SYSTEM, request_id=uuid.uuid4())
    assert again.profile_ids == () and again.already_erased == (pid,) and again.counts == {}


def test_a_shared_phone_is_stripped_not_dropped_and_the_other_person_keeps_it(session):
    pid, _ = _person(session)
    other_row = contact_row(
        external_id="crm-harry",
        email="harry.household@acme.example",
        phone=PHONE,
        first_name="Harry",
        last_name="Household",
    )
    (other,) = _ingest(session, "crm", other_row).results
    assert other.profile_id != pid

    result = erase_subject(session, [pid], actor=SYSTEM, request_id=uuid.uuid4())

    assert result.shared_identifiers == 1
    assert _count(session, Identity, profile_id=other.profile_id, kind="phone") == 1
    hits = find_suppressions(session, [("phone", "+442079460321")])
    assert [h.match_mode for h in hits] == ["strip_identifier"]
    # Harry's next record still ingests, without the shared phone.
    (again,) = _ingest(session, "crm", {**other_row, "observed_at": "2026-04-01T00:00:00Z", "city": "Leeds"}).results
    assert again.outcome == "updated" and again.profile_id == other.profile_id


def test_a_malformed_record_of_an_erased_person_is_suppressed_not_quarantined(session):
    pid, _ = _person(session)
    erase_subject(session, [pid], actor=SYSTEM, request_id=uuid.uuid4())
    before = _count(session, Quarantine)
    (result,) = _ingest(session, "crm", {"external_id": "x-other", "email": EMAIL.upper(), "observed_at": "??"}).results
    assert result.outcome == "suppressed"
    (by_id,) = _ingest(session, "crm", {"external_id": "crm-sally", "observed_at": "??"}).results
    assert by_id.outcome == "suppressed"
    assert _count(session, Quarantine) == before
    # Somebody else's malformed record is still quarantined.
    (other,) = _ingest(
        session, "crm", {"external_id": "x-3", "email": "not.her@acme.example", "observed_at": "??"}
    ).results
    assert other.outcome == "quarantined"


def test_suppression_entries_are_not_blind_indexes(session):
    """COMPLIANCE §7 item 23: a separate key, so suppression entries cannot be joined to live identities."""
    pid, _ = _person(session)
    from cdp.db import compliance_session
    from cdp.identity.models import MatchKey

    indexes = set(session.scalars(select(Identity.blind_index))) | set(session.scalars(select(MatchKey.key)))
    erase_subject(session, [pid], actor=SYSTEM, request_id=uuid.uuid4())
    entries = compliance_session(session).scalars(select(Suppression)).all()
    assert len(entries) == 3
    assert not {e.identifier_hmac for e in entries} & indexes
    for e in entries:
        assert all(s not in e.identifier_hmac for s in ("sally", "7946", "crm-sally"))


def _crash_after_compliance_commit(stores, profile_id):
    """The erasure's compliance transaction commits (keys gone, suppressions written), its data one fails."""
    from cdp.db import COMPLIANCE

    with stores.compliance() as comp, stores.data() as data:
        data.info.update(stores.info)
        data.info[COMPLIANCE] = comp
        erase_subject(data, [profile_id], actor=SYSTEM, request_id=uuid.uuid4())
        data.flush()
        comp.commit()
        data.rollback()


def test_an_erasure_killed_between_the_two_commits_converges_on_rerun(stores):
    """COMPLIANCE §7 item 27: the re-run finds no key, and still ends with every row gone, the identifiers
    suppressed and the destination flagged, since the member ref died with the key."""
    from cdp.db import unit_of_work

    with unit_of_work(stores) as session:
        pid, _ = _person(session)
        audience = Audience(name="news", purpose="email_marketing")
        session.add(audience)
        session.flush()
        identity = session.scalars(select(Identity).where(Identity.profile_id == pid, Identity.kind == "email")).one()
        session.add(
            AudienceMembershipSnapshot(
                audience_id=audience.id,
                destination="mailchimp",
                profile_id=pid,
                identity_id=identity.id,
                member_ref=seal_ref(session, pid, md5(EMAIL)),
            )
        )
        bad = _ingest(session, "crm", {"external_id": "crm-sally", "email": EMAIL, "observed_at": "?"}).results[0]
    _crash_after_compliance_commit(stores, pid)
    with unit_of_work(stores) as session:
        assert session.get(Profile, pid).status == "active" and not vault(session).has_key(pid)
        assert _count(session, Identity, profile_id=pid) == 3

        rerun = erase_subject(session, [pid], actor=SYSTEM, request_id=uuid.uuid4())

        assert rerun.profile_ids == (pid,) and rerun.suppressed == {} and rerun.destroyed_key_ids == ()
        assert rerun.unrecoverable_destinations == ("mailchimp",)
        [task] = session.scalars(select(DestinationRemoval)).all()
        assert (task.status, task.last_error, task_refs(session, task)) == ("failed", "member-ref-unrecoverable", [])
        for model in (Identity, SourceRecord, Event):
            assert _count(session, model, profile_id=pid) == 0
        assert session.get(Quarantine, bad.quarantine_id) is None
        assert session.get(Profile, pid).status == "erased"
        hits = find_suppressions(session, [("email", EMAIL), ("external:crm", "crm-sally")])
        assert len(hits) == 2
        again = erase_subject(session, [pid], actor=SYSTEM, request_id=uuid.uuid4())
        assert again.already_erased == (pid,) and again.counts == {}


def test_the_result_json_is_the_contract_privacy_requests_store(session):
    pid, _ = _person(session)
    request_id = uuid.uuid4()
    report = erase_subject(session, [pid], actor=SYSTEM, request_id=request_id).to_json()
    assert set(report) == {
        "request_id",
        "profile_ids",
        "already_erased",
        "rows_deleted",
        "data_keys_destroyed",
        "destroyed_key_ids",
        "identifiers_suppressed",
        "shared_identifiers",
        "destinations_notified",
        "destinations_without_member_refs",
        "dry_run",
    }
    assert report["request_id"] == str(request_id) and report["profile_ids"] == [str(pid)]
    assert report["data_keys_destroyed"] == 1 and report["destroyed_key_ids"] == [str(pid)]
