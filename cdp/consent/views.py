"""The profile as a reader sees it: golden record, identities and consent state; a profile's consents and ledger.

The marketing view holds only contact points with a currently granted consent, and no golden fields
beyond those contact points (data minimisation, GDPR Art. 5(1)(c)).
"""

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import and_, or_
from sqlalchemy.orm import Session
from sqlmodel import col, select

from cdp.consent.fold import effective_status
from cdp.consent.ledger import PROOF
from cdp.consent.models import ConsentEvent
from cdp.consent.schemas import ConsentEventRead, ConsentSubjectRead
from cdp.consent.state import states_as_of, states_of
from cdp.crypto.envelope import vault
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


def consent_subjects(
    session: Session, profile_id: uuid.UUID, *, at: dt.datetime | None = None
) -> list[ConsentSubjectRead]:
    """The state of each (contact point, purpose) now (from consent_state) or as of `at` (folded again)."""
    kinds = {i.id: i.kind for i in store.identities_of(session, profile_id)}
    if at is None:
        now = utcnow()
        rows = [
            (s.record_id, s.identity_id, s.purpose, effective_status(s.status, s.expires_at, now), s.status,
             s.event_id, s.expires_at)
            for s in states_of(session, profile_id)
        ]  # fmt: skip
    else:
        rows = [
            (s.record_id, s.subject[1], s.subject[2], s.status, s.folded_status, s.event.id, s.expires_at)
            for s in states_as_of(session, profile_id, at)
        ]
    events = {e.id: e for e in session.scalars(select(ConsentEvent).where(ConsentEvent.profile_id == profile_id))}
    out = []
    for record_id, identity_id, purpose, status, folded, event_id, expires_at in rows:
        event = events[event_id]
        out.append(
            ConsentSubjectRead(
                record_id=record_id,
                purpose=purpose,
                identity_id=identity_id,
                contact_point_kind=kinds.get(identity_id) if identity_id else None,
                status=status,
                recorded_status=folded,
                event_id=event_id,
                occurred_at=event.occurred_at,
                expires_at=expires_at,
                lawful_basis=event.lawful_basis,
                notice_id=event.notice_id,
                notice_version=event.notice_version,
                notice_sha256=event.notice_sha256,
            )
        )
    return out


def ledger_page(
    session: Session,
    profile_id: uuid.UUID,
    *,
    at: dt.datetime | None,
    after: tuple[dt.datetime, uuid.UUID] | None,
    limit: int,
    with_proof: bool,
) -> list[ConsentEventRead]:
    """Ledger events newest first (occurred_at, then id), starting after the cursor position `after`."""
    query = select(ConsentEvent).where(ConsentEvent.profile_id == profile_id)
    if at is not None:
        query = query.where(col(ConsentEvent.occurred_at) <= at)
    if after is not None:
        when, last_id = after
        query = query.where(
            or_(
                col(ConsentEvent.occurred_at) < when,
                and_(col(ConsentEvent.occurred_at) == when, col(ConsentEvent.id) < last_id),
            )
        )
    query = query.order_by(col(ConsentEvent.occurred_at).desc(), col(ConsentEvent.id).desc()).limit(limit)
    v = vault(session)
    return [
        event_read(
            event, v.decrypt_json(profile_id, event.proof, context=PROOF) if with_proof and event.proof else None
        )
        for event in session.scalars(query)
    ]


def event_read(event: ConsentEvent, proof: dict[str, Any] | None = None) -> ConsentEventRead:
    """The ledger event as the API shows it; `proof` is the decrypted proof, for callers allowed to see it."""
    fields = {name: getattr(event, name) for name in ConsentEventRead.model_fields if name != "proof"}
    return ConsentEventRead.model_validate({**fields, "proof": proof})
