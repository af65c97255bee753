"""Objection to direct marketing (GDPR Art. 21(2)-(3)): absolute, and for every direct-marketing purpose at once.

One `objected` ledger event per direct-marketing purpose and contact point, with the request as provenance (in
the encrypted proof). The consent fold lets only a later first-party grant with proof lift it, so a stale CRM
`granted` never re-enables the person.
"""

import uuid

from sqlalchemy.orm import Session

from cdp.audit.log import Actor
from cdp.consent.catalog import channel_covered, purposes_of
from cdp.consent.ledger import CONTACT_KINDS, announce_changes, record_consent_events
from cdp.consent.models import ConsentEvent
from cdp.db import utcnow
from cdp.profiles import store

SOURCE = "privacy_request"


def object_to_direct_marketing(
    session: Session, profile_id: uuid.UUID, *, request_id: uuid.UUID, actor: Actor
) -> list[ConsentEvent]:
    """Record the objection; [] when this request already did, or when no direct-marketing purpose exists."""
    profile = store.get_profile_or_raise(session, profile_id)
    purposes = sorted((p for p in purposes_of(session).values() if p.direct_marketing), key=lambda p: p.id)
    if not purposes:
        return []
    contact_points = [i for i in store.identities_of(session, profile.id) if i.kind in CONTACT_KINDS]
    # The first event names one purpose and contact point; the ledger fans it out to all the others.
    first = purposes[0]
    target = next((i for i in contact_points if channel_covered(first, i.kind)), None)
    events = record_consent_events(
        session,
        profile_id=profile.id,
        identity_id=target.id if target else None,
        channel=target.kind if target else "any",
        purpose=first.id,
        status="objected",
        occurred_at=utcnow(),
        source=SOURCE,
        method="api",
        indicated_by="data_subject",
        actor=actor.id,
        proof={"privacy_request_id": str(request_id), "article": "GDPR Art. 21(2)"},
        dedup_id=f"objection:{request_id}",
    )
    announce_changes(session, profile.id, events, actor=actor)
    return events
