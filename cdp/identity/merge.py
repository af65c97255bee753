"""Merging two profiles into one, and splitting records back out, with evidence kept for both.

Every row of the merged-away profile moves to the survivor and is re-encrypted under the survivor's data
key; the merged-away profile keeps only its id (it answers with a redirect) and its data key is destroyed.
"""

import contextlib
import datetime as dt
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import LargeBinary, Uuid, column, delete, table, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import TableClause
from sqlmodel import col, select

from cdp.audit.log import SYSTEM, Actor, append
from cdp.consent.ledger import PROOF
from cdp.consent.models import ConsentEvent, ConsentState
from cdp.consent.state import rebuild_states
from cdp.crypto.envelope import vault
from cdp.db import utcnow
from cdp.errors import Conflict, InvalidInput
from cdp.identity.models import MatchKey, MergeEvent, MergeVeto
from cdp.identity.normalize import (
    NormalizationError,
    is_placeholder_email,
    is_role_email,
    normalize_email,
    normalize_phone,
)
from cdp.identity.survivorship import RECTIFICATION, Observation, apply_pins, compute_golden
from cdp.policies import POLICIES_INFO_KEY, IdentityPolicy
from cdp.profiles import store
from cdp.profiles.models import Event, Identity, Profile, SourceRecord

# Audience snapshots hang off profiles and identities but belong to a higher layer (audiences); they are
# updated through a lightweight table clause so the import graph stays acyclic.
_SNAPSHOT_TABLE = "audience_membership_snapshot"


SNAPSHOTS: TableClause = table(
    _SNAPSHOT_TABLE,
    column("id", Uuid()),
    column("profile_id", Uuid()),
    column("identity_id", Uuid()),
    column("member_ref", LargeBinary()),
)
# The snapshot's member_ref is encrypted under its profile's data key (cdp.audiences.removals.REF_CONTEXT).
SNAPSHOT_REF = "audience_member_ref"


def move_snapshots(
    session: Session, old: uuid.UUID, new: uuid.UUID, *, identity_ids: Iterable[uuid.UUID] | None = None
) -> None:
    """Repoint audience snapshot rows from profile `old` to `new`, re-encrypting their member refs (the old
    profile's data key may be destroyed right after)."""
    query = select(SNAPSHOTS.c.id, SNAPSHOTS.c.member_ref).where(SNAPSHOTS.c.profile_id == old)
    if identity_ids is not None:
        query = query.where(SNAPSHOTS.c.identity_id.in_(list(identity_ids)))
    for row_id, ref in session.execute(query).all():
        session.execute(
            update(SNAPSHOTS)
            .where(SNAPSHOTS.c.id == row_id)
            .values(profile_id=new, member_ref=_reencrypt(session, old, new, ref, SNAPSHOT_REF))
        )


MERGED = "merged"


def identity_policy(session: Session) -> IdentityPolicy:
    policies = session.info.get(POLICIES_INFO_KEY)
    policy = getattr(policies, "identity", None)
    return policy if isinstance(policy, IdentityPolicy) else IdentityPolicy()


def _reencrypt(session: Session, old: uuid.UUID, new: uuid.UUID, blob: bytes | None, context: str) -> bytes | None:
    if blob is None or store.is_minimised(blob):
        return blob
    v = vault(session)
    return v.encrypt(new, v.decrypt(old, blob, context=context), context=context)


def observations_of(session: Session, profile_id: uuid.UUID) -> list[Observation]:
    out = []
    for record in store.source_records_of(session, profile_id):
        payload = store.source_payload(session, record)
        if not payload:
            continue  # minimised by retention: nothing left to observe
        observed = record.source_updated_at or record.received_at
        out.append(Observation(record.source, observed, payload))
    return out


def refresh_golden(
    session: Session,
    profile: Profile,
    *,
    at: dt.datetime | None = None,
    observations: list[Observation] | None = None,
) -> dict[str, Any]:
    """Recompute the golden record; pass `observations` when they are already known (a brand-new profile)."""
    if observations is None:
        observations = observations_of(session, profile.id)
    golden, provenance, stage = compute_golden(observations, identity_policy(session))
    if any(isinstance(p, dict) and p.get("rule") == RECTIFICATION for p in (profile.field_provenance or {}).values()):
        _keep_rectified(session, profile, golden, provenance, observations)
    store.write_golden(session, profile, golden, at=at or utcnow())
    profile.field_provenance = provenance
    if stage:
        profile.lifecycle_stage = stage
    return golden


