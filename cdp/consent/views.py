"""The profile as a reader sees it: golden record, identities and consent state.

The marketing view holds only contact points with a currently granted consent, and no golden fields
beyond those contact points (data minimisation, GDPR Art. 5(1)(c)).
"""

import datetime as dt

from sqlalchemy.orm import Session

from cdp.consent.fold import effective_status
from cdp.consent.state import states_of
from cdp.db import utcnow
from cdp.profiles import store
from cdp.profiles.models import Profile
from cdp.profiles.schemas import ConsentStateRead, IdentityRead, ProfileRead


def profile_view(
    session: Session, profile: Profile, *, consented_only: bool = False, now: dt.datetime | None = None
) -> ProfileRead:
    now = now or utcnow()
    states = states_of(session, profile.id)
    consents = [
        ConsentStateRead(
            purpose=s.purpose,
            identity_id=s.identity_id,
            status=effective_status(s.status, s.expires_at, now),
            occurred_at=s.occurred_at,
            expires_at=s.expires_at,
        )
        for s in states
    ]
    identities = store.identities_of(session, profile.id)
    if consented_only:
        allowed = {s.identity_id for s in states if effective_status(s.status, s.expires_at, now) == "granted"}
        identities = [i for i in identities if i.id in allowed]
        consents = [c for c in consents if c.identity_id in allowed]
    golden = store.read_golden(session, profile)
    if consented_only:
        golden = {}
    return ProfileRead(
        id=profile.id,
        status=profile.status,
        lifecycle_stage=profile.lifecycle_stage,
        golden=golden,
        field_provenance={} if consented_only else profile.field_provenance,
        identities=[
            IdentityRead(
                id=i.id,
                kind=i.kind,
                value=store.identity_value(session, i),
                source=i.source,
                trust=i.trust,
                first_seen=i.first_seen,
                last_seen=i.last_seen,
            )
            for i in identities
        ],
        consents=consents,
        created_at=profile.created_at,
        updated_at=profile.updated_at,
        last_activity_at=profile.last_activity_at,
        view="consented" if consented_only else "full",
    )
