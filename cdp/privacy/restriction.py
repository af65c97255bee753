"""Restriction of processing (GDPR Art. 18): the profile is stored but not used until the restriction is lifted.

A restricted profile (status `restricted`) is left out of audiences and destination syncs, read only by the
compliance role, and skipped by retention. Lifting it needs the time the person was told (Art. 18(3)).
"""

import datetime as dt
import uuid

from sqlalchemy.orm import Session

from cdp.audiences.removals import queue_removals
from cdp.audit.log import Actor, append
from cdp.db import utcnow
from cdp.errors import Conflict, InvalidInput
from cdp.profiles import store
from cdp.profiles.models import Profile

RESTRICTED = "restricted"
ACTIVE = "active"


class NotRestricted(Conflict):
    slug = "profile-not-restricted"
    title = "The profile is not restricted"


def restrict_profile(
    session: Session, profile_id: uuid.UUID, *, request_id: uuid.UUID, actor: Actor
) -> list[str] | None:
    """Restrict a live profile and queue its removal from every destination it was synced to (Art. 19); returns
    those destinations, or None when it already was restricted (a second request changes nothing)."""
    profile = store.get_profile_or_raise(session, profile_id)
    if profile.status == RESTRICTED:
        return None
    _set_status(session, profile, RESTRICTED, event="processing_restricted", request_id=request_id)
    destinations = queue_removals(session, profile.id, erase=False, reason=f"restriction:{request_id}", actor=actor)
    append(
        session,
        actor=actor,
        action="profile.restricted",
        resource_type="profile",
        resource_id=profile.id,
        details={"request_id": str(request_id), "destinations": destinations},
    )
    return destinations


def lift_restriction(
    session: Session,
    profile_id: uuid.UUID,
    *,
    subject_informed_at: dt.datetime | None,
    request_id: uuid.UUID,
    actor: Actor,
) -> None:
    if subject_informed_at is None:
        raise InvalidInput(
            "lifting a restriction needs subject_informed_at: the person must be told before it is lifted (Art. 18(3))",
            field="subject_informed_at",
        )
    if subject_informed_at > utcnow() + dt.timedelta(minutes=5):
        raise InvalidInput("subject_informed_at is in the future", field="subject_informed_at")
    profile = store.get_profile_or_raise(session, profile_id)
    if profile.status != RESTRICTED:
        raise NotRestricted(f"profile {profile.id} is not restricted", profile_id=str(profile.id))
    _set_status(session, profile, ACTIVE, event="restriction_lifted", request_id=request_id)
    append(
        session,
        actor=actor,
        action="profile.restriction_lifted",
        resource_type="profile",
        resource_id=profile.id,
        details={"request_id": str(request_id), "subject_informed_at": subject_informed_at.isoformat()},
    )


def _set_status(session: Session, profile: Profile, status: str, *, event: str, request_id: uuid.UUID) -> None:
    now = utcnow()
    profile.status = status
    profile.updated_at = now
    session.add(profile)
    quiet = profile.last_activity_at  # a privacy action is not the person's activity (retention clocks)
    store.add_event(
        session,
        profile,
        type=event,
        occurred_at=now,
        source="privacy_request",
        dedup_id=f"{event}:{request_id}",
        properties={"request_id": str(request_id)},
    )
    profile.last_activity_at = quiet
    session.flush()