def rectification_digest(session: Session) -> Callable[[str, str], str]:
    v = vault(session)
    return lambda name, value: v.blind_index(f"rectification:{name}", value)


def _keep_rectified(
    session: Session,
    profile: Profile,
    golden: dict[str, Any],
    provenance: dict[str, Any],
    observations: list[Observation],
) -> None:
    """A rectified field outlives re-syncs of the old value; a re-sync that still carries it is a recorded conflict."""
    outcome = apply_pins(
        store.read_golden(session, profile),
        profile.field_provenance,
        golden,
        provenance,
        observations,
        rectification_digest(session),
    )
    if outcome.conflicts or outcome.lifted:
        append(
            session,
            actor=SYSTEM,
            action="profile.rectification_conflict" if outcome.conflicts else "profile.rectification_superseded",
            resource_type="profile",
            resource_id=profile.id,
            details={"fields": sorted(outcome.conflicts), "superseded": sorted(outcome.lifted)},
        )


def record_identities(payload: dict[str, Any], source: str) -> list[tuple[str, str, str]]:
    """(kind, normalized value, trust) of every identifier a source record carries."""
    out = [(store.external_kind(source), str(payload["external_id"]), "high")]
    if payload.get("email"):
        with contextlib.suppress(NormalizationError):
            email = normalize_email(str(payload["email"]))
            low = is_role_email(email) or is_placeholder_email(email)
            out.append(("email", email, "low" if low else "high"))
    if payload.get("phone"):
        with contextlib.suppress(NormalizationError):
            out.append(("phone", normalize_phone(str(payload["phone"]), payload.get("country")), "high"))
    return out


def _move_rows(session: Session, old: uuid.UUID, new: uuid.UUID, records: set[uuid.UUID] | None) -> None:
    """Move (and re-encrypt) source records, events and consent events; `records=None` moves all of them."""
    q_records = select(SourceRecord).where(SourceRecord.profile_id == old)
    q_events = select(Event).where(Event.profile_id == old)
    q_consents = select(ConsentEvent).where(ConsentEvent.profile_id == old)
    if records is not None:
        q_records = q_records.where(col(SourceRecord.id).in_(records))
        q_events = q_events.where(col(Event.source_record_id).in_(records))
        q_consents = q_consents.where(col(ConsentEvent.source_record_id).in_(records))
    for record in session.scalars(q_records):
        record.payload = _reencrypt(session, old, new, record.payload, store.SOURCE_PAYLOAD) or b""
        record.profile_id = new
    for event in session.scalars(q_events):
        event.properties = _reencrypt(session, old, new, event.properties, store.EVENT_PROPERTIES)
        event.profile_id = new
    for consent in session.scalars(q_consents):
        consent.proof = _reencrypt(session, old, new, consent.proof, PROOF)
        consent.profile_id = new
    session.flush()


def _sync_identities(session: Session, profile: Profile) -> None:
    """Make the profile's identity rows exactly those its source records carry; repoint consents and snapshots."""
    v = vault(session)
    wanted: dict[tuple[str, str], tuple[str, str, str, dt.datetime]] = {}
    for record in store.source_records_of(session, profile.id):
        payload = store.source_payload(session, record)
        if not payload:
            continue  # minimised by retention: its identifiers are no longer known
        seen = record.source_updated_at or record.received_at
        for kind, value, trust in record_identities(payload, record.source):
            key = (kind, v.blind_index(kind, value))
            prev = wanted.get(key)
            if prev is None or seen < prev[3]:
                wanted[key] = (value, record.source, trust, seen)
    rows = {(i.kind, i.blind_index): i for i in store.identities_of(session, profile.id)}
    owned_elsewhere = {
        i.id: (i.kind, i.blind_index)
        for i in session.scalars(
            select(Identity)
            .join(ConsentEvent, col(ConsentEvent.identity_id) == col(Identity.id))
            .where(ConsentEvent.profile_id == profile.id, Identity.profile_id != profile.id)
        )
    }
    for key, (value, source, trust, seen) in wanted.items():
        if key not in rows:
            rows[key] = store.upsert_identity(
                session, profile, kind=key[0], normalized=value, source=source, trust=trust, seen_at=seen
            )
    for identity_id, key in owned_elsewhere.items():
        target = rows.get(key)
        session.execute(
            update(ConsentEvent)
            .where(col(ConsentEvent.profile_id) == profile.id, col(ConsentEvent.identity_id) == identity_id)
            .values(identity_id=target.id if target else None)
        )
        session.execute(
            update(SNAPSHOTS)
            .where(SNAPSHOTS.c.profile_id == profile.id, SNAPSHOTS.c.identity_id == identity_id)
            .values(identity_id=target.id if target else identity_id)
        )
    for key, identity in rows.items():
        if key not in wanted:
            referenced = session.scalars(
                select(ConsentEvent.id).where(ConsentEvent.identity_id == identity.id).limit(1)
            ).first()
            if referenced is None:
                session.delete(identity)
    session.flush()


