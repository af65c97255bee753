"""Property: whatever the consent histories and profile states, an audience's export never holds anyone whose
latest email_marketing event is not a grant or who is not active, and holds exactly the active people whose
folded consent state is granted (the fold may also ignore a grant, e.g. an import after an objection)."""

import datetime as dt

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import select

from cdp.audiences.membership import candidates, read_contacts
from cdp.audiences.models import Audience
from cdp.audit.log import SYSTEM
from cdp.consent.models import ConsentState
from cdp.ingest.pipeline import ingest_batch
from cdp.profiles.models import Profile
from tests.factories import contact_row

START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
EVENTS = st.lists(st.sampled_from(["granted", "withdrawn", "denied", "objected"]), max_size=4)
PEOPLE = st.lists(st.tuples(EVENTS, st.sampled_from(["active", "active", "restricted"])), min_size=1, max_size=6)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(people=PEOPLE)
def test_the_export_is_exactly_the_active_people_whose_latest_event_is_a_grant(session, people):
    nested = session.begin_nested()
    try:
        allowed: set[str] = set()
        by_profile = {}
        for n, (events, status) in enumerate(people):
            email = f"prop{n}@example.test"
            consents = [
                {"purpose": "email_marketing", "status": e, "occurred_at": (START + dt.timedelta(days=i)).isoformat()}
                for i, e in enumerate(events)
            ]
            result = ingest_batch(session, "crm", [contact_row(email=email, consents=consents)], actor=SYSTEM)
            assert result.results[0].outcome == "created", result.results[0].reasons
            profile = session.get(Profile, result.results[0].profile_id)
            profile.status = status
            by_profile[profile.id] = email
            if events and events[-1] == "granted" and status == "active":
                allowed.add(email)
        session.flush()
        audience = Audience(name="prop", purpose="email_marketing", destination="mailchimp")
        session.add(audience)
        session.flush()

        exported = {c.value for c in read_contacts(session, candidates(session, audience))}

        assert exported <= allowed
        granted = session.scalars(select(ConsentState.profile_id).where(ConsentState.status == "granted")).all()
        active = {p for p in granted if session.get(Profile, p).status == "active"}
        assert exported == {by_profile[p] for p in active}
    finally:
        nested.rollback()
