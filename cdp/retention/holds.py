"""Placing and releasing legal holds. A profile with an active hold is exempt from every retention rule."""

import re
import uuid
from collections.abc import Iterable

from sqlalchemy.orm import Session
from sqlmodel import col, select

from cdp.audit.log import Actor, append
from cdp.db import utcnow
from cdp.errors import Conflict, InvalidInput, NotFound
from cdp.profiles.store import get_profile_or_raise
from cdp.retention.models import LegalHold

_EMAIL_LIKE = re.compile(r"[^@\s]+@[^@\s]+")


class HoldExists(Conflict):
    slug = "legal-hold-exists"
    title = "The profile is already under a legal hold"


class NoActiveHold(NotFound):
    slug = "legal-hold-not-found"
    title = "The profile has no active legal hold"


def active_hold(session: Session, profile_id: uuid.UUID) -> LegalHold | None:
    return session.scalars(
        select(LegalHold).where(LegalHold.profile_id == profile_id, col(LegalHold.released_at).is_(None))
    ).first()


def held_profile_ids(session: Session, profile_ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
    """Which of these profiles have an active hold (one query per batch)."""
    ids = list(set(profile_ids))
    if not ids:
        return set()
    return set(
        session.scalars(
            select(LegalHold.profile_id).where(col(LegalHold.profile_id).in_(ids), col(LegalHold.released_at).is_(None))
        )
    )


def place_hold(session: Session, profile_id: uuid.UUID, *, reason: str, actor: Actor) -> LegalHold:
    """Hold a live profile. `reason` is a case or matter reference: it must not name or contact the person."""
    reason = reason.strip()
    if not 3 <= len(reason) <= 200:
        raise InvalidInput("a hold reason is 3 to 200 characters (a case or matter reference)", field="reason")
    if _EMAIL_LIKE.search(reason):
        raise InvalidInput(
            "a hold reason must not contain an email address; give a case or matter reference",
            field="reason",
        )
    profile = get_profile_or_raise(session, profile_id)
    if active_hold(session, profile.id) is not None:
        raise HoldExists(f"profile {profile.id} is already under a legal hold", profile_id=str(profile.id))
    hold = LegalHold(profile_id=profile.id, reason=reason, actor_id=actor.id, created_at=utcnow())
    session.add(hold)
    session.flush()
    append(
        session,
        actor=actor,
        action="legal_hold.placed",
        resource_type="profile",
        resource_id=profile.id,
        details={"hold_id": str(hold.id)},
    )
    return hold


def release_hold(session: Session, profile_id: uuid.UUID, *, actor: Actor) -> LegalHold:
    """End the profile's active hold; the next retention run treats the profile like any other."""
    hold = active_hold(session, profile_id)
    if hold is None:
        raise NoActiveHold(f"profile {profile_id} has no active legal hold", profile_id=str(profile_id))
    hold.released_at = utcnow()
    hold.released_by = actor.id
    session.add(hold)
    session.flush()
    append(
        session,
        actor=actor,
        action="legal_hold.released",
        resource_type="profile",
        resource_id=profile_id,
        details={"hold_id": str(hold.id)},
    )
    return hold