def _retire(session: Session, merged: Profile, survivor: Profile) -> None:
    merged.merged_into = survivor.id
    merged.status = MERGED
    merged.golden = b""
    merged.field_provenance = {}
    merged.updated_at = utcnow()
    session.execute(delete(MatchKey).where(col(MatchKey.profile_id) == merged.id))
    session.flush()
    vault(session).destroy_key(merged.id)


def merge_profiles(
    session: Session,
    survivor: Profile,
    merged: Profile,
    *,
    kind: str,
    actor: Actor,
    weight: float | None = None,
    levels: dict[str, Any] | None = None,
    reason: str | None = None,
    quiet: bool = False,
) -> MergeEvent | None:
    """Merge `merged` into `survivor`. `quiet` (rebuilds) skips the per-merge event, timeline entry and audit
    entry: the rebuild writes one summary instead of one per record."""
    if survivor.id == merged.id:
        raise InvalidInput("a profile cannot be merged into itself")
    if merged.merged_into is not None or survivor.merged_into is not None:
        raise Conflict("only live profiles can be merged")
    if vetoed(session, _record_ids(session, survivor.id), _record_ids(session, merged.id)):
        raise Conflict("these profiles hold records that were split apart before; unmerge vetoes forbid joining them")
    moved = sorted(str(r) for r in _record_ids(session, merged.id))
    # Derived consent state is rebuilt from the ledger below; drop it first so no row pins an identity.
    session.execute(delete(ConsentState).where(col(ConsentState.profile_id).in_([survivor.id, merged.id])))
    _move_rows(session, merged.id, survivor.id, None)
    move_snapshots(session, merged.id, survivor.id)
    for identity in store.identities_of(session, merged.id):
        identity.value = _reencrypt(session, merged.id, survivor.id, identity.value, store.IDENTITY_VALUE) or b""
        identity.profile_id = survivor.id
    session.flush()
    _dedupe_identities(session, survivor)
    _retire(session, merged, survivor)
    refresh_golden(session, survivor)
    rebuild_states(session, survivor.id)
    if quiet:
        session.flush()
        return None
    event = MergeEvent(
        kind=kind,
        survivor_id=survivor.id,
        merged_id=merged.id,
        source_record_ids=moved,
        weight=weight,
        levels=levels or {},
        actor_id=actor.id,
        reason=reason,
    )
    session.add(event)
    store.add_event(
        session,
        survivor,
        type="profiles_merged",
        occurred_at=utcnow(),
        source="cdp",
        dedup_id=None,
        properties={"merged_id": str(merged.id), "kind": kind},
    )
    append(
        session,
        actor=actor,
        action="profile.merged",
        resource_type="profile",
        resource_id=survivor.id,
        details={"merged_id": str(merged.id), "kind": kind, "records": len(moved)},
    )
    session.flush()
    return event


