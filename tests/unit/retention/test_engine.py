"""Retention sweeps with an injected clock: what goes, when, what is exempt, and that preview == run."""

import datetime as dt
import uuid

import pytest
from sqlalchemy import func
from sqlmodel import select

from cdp.audit.log import SYSTEM, Actor, verify_chain
from cdp.audit.models import AuditEntry
from cdp.consent.models import ConsentEvent, ConsentState
from cdp.crypto.envelope import DataKeyDestroyed, vault
from cdp.db import compliance_session, utcnow
from cdp.identity.explain import explain_profile
from cdp.ingest.models import Quarantine
from cdp.ingest.pipeline import ingest_batch
from cdp.policies import _ACTIONS_FOR, _TRIGGERS_FOR, Duration, RetentionPolicy, RetentionRule, load_policies
from cdp.privacy.models import PrivacyRequest
from cdp.profiles import store
from cdp.profiles.models import Event, Profile, SourceRecord
from cdp.retention import engine
from cdp.retention.engine import preview, run
from cdp.retention.holds import place_hold, release_hold
from cdp.settings import DEFAULT_POLICIES_DIR
from tests.factories import contact_row

DEFAULT = load_policies(DEFAULT_POLICIES_DIR).retention
TODAY = utcnow()
COMPLIANCE_OFFICER = Actor("key-compliance", "compliance")


def months(n: int, *, days: int = 0) -> dt.datetime:
    return Duration(f"P{n}M", n).after(TODAY) + dt.timedelta(days=days)


def rule(rule_id="r", *, target="profile", trigger="last_activity", keep="P30D", action="erase", **kw) -> RetentionRule:
    duration = (
        Duration(keep, int(keep[1:-1])) if keep.endswith("M") else Duration(keep, 0, dt.timedelta(int(keep[1:-1])))
    )
    return RetentionRule(rule_id, "", target, trigger, duration, action, **kw)


def policy(*rules: RetentionRule, exemptions=("legal_hold", "restriction", "open_privacy_request")) -> RetentionPolicy:
    return RetentionPolicy(tuple(rules), tuple(exemptions))


def person(session, source="crm", **fields) -> uuid.UUID:
    result = ingest_batch(session, source, [contact_row(**fields)], actor=SYSTEM).results[0]
    assert result.profile_id is not None, result
    return result.profile_id


def status(session, profile_id) -> str:
    session.expire_all()
    return session.get(Profile, profile_id).status


def ids(dues) -> list[tuple[str, uuid.UUID]]:
    return [(d.rule_id, d.row_id) for d in dues]


def run_ids(session, retention, now, **kw) -> tuple[list[tuple[str, uuid.UUID]], engine.RunReport]:
    seen: list[tuple[str, uuid.UUID]] = []
    report = run(
        session, retention, now=now, actor=COMPLIANCE_OFFICER, on_batch=lambda b: seen.extend(ids(b.due)), **kw
    )
    return seen, report


# -- the done-when behaviours ----------------------------------------------------------------------------------------


def test_an_inactive_lead_is_erased_after_its_period_and_not_before(session):
    lead = person(session, lifecycle_stage="lead")

    early = run(session, DEFAULT, now=months(23, days=29), actor=COMPLIANCE_OFFICER)
    assert early.total == 0 and status(session, lead) == "active"

    late = run(session, DEFAULT, now=months(24, days=2), actor=COMPLIANCE_OFFICER)
    assert {(r.rule_id, r.rows) for r in late.rules if r.rows} == {("prospect-inactive", 1)}
    assert status(session, lead) == "erased"
    with pytest.raises(DataKeyDestroyed):
        store.read_golden(session, session.get(Profile, lead))


