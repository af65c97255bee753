"""The stored state equals the fold, whatever order events arrive in (COMPLIANCE 7.4), on a real database.

Each example records a random history live (`record_consent`, which re-folds the subject on every write),
then checks it against `rebuild_states` and against the same history recorded in another order.
"""

import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import select

from cdp.audit.log import SYSTEM
from cdp.consent.ledger import record_consent
from cdp.consent.models import ConsentEvent
from cdp.consent.state import rebuild_states, states_as_of, states_of
from cdp.ingest.pipeline import ingest_batch
from cdp.profiles import store
from tests.factories import contact_row

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
# (contact point, purpose) subjects; objections fan out across all of them.
SUBJECTS = (("email", "email_marketing"), ("email", "sales_outreach"), ("phone", "sales_outreach"))
METHODS = ("web_form", "one_click_unsubscribe", "preference_center", "crm_sync", "csv_import", "api")
STATUS_FOR = {"one_click_unsubscribe": ("withdrawn", "objected")}

events = st.tuples(
    st.sampled_from(SUBJECTS),
    st.sampled_from(("granted", "withdrawn", "denied", "expired", "objected")),
    st.integers(0, 5),
    st.sampled_from(METHODS),
    st.booleans(),
).filter(lambda e: e[1] in STATUS_FOR.get(e[3], (e[1],)))
histories = st.lists(events, min_size=1, max_size=8)


@pytest.fixture
def contact_points(session):
    result = ingest_batch(
        session, "crm", [contact_row(email="fold.property@acme.example", phone="+44 20 7946 0321")], actor=SYSTEM
    ).results[0]
    ids = {i.kind: i.id for i in store.identities_of(session, result.profile_id)}
    return result.profile_id, ids


def _record_all(session, profile_id, ids, history):
    for n, ((kind, purpose), status, minute, method, proof) in enumerate(history):
        record_consent(
            session,
            profile_id=profile_id,
            identity_id=ids[kind],
            purpose=purpose,
            status=status,
            occurred_at=T0 + dt.timedelta(minutes=minute),
            source="crm" if method in ("crm_sync", "csv_import") else "api",
            method=method,
            proof={"n": n} if proof else None,
        )


def _snapshot(session, profile_id):
    """Everything derived: state rows and each event's annotations, keyed by content rather than random ids."""
    by_id = {e.id: e for e in session.scalars(select(ConsentEvent).where(ConsentEvent.profile_id == profile_id))}

    def content(event_id):
        e = by_id[event_id]
        return (e.identity_id, e.purpose, e.status, e.occurred_at, e.method, e.has_proof)

    states = sorted(
        (str(s.identity_id), s.purpose, s.status, s.occurred_at, s.expires_at, content(s.event_id)[2:])
        for s in states_of(session, profile_id)
    )
    ignored = sorted((str(content(i)), e.ignored_reason or "") for i, e in by_id.items())
    record_ids = {(e.identity_id, e.purpose): set() for e in by_id.values()}
    for e in by_id.values():
        record_ids[(e.identity_id, e.purpose)].add(e.record_id)
    assert all(len(r) == 1 for r in record_ids.values()), "one record id per subject"
    return states, ignored


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=histories, rng=st.randoms(use_true_random=False))
def test_live_state_equals_rebuild_and_any_arrival_order(session, contact_points, history, rng):
    profile_id, ids = contact_points
    shuffled = list(history)
    rng.shuffle(shuffled)

    first = session.begin_nested()
    try:
        _record_all(session, profile_id, ids, history)
        live = _snapshot(session, profile_id)
        rebuild_states(session, profile_id)
        assert _snapshot(session, profile_id) == live
        as_of_end = [(s.subject, s.status) for s in states_as_of(session, profile_id, T0 + dt.timedelta(hours=1))]
    finally:
        first.rollback()

    second = session.begin_nested()
    try:
        _record_all(session, profile_id, ids, shuffled)
        assert _snapshot(session, profile_id) == live
        assert [(s.subject, s.status) for s in states_as_of(session, profile_id, T0 + dt.timedelta(hours=1))] == (
            as_of_end
        )
    finally:
        second.rollback()
