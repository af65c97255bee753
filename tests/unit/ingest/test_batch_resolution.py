"""New records of a batch are resolved together in memory and written set-based (identity.batch + ingest.bulk).

Whatever the batch size, the store must end as if the records had arrived one by one: same clusters, same
history, same consent, a verifiable audit chain.
"""

from collections import defaultdict

from sqlalchemy import func, select

from cdp.audit.log import SYSTEM, verify_chain
from cdp.audit.models import AuditEntry
from cdp.cli.demo_data import generate_demo_records
from cdp.consent.models import ConsentEvent, ConsentState
from cdp.db import unit_of_work
from cdp.identity.models import MergeEvent
from cdp.identity.rebuild import rebuild_identities
from cdp.ingest.pipeline import ingest_batch
from cdp.profiles import store
from cdp.profiles.identity_map import iter_identity_map
from cdp.profiles.models import Event, Identity, Profile
from tests.factories import contact_row


def _clusters(session) -> set[frozenset[tuple[str, str]]]:
    groups: dict[object, set[tuple[str, str]]] = defaultdict(set)
    for source, external_id, profile_id in iter_identity_map(session):
        groups[profile_id].add((source, external_id))
    return {frozenset(g) for g in groups.values()}


def _demo_by_source(people: int) -> dict[str, list[dict[str, object]]]:
    by_source: dict[str, list[dict[str, object]]] = defaultdict(list)
    for record in generate_demo_records(people=people, seed=5):
        by_source[str(record["source"])].append(record)
    return by_source


def _count(session, model, *where) -> int:
    return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


class _Discard(Exception):
    pass


def test_one_batch_and_one_record_at_a_time_build_the_same_clusters(stores):
    by_source = _demo_by_source(40)
    try:
        with unit_of_work(stores) as session:
            for source in sorted(by_source):
                ingest_batch(session, source, by_source[source], actor=SYSTEM)
            batched = _clusters(session)
            raise _Discard  # roll the first run back before the second
    except _Discard:
        pass
    with unit_of_work(stores) as session:
        for source in sorted(by_source):
            for row in by_source[source]:
                ingest_batch(session, source, [row], actor=SYSTEM)
        one_by_one = _clusters(session)
        # And the record-at-a-time resolver of a rebuild agrees with both.
        rebuild_identities(session, actor=SYSTEM)
        rebuilt = _clusters(session)
    assert any(len(c) > 1 for c in batched)
    assert batched == one_by_one == rebuilt


def test_records_of_one_person_inside_a_batch_become_one_profile(session):
    rows = [
        contact_row(email="margaret.hamilton@apollo.example", first_name="Margaret", last_name="Hamilton"),
        contact_row(email="MARGARET.HAMILTON@apollo.example", first_name="Peggy", last_name="Hamilton"),
        contact_row(email="someone.else@apollo.example", first_name="Katherine", last_name="Johnson"),
    ]
    result = ingest_batch(session, "crm", rows, actor=SYSTEM)
    assert [r.outcome for r in result.results] == ["created", "merged", "created"]
    assert result.results[0].profile_id == result.results[1].profile_id != result.results[2].profile_id
    profile = session.get(Profile, result.results[0].profile_id)
    assert len(store.source_records_of(session, profile.id)) == 2
    emails = [i for i in store.identities_of(session, profile.id) if i.kind == "email"]
    assert len(emails) == 1, "one identity row per distinct address, however many records carry it"


def test_a_record_joining_two_stored_profiles_merges_them_with_evidence(session):
    first = ingest_batch(
        session,
        "crm",
        [contact_row(email="ada@lovelace.example", first_name="Ada", last_name="Lovelace")],
        actor=SYSTEM,
    )
    second = ingest_batch(
        session,
        "webform",
        [contact_row(email=None, phone="+44 7700 900123", first_name="Ada", last_name="Lovelace")],
        actor=SYSTEM,
    )
    assert first.results[0].profile_id != second.results[0].profile_id, "a name alone does not join two records"
    bridge = ingest_batch(
        session,
        "email_tool",
        [contact_row(email="ada@lovelace.example", phone="+447700900123", first_name="Ada", last_name="Lovelace")],
        actor=SYSTEM,
    )
    survivor = bridge.results[0].profile_id
    assert bridge.results[0].outcome == "merged"
    merged_away = {first.results[0].profile_id, second.results[0].profile_id} - {survivor}
    assert len(merged_away) == 1
    gone = session.get(Profile, merged_away.pop())
    assert gone.merged_into == survivor
    assert _count(session, MergeEvent, MergeEvent.survivor_id == survivor) == 1
    assert len(store.source_records_of(session, survivor)) == 3
    assert verify_chain(session).ok


def test_events_and_consents_of_a_batch_are_recorded_once(session):
    event = {"type": "email_opened", "occurred_at": "2026-03-02T10:00:00Z", "external_id": "evt-1"}
    consent = {"purpose": "email_marketing", "status": "granted", "occurred_at": "2026-03-01T10:00:00Z"}
    rows = [
        contact_row(email="linus@kernel.example", events=[event], consents=[consent]),
        # The same event id delivered again on another record of the same batch is a duplicate.
        contact_row(email="linus@kernel.example", events=[event]),
    ]
    result = ingest_batch(session, "email_tool", rows, actor=SYSTEM)
    profile_id = result.results[0].profile_id
    assert _count(session, Event, Event.profile_id == profile_id, Event.type == "email_opened") == 1
    again = ingest_batch(
        session, "email_tool", [contact_row(email="linus@kernel.example", events=[event])], actor=SYSTEM
    )
    assert again.results[0].profile_id == profile_id
    assert _count(session, Event, Event.type == "email_opened") == 1, "a redelivered event is recorded once"
    consent_event = session.scalars(select(ConsentEvent).where(ConsentEvent.profile_id == profile_id)).one()
    identity = session.get(Identity, consent_event.identity_id)
    assert identity is not None and identity.profile_id == profile_id and identity.kind == "email"
    state = session.scalars(select(ConsentState).where(ConsentState.profile_id == profile_id)).one()
    assert state.status == "granted"


def test_a_batch_writes_one_chained_audit_entry_per_record(session):
    before = _count(session, AuditEntry)
    ingest_batch(session, "crm", [contact_row() for _ in range(5)], actor=SYSTEM)
    entries = session.scalars(select(AuditEntry).order_by(AuditEntry.seq).offset(before)).all()
    assert [e.action for e in entries] == ["profile.created"] * 5
    assert verify_chain(session).ok