def test_a_legal_hold_stops_erasure_until_it_is_released(session):
    lead = person(session, lifecycle_stage="lead")
    place_hold(session, lead, reason="case 2026-041", actor=COMPLIANCE_OFFICER)
    later = months(30)

    held = run(session, DEFAULT, now=later, actor=COMPLIANCE_OFFICER)
    assert held.total == 0 and held.exempt["legal_hold"] == 1
    assert status(session, lead) == "active"

    release_hold(session, lead, actor=COMPLIANCE_OFFICER)
    released = run(session, DEFAULT, now=later, actor=COMPLIANCE_OFFICER)
    assert released.total == 1 and status(session, lead) == "erased"


def test_preview_lists_exactly_what_run_processes_and_a_second_run_finds_nothing(session):
    leads = [person(session, lifecycle_stage="lead") for _ in range(3)]
    person(session, lifecycle_stage="customer")  # no contract ended: kept
    old_events = [{"type": "email_opened", "occurred_at": "2024-01-05T00:00:00Z"}]
    customer = person(session, lifecycle_stage="customer", events=old_events)
    ingest_batch(session, "crm", [{"external_id": "broken"}], actor=SYSTEM)  # quarantined
    now = months(25)

    planned = preview(session, DEFAULT, now=now)
    done, report = run_ids(session, DEFAULT, now)

    assert done == ids(planned)
    assert {row for rule_id, row in done if rule_id == "prospect-inactive"} == set(leads)
    assert {rule_id for rule_id, _ in done} == {"prospect-inactive", "engagement-events", "quarantine"}
    assert report.total == len(planned)
    assert status(session, customer) == "active"
    assert preview(session, DEFAULT, now=now) == []
    assert run(session, DEFAULT, now=now, actor=COMPLIANCE_OFFICER).total == 0


def test_a_run_writes_one_audit_entry_with_counts_and_never_deletes_audit_entries(session):
    lead = person(session, lifecycle_stage="lead")
    before = session.scalar(select(func.count()).select_from(AuditEntry))

    run(session, DEFAULT, now=months(25), actor=COMPLIANCE_OFFICER)

    entries = list(session.scalars(select(AuditEntry).order_by(AuditEntry.seq)))
    assert len(entries) > before
    runs = [e for e in entries if e.action == "retention.run"]
    assert len(runs) == 1
    assert runs[0].actor_id == COMPLIANCE_OFFICER.id
    assert runs[0].details["rows"] == 1 and runs[0].details["prospect-inactive.rows"] == 1
    assert [e.resource_id for e in entries if e.action == "profile.erased"] == [str(lead)]
    assert verify_chain(session).ok


def test_a_dry_run_reports_the_same_counts_and_changes_nothing(session):
    lead = person(session, lifecycle_stage="lead")
    audit_before = session.scalar(select(func.count()).select_from(AuditEntry))
    dry = run(session, DEFAULT, now=months(25), actor=COMPLIANCE_OFFICER, dry_run=True)
    assert dry.total == 1 and status(session, lead) == "active"
    assert session.scalar(select(func.count()).select_from(AuditEntry)) == audit_before


# -- exemptions ----------------------------------------------------------------------------------------------------


def test_a_restricted_profile_and_its_rows_are_exempt(session):
    lead = person(
        session, lifecycle_stage="lead", events=[{"type": "email_opened", "occurred_at": "2020-01-01T00:00:00Z"}]
    )
    session.get(Profile, lead).status = "restricted"
    session.flush()
    report = run(session, DEFAULT, now=months(25), actor=COMPLIANCE_OFFICER)
    assert report.total == 0 and report.exempt == {"restriction": 2}
    assert status(session, lead) == "restricted"


def test_an_open_privacy_request_exempts_the_person_until_it_is_completed(session):
    lead = person(session, lifecycle_stage="lead")
    request = PrivacyRequest(
        type="access", subject_ref=b"ref", profile_ids=[str(lead)], requested_by="dpo", due_at=months(1)
    )
    compliance_session(session).add(request)
    compliance_session(session).flush()

    assert run(session, DEFAULT, now=months(25), actor=COMPLIANCE_OFFICER).exempt == {"open_privacy_request": 1}
    request.status, request.completed_at = "completed", TODAY
    compliance_session(session).flush()
    assert run(session, DEFAULT, now=months(25), actor=COMPLIANCE_OFFICER).total == 1


