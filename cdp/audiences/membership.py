"""Who is in an audience: active profiles whose contact point has a currently valid consent for the audience's
purpose, who match the definition, and whose contact point is not suppressed. Nothing else ever leaves cdp.

Restricted and erased profiles are out (their status is not `active`), merged-away ids are out (their
identities moved to the survivor), and a consent that lapsed (`expires_at` passed) counts as withdrawn.
"""

import datetime as dt
import uuid
from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import or_
from sqlalchemy import select as core_select
from sqlalchemy.orm import Session
from sqlmodel import col, select

from cdp.audiences.definitions import parse_definition
from cdp.audiences.models import Audience
from cdp.consent.catalog import purposes_of
from cdp.consent.ledger import PROOF
from cdp.consent.models import ConsentEvent, ConsentState
from cdp.crypto.envelope import vault
from cdp.db import utcnow
from cdp.profiles import store
from cdp.profiles.models import Identity, Profile, SourceRecord
from cdp.suppression.check import find_suppressions

ACTIVE = "active"
CHANNEL_KINDS = {"email": ("email",), "sms": ("phone",), "phone": ("phone",), "any": ("email", "phone")}


@dataclass(frozen=True)
class Candidate:
    """One contact point that may be sent: ids, and the consent it rests on (values are read later)."""

    profile_id: uuid.UUID
    identity_id: uuid.UUID
    kind: str
    consent_event_id: uuid.UUID
    consented_at: dt.datetime


def contact_kinds(session: Session, purpose: str) -> tuple[str, ...]:
    found = purposes_of(session).get(purpose)
    if found is None:
        return ()
    kinds: list[str] = []
    for channel in found.channels:
        kinds += [k for k in CHANNEL_KINDS.get(channel, ()) if k not in kinds]
    return tuple(kinds)


def candidates(
    session: Session,
    audience: Audience,
    *,
    now: dt.datetime | None = None,
    identity_ids: Collection[uuid.UUID] | None = None,
    after: uuid.UUID | None = None,
    limit: int | None = None,
) -> list[Candidate]:
    """Contact points with a granted, unexpired consent for the purpose on an active profile matching the
    definition, ordered by identity id. Suppression is checked by `without_suppressed` (it needs the values)."""
    now = now or utcnow()
    definition = parse_definition(audience.definition)
    kinds = contact_kinds(session, audience.purpose)
    if not kinds:
        return []
    query = (
        core_select(col(ConsentState.profile_id), col(ConsentState.identity_id), col(Identity.kind),
                    col(ConsentState.event_id), col(ConsentState.occurred_at))
        .join(Identity, col(Identity.id) == col(ConsentState.identity_id))
        .join(Profile, col(Profile.id) == col(ConsentState.profile_id))
        .where(
            col(ConsentState.purpose) == audience.purpose,
            col(ConsentState.status) == "granted",
            or_(col(ConsentState.expires_at).is_(None), col(ConsentState.expires_at) > now),
            col(Identity.kind).in_(kinds),
            col(Identity.profile_id) == col(ConsentState.profile_id),
            col(Profile.status) == ACTIVE,
            col(Profile.merged_into).is_(None),
        )
        .order_by(col(ConsentState.identity_id))
    )  # fmt: skip
    if definition.lifecycle_stages:
        query = query.where(col(Profile.lifecycle_stage).in_(definition.lifecycle_stages))
    cutoff = definition.cutoff(now)
    if cutoff is not None:
        query = query.where(col(Profile.last_activity_at) >= cutoff)
    if definition.sources:
        query = query.where(
            select(SourceRecord.id)
            .where(SourceRecord.profile_id == Profile.id, col(SourceRecord.source).in_(definition.sources))
            .exists()
        )
    if identity_ids is not None:
        query = query.where(col(ConsentState.identity_id).in_(list(identity_ids)))
    if after is not None:
        query = query.where(col(ConsentState.identity_id) > after)
    if limit is not None:
        query = query.limit(limit)
    return [
        Candidate(profile_id, identity_id, kind, event_id, occurred_at)
        for profile_id, identity_id, kind, event_id, occurred_at in session.execute(query)
        if identity_id is not None
    ]


@dataclass(frozen=True)
class Contact:
    """A candidate with its decrypted contact point and the few golden fields a destination receives."""

    candidate: Candidate
    value: str
    first_name: str | None
    last_name: str | None
    consent_ip: str | None


def read_contacts(session: Session, found: list[Candidate]) -> list[Contact]:
    """Decrypt the members' contact points and names, and drop any contact point on the suppression list."""
    if not found:
        return []
    with session.no_autoflush:  # reads only: one flush per contact would dominate a large audience
        return _read_contacts(session, found)


def _read_contacts(session: Session, found: list[Candidate]) -> list[Contact]:
    v = vault(session)
    v.load_keys({c.profile_id for c in found})
    identities = {
        i.id: i for i in session.scalars(select(Identity).where(col(Identity.id).in_([c.identity_id for c in found])))
    }
    profiles = {
        p.id: p for p in session.scalars(select(Profile).where(col(Profile.id).in_({c.profile_id for c in found})))
    }
    proofs = {
        e.id: e
        for e in session.scalars(
            select(ConsentEvent).where(col(ConsentEvent.id).in_([c.consent_event_id for c in found]))
        )
    }
    out: list[Contact] = []
    golden_cache: dict[uuid.UUID, dict[str, object]] = {}
    for c in found:
        identity = identities.get(c.identity_id)
        profile = profiles.get(c.profile_id)
        if identity is None or profile is None:
            continue
        value = store.identity_value(session, identity)
        if find_suppressions(session, [(identity.kind, value)]):
            continue
        golden = golden_cache.get(profile.id)
        if golden is None:
            golden = golden_cache[profile.id] = store.read_golden(session, profile)
        event = proofs.get(c.consent_event_id)
        ip = None
        if event is not None and event.proof:
            proof = v.decrypt_json(event.profile_id, event.proof, context=PROOF)
            ip = proof.get("ip") if isinstance(proof, dict) and isinstance(proof.get("ip"), str) else None
        first, last = golden.get("first_name"), golden.get("last_name")
        out.append(
            Contact(
                c,
                value,
                first if isinstance(first, str) else None,
                last if isinstance(last, str) else None,
                ip,
            )
        )
    return out


def member_count(session: Session, audience: Audience, *, now: dt.datetime | None = None) -> int:
    """Contact points that would be sent now (consent, definition and suppression all applied)."""
    total = 0
    after: uuid.UUID | None = None
    while True:
        page = candidates(session, audience, now=now, after=after, limit=1000)
        if not page:
            return total
        total += len(read_contacts(session, page))
        after = page[-1].identity_id