def _dedupe_identities(session: Session, profile: Profile) -> None:
    keep: dict[tuple[str, str], Identity] = {}
    for identity in store.identities_of(session, profile.id):
        key = (identity.kind, identity.blind_index)
        first = keep.get(key)
        if first is None:
            keep[key] = identity
            continue
        first.first_seen = min(first.first_seen, identity.first_seen)
        first.last_seen = max(first.last_seen, identity.last_seen)
        if identity.trust == "high":
            first.trust = first.trust if first.trust == "high" else identity.trust
        session.execute(
            update(ConsentEvent).where(col(ConsentEvent.identity_id) == identity.id).values(identity_id=first.id)
        )
        session.execute(update(SNAPSHOTS).where(SNAPSHOTS.c.identity_id == identity.id).values(identity_id=first.id))
        session.flush()
        session.delete(identity)
    session.flush()


def _record_ids(session: Session, profile_id: uuid.UUID) -> set[uuid.UUID]:
    return set(session.scalars(select(SourceRecord.id).where(SourceRecord.profile_id == profile_id)))


def vetoed(session: Session, group_a: Iterable[uuid.UUID], group_b: Iterable[uuid.UUID]) -> bool:
    a, b = set(group_a), set(group_b)
    if not a or not b:
        return False
    found = session.scalars(
        select(MergeVeto.id)
        .where(
            (col(MergeVeto.record_a).in_(a) & col(MergeVeto.record_b).in_(b))
            | (col(MergeVeto.record_a).in_(b) & col(MergeVeto.record_b).in_(a))
        )
        .limit(1)
    ).first()
    return found is not None


def _revive(session: Session, profile_id: uuid.UUID, *, at: dt.datetime) -> Profile | None:
    """Undoing a merge gives the merged-away id back its records, so clients that kept that id see it again."""
    profile = session.get(Profile, profile_id)
    if profile is None or profile.status != MERGED:
        return None
    vault(session).create_key(profile.id)
    profile.merged_into = None
    profile.status = "active"
    profile.golden = vault(session).encrypt_json(profile.id, {}, context=store.GOLDEN)
    profile.updated_at = at
    session.flush()
    return profile


def split_profile(
    session: Session,
    profile: Profile,
    record_ids: set[uuid.UUID],
    *,
    actor: Actor,
    reason: str,
    undo: MergeEvent | None = None,
) -> tuple[Profile, MergeEvent]:
    """Move `record_ids` to a new profile and forbid resolution from joining the two groups again."""
    remaining = _record_ids(session, profile.id) - record_ids
    if not record_ids or not record_ids <= _record_ids(session, profile.id):
        raise InvalidInput("the records to split off must be source records of this profile")
    if not remaining:
        raise InvalidInput("an unmerge must leave at least one record on the profile")
    now = utcnow()
    split = _revive(session, undo.merged_id, at=now) if undo is not None else None
    if split is None:
        split = store.create_profile(session, golden={}, provenance={}, lifecycle_stage=None, at=now)
    session.execute(delete(ConsentState).where(col(ConsentState.profile_id) == profile.id))
    _move_rows(session, profile.id, split.id, record_ids)
    for new in (split, profile):
        _sync_identities(session, new)
    move_snapshots(session, profile.id, split.id, identity_ids=[i.id for i in store.identities_of(session, split.id)])
    for a in record_ids:
        for b in remaining:
            session.add(MergeVeto(record_a=a, record_b=b))
    event = MergeEvent(
        kind="unmerge",
        survivor_id=profile.id,
        merged_id=split.id,
        source_record_ids=sorted(str(r) for r in record_ids),
        actor_id=actor.id,
        reason=reason,
    )
    session.add(event)
    session.flush()
    for veto in session.scalars(select(MergeVeto).where(col(MergeVeto.merge_event_id).is_(None))):
        veto.merge_event_id = event.id
    if undo is not None:
        undo.undone_at = now
    for p in (profile, split):
        refresh_golden(session, p, at=now)
        rebuild_states(session, p.id)
        p.last_activity_at = max(
            (e.occurred_at for e in session.scalars(select(Event).where(Event.profile_id == p.id))), default=now
        )
    store.add_event(
        session,
        profile,
        type="profile_unmerged",
        occurred_at=now,
        source="cdp",
        dedup_id=None,
        properties={"split_id": str(split.id)},
    )
    append(
        session,
        actor=actor,
        action="profile.unmerged",
        resource_type="profile",
        resource_id=profile.id,
        details={"split_id": str(split.id), "records": len(record_ids)},
    )
    session.flush()
    return split, event