def test_exemptions_not_listed_in_the_policy_are_not_applied(session):
    lead = person(session, lifecycle_stage="lead")
    place_hold(session, lead, reason="case 7", actor=COMPLIANCE_OFFICER)
    bare = policy(rule(keep="P24M", where={"lifecycle_stage": ("lead",)}), exemptions=())
    assert run(session, bare, now=months(25), actor=COMPLIANCE_OFFICER).total == 1


# -- triggers --------------------------------------------------------------------------------------------------------


def test_customers_go_six_years_after_their_contract_ended(session):
    ended = {"type": "contract_ended", "occurred_at": "2026-01-31T00:00:00Z"}
    former = person(session, lifecycle_stage="churned", events=[ended])
    current = person(session, lifecycle_stage="customer")
    contract_end = dt.datetime(2026, 1, 31, tzinfo=dt.UTC)

    assert preview(session, DEFAULT, now=contract_end + dt.timedelta(days=6 * 365)) == []
    due = preview(session, DEFAULT, now=contract_end + dt.timedelta(days=6 * 366))
    assert [(d.rule_id, d.row_id) for d in due] == [("customer-after-contract", former)]
    assert due[0].trigger_at == contract_end and due[0].due_since == dt.datetime(2032, 1, 31, tzinfo=dt.UTC)
    assert current not in {d.row_id for d in due}


def _consent(purpose="email_marketing", status="granted", at="2026-01-01T00:00:00Z", **kw):
    return {"purpose": purpose, "status": status, "occurred_at": at, **kw}


def test_consent_ended_erases_30_days_after_the_last_consent_ended(session):
    withdrawn = person(
        session,
        lifecycle_stage="subscriber",
        consents=[_consent(), _consent(status="withdrawn", at="2026-03-01T00:00:00Z")],
    )
    now = dt.datetime(2026, 3, 31, tzinfo=dt.UTC)
    assert preview(session, DEFAULT, now=now) == []
    due = preview(session, DEFAULT, now=now + dt.timedelta(days=2))
    assert [(d.rule_id, d.row_id) for d in due] == [("marketing-consent-ended", withdrawn)]


def test_consent_expiry_counts_as_an_end_and_a_live_consent_keeps_the_person(session):
    expired = person(session, consents=[_consent(expires_at="2026-06-01T00:00:00Z")])
    live = person(session, consents=[_consent(), _consent(purpose="profiling", status="withdrawn")])
    due = preview(session, DEFAULT, now=dt.datetime(2026, 7, 5, tzinfo=dt.UTC))
    assert [(d.rule_id, d.row_id) for d in due] == [("marketing-consent-ended", expired)]
    assert due[0].trigger_at == dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
    assert live not in {d.row_id for d in due}


def test_consent_ended_leaves_people_kept_on_a_statutory_basis(session):
    person(session, lifecycle_stage="customer", consents=[_consent(status="withdrawn")])
    assert preview(session, DEFAULT, now=dt.datetime(2026, 6, 1, tzinfo=dt.UTC)) == []


def test_unconsented_web_leads_go_90_days_after_creation(session):
    unconsented = person(session, "webform", lifecycle_stage="lead")
    person(session, "webform", lifecycle_stage="lead", consents=[_consent(at=TODAY.isoformat())])
    person(session, "crm", lifecycle_stage="lead")
    assert preview(session, DEFAULT, now=TODAY + dt.timedelta(days=89)) == []
    due = preview(session, DEFAULT, now=TODAY + dt.timedelta(days=91))
    assert [(d.rule_id, d.row_id) for d in due] == [("unconsented-web-leads", unconsented)]


def test_engagement_events_older_than_13_months_are_deleted_and_the_profile_stays(session):
    events = [
        {"type": "email_opened", "occurred_at": "2025-01-01T00:00:00Z"},
        {"type": "email_clicked", "occurred_at": "2026-02-01T00:00:00Z"},
        {"type": "form_submitted", "occurred_at": "2024-01-01T00:00:00Z"},
    ]
    pid = person(session, lifecycle_stage="customer", events=events)
    run(session, DEFAULT, now=dt.datetime(2026, 3, 1, tzinfo=dt.UTC), actor=COMPLIANCE_OFFICER)
    left = set(session.scalars(select(Event.type).where(Event.profile_id == pid)))
    assert "email_opened" not in left and {"email_clicked", "form_submitted"} <= left
    assert status(session, pid) == "active"


def test_quarantined_rows_go_after_30_days_with_their_data_keys(session):
    result = ingest_batch(session, "crm", [{"external_id": "no-observed-at"}], actor=SYSTEM).results[0]
    qid = result.quarantine_id
    assert run(session, DEFAULT, now=TODAY + dt.timedelta(days=29), actor=COMPLIANCE_OFFICER).total == 0
    assert run(session, DEFAULT, now=TODAY + dt.timedelta(days=31), actor=COMPLIANCE_OFFICER).total == 1
    assert session.get(Quarantine, qid) is None
    assert not vault(session).has_key(qid)


# -- actions on rows -------------------------------------------------------------------------------------------------


def test_minimising_source_records_keeps_ids_and_checksum_and_readers_cope(session):
    pid = person(session, lifecycle_stage="customer")
    record = session.scalars(select(SourceRecord).where(SourceRecord.profile_id == pid)).one()
    checksum = record.checksum
    minimise = policy(rule("raw", target="source_record", trigger="received", keep="P90D", action="minimise"))

    report = run(session, minimise, now=TODAY + dt.timedelta(days=91), actor=COMPLIANCE_OFFICER)

    assert report.total == 1
    session.expire_all()
    record = session.get(SourceRecord, record.id)
    assert record.payload == store.MINIMISED and record.checksum == checksum
    assert store.source_payload(session, record) == {}
    assert explain_profile(session, session.get(Profile, pid)).records[0].external_id is None
    assert run(session, minimise, now=TODAY + dt.timedelta(days=91), actor=COMPLIANCE_OFFICER).total == 0


def test_deleting_source_records_keeps_the_profile_and_its_events(session):
    pid = person(session, lifecycle_stage="customer")
    drop = policy(rule("raw", target="source_record", trigger="created", keep="P90D", action="delete_rows"))
    assert run(session, drop, now=TODAY + dt.timedelta(days=91), actor=COMPLIANCE_OFFICER).total == 1
    assert session.scalars(select(SourceRecord).where(SourceRecord.profile_id == pid)).all() == []
    assert session.scalars(select(Event).where(Event.profile_id == pid)).all() != []


def test_old_consent_events_go_but_never_the_proof_a_current_state_rests_on(session):
    pid = person(
        session,
        consents=[_consent(at="2024-02-01T00:00:00Z"), _consent(status="withdrawn", at="2024-03-01T00:00:00Z")],
    )
    proofs = policy(rule("proof", target="consent_event", trigger="occurred", keep="P12M", action="delete_rows"))
    assert run(session, proofs, now=TODAY, actor=COMPLIANCE_OFFICER).total == 1
    (state,) = session.scalars(select(ConsentState).where(ConsentState.profile_id == pid))
    assert state.status == "withdrawn" and session.get(ConsentEvent, state.event_id) is not None


def test_a_closed_consent_goes_with_its_state_after_its_period(session):
    pid = person(session, consents=[_consent(status="withdrawn", at="2021-01-01T00:00:00Z")])
    closed = policy(rule("proof", target="consent_event", trigger="consent_ended", keep="P36M", action="delete_rows"))
    assert run(session, closed, now=TODAY, actor=COMPLIANCE_OFFICER).total == 1
    assert session.scalars(select(ConsentState).where(ConsentState.profile_id == pid)).all() == []


def test_completed_privacy_requests_are_minimised_and_open_ones_never_touched(session):
    compliance = compliance_session(session)
    old = dt.datetime(2023, 1, 1, tzinfo=dt.UTC)
    done = PrivacyRequest(
        type="access", status="completed", subject_ref=b"ref", subject_index="ix", requested_by="dpo",
        due_at=old, received_at=old, completed_at=old,
    )  # fmt: skip
    pending = PrivacyRequest(type="access", subject_ref=b"ref", requested_by="dpo", due_at=old, received_at=old)
    compliance.add_all([done, pending])
    compliance.flush()
    records = policy(rule("dsar", target="privacy_request", trigger="created", keep="P24M", action="minimise"))

    assert ids(preview(session, records, now=TODAY)) == [("dsar", done.id)]
    run(session, records, now=TODAY, actor=COMPLIANCE_OFFICER)
    assert (done.subject_ref, done.subject_index) == (b"", None)
    assert pending.subject_ref == b"ref"


def test_anonymising_keeps_stage_and_creation_time_only(session):
    lead = person(session, lifecycle_stage="lead")
    created = session.get(Profile, lead).created_at
    anonymize = policy(rule("anon", keep="P24M", action="anonymize"))
    run(session, anonymize, now=months(25), actor=COMPLIANCE_OFFICER)
    tombstone = session.get(Profile, lead)
    assert (tombstone.status, tombstone.lifecycle_stage, tombstone.created_at) == ("erased", "lead", created)


# -- the scan ------------------------------------------------------------------------------------------------------


def test_a_person_two_rules_select_is_handled_once_and_their_rows_with_them(session):
    old_open = [{"type": "email_opened", "occurred_at": "2020-01-01T00:00:00Z"}]
    lead = person(session, "webform", lifecycle_stage="lead", events=old_open)
    now = months(25)
    planned = preview(session, DEFAULT, now=now)
    assert ids(planned) == [("prospect-inactive", lead)]
    assert run_ids(session, DEFAULT, now)[0] == ids(planned)


def test_batches_are_bounded_and_preview_still_equals_run(session, monkeypatch):
    monkeypatch.setattr(engine, "BATCH", 2)
    leads = {person(session, lifecycle_stage="lead") for _ in range(5)}
    place_hold(session, sorted(leads)[2], reason="case 9", actor=COMPLIANCE_OFFICER)
    planned = preview(session, DEFAULT, now=months(25))
    done, report = run_ids(session, DEFAULT, months(25))
    assert done == ids(planned) and len(done) == 4 and report.exempt == {"legal_hold": 1}


def test_preview_pages_with_a_cursor(session):
    for _ in range(3):
        person(session, lifecycle_stage="lead")
    everything = preview(session, DEFAULT, now=months(25))
    first = preview(session, DEFAULT, now=months(25), limit=2)
    rest = preview(session, DEFAULT, now=months(25), after=(first[-1].step, first[-1].row_id))
    assert first + rest == everything


@pytest.mark.parametrize(
    ("target", "trigger", "action"),
    [(t, tr, a) for t, triggers in _TRIGGERS_FOR.items() for tr in triggers for a in _ACTIONS_FOR[t]],
)
def test_every_trigger_and_action_the_loader_accepts_runs(session, target, trigger, action):
    extra = {"event_type": "contract_ended"} if trigger == "relationship_ended" else {}
    person(session, lifecycle_stage="lead", consents=[_consent(status="withdrawn")], events=[
        {"type": "contract_ended", "occurred_at": "2020-01-01T00:00:00Z"}
    ])  # fmt: skip
    retention = policy(rule(target=target, trigger=trigger, keep="P1D", action=action, **extra))
    planned = preview(session, retention, now=months(1))
    done, _ = run_ids(session, retention, months(1))
    assert done == ids(planned)
    assert preview(session, retention, now=months(1)) == []
