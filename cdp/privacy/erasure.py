"""Erasing one person: crypto-shred their data key, delete every row that is about them, keep a tombstone.

The tombstone (status `erased`, golden and provenance emptied) keeps the id answering "gone" and keeps the
audit log's references meaningful; ids merged into it stay redirects to it. Callers decide *whether* a
person may be erased (legal holds, restriction, statutory retention) and whether to suppress their
identifiers afterwards: retention erasure does not suppress, an erasure request will. This function only
erases, and never commits.
"""

import uuid
from dataclasses import dataclass, field

from sqlalchemy import String, cast, delete, or_, update
from sqlalchemy.orm import Session
from sqlmodel import col, select

from cdp.audiences.models import AudienceMembershipSnapshot
from cdp.audit.log import Actor, append
from cdp.consent.models import ConsentEvent, ConsentState
from cdp.crypto.envelope import vault
from cdp.db import utcnow
from cdp.identity.models import MatchKey, MergeEvent, MergeVeto
from cdp.profiles.errors import ProfileMerged, ProfileNotFound
from cdp.profiles.models import Event, Identity, Profile, SourceRecord

ERASED = "erased"


@dataclass(frozen=True)
class ErasureReport:
    profile_id: uuid.UUID
    counts: dict[str, int] = field(default_factory=dict)  # table -> rows deleted; "data_key" -> keys destroyed
    already_erased: bool = False

    @property
    def rows(self) -> int:
        return sum(n for table, n in self.counts.items() if table != "data_key")


def _deleted(session: Session, statement: object) -> int:
    result = session.execute(statement)  # type: ignore[call-overload]
    return int(getattr(result, "rowcount", 0) or 0)


def erase_profile(
    session: Session,
    profile_id: uuid.UUID,
    *,
    actor: Actor,
    reason: str,
    keep_counts: bool = False,
) -> ErasureReport:
    """Erase a live (active or restricted) profile; erasing an erased one again is a no-op.

    `keep_counts` is anonymisation: the tombstone keeps its lifecycle stage and creation time, so
    aggregate counts ("leads created in 2024") survive, and nothing else. `reason` is an id or a rule
    name (it goes to the audit log), never free text about the person.
    """
    profile = session.get(Profile, profile_id)
    if profile is None:
        raise ProfileNotFound(profile_id)
    if profile.status == ERASED:
        return ErasureReport(profile_id, already_erased=True)
    if profile.merged_into is not None:
        raise ProfileMerged(profile_id, profile.merged_into)
    now = utcnow()

    records = list(session.scalars(select(SourceRecord.id).where(SourceRecord.profile_id == profile_id)))
    identities = list(session.scalars(select(Identity.id).where(Identity.profile_id == profile_id)))
    counts: dict[str, int] = {}

    # Dependents first, so every foreign key is satisfied on PostgreSQL and on SQLite with foreign_keys=ON.
    counts["consent_state"] = _deleted(session, delete(ConsentState).where(col(ConsentState.profile_id) == profile_id))
    snapshot_match = col(AudienceMembershipSnapshot.profile_id) == profile_id
    if identities:
        snapshot_match = or_(snapshot_match, col(AudienceMembershipSnapshot.identity_id).in_(identities))
    counts["audience_membership_snapshot"] = _deleted(session, delete(AudienceMembershipSnapshot).where(snapshot_match))
    counts["merge_event"], counts["merge_veto"] = _delete_merge_evidence(session, profile_id, records)
    counts["event"] = _deleted(session, delete(Event).where(col(Event.profile_id) == profile_id))
    counts["consent_event"] = _deleted(session, delete(ConsentEvent).where(col(ConsentEvent.profile_id) == profile_id))
    # Another profile's ledger may still point at one of these contact points (see identity.merge); the
    # pointer goes, the other person's consent stays.
    if identities:
        for ledger in (ConsentEvent, ConsentState):
            session.execute(update(ledger).where(col(ledger.identity_id).in_(identities)).values(identity_id=None))
    if records:
        for model in (Event, ConsentEvent):
            session.execute(update(model).where(col(model.source_record_id).in_(records)).values(source_record_id=None))
    counts["identity"] = _deleted(session, delete(Identity).where(col(Identity.profile_id) == profile_id))
    counts["source_record"] = _deleted(session, delete(SourceRecord).where(col(SourceRecord.profile_id) == profile_id))
    counts["match_key"] = _deleted(session, delete(MatchKey).where(col(MatchKey.profile_id) == profile_id))
    counts["data_key"] = int(vault(session).destroy_key(profile_id))

    profile.status = ERASED
    profile.golden = b""
    profile.field_provenance = {}
    profile.last_activity_at = None
    profile.updated_at = now
    if not keep_counts:
        profile.lifecycle_stage = None
        profile.created_at = now
    session.add(profile)
    session.flush()

    append(
        session,
        actor=actor,
        action="profile.anonymized" if keep_counts else "profile.erased",
        resource_type="profile",
        resource_id=profile_id,
        details={"reason": reason, **{k: v for k, v in counts.items() if v}},
    )
    return ErasureReport(profile_id, counts)


def _delete_merge_evidence(session: Session, profile_id: uuid.UUID, records: list[uuid.UUID]) -> tuple[int, int]:
    """Merge and split evidence naming this profile or one of its records goes, with every veto on its
    records; the redirect rows of profiles merged into it stay. Returns (merge events, vetoes) deleted."""
    vetoes = 0
    if records:
        vetoes += _deleted(
            session,
            delete(MergeVeto).where(or_(col(MergeVeto.record_a).in_(records), col(MergeVeto.record_b).in_(records))),
        )
    # source_record_ids is a JSON list of UUID strings; a text match finds the rows that name a record.
    names = [cast(MergeEvent.source_record_ids, String).contains(str(r)) for r in records]
    ids = list(
        session.scalars(
            select(MergeEvent.id).where(
                or_(col(MergeEvent.survivor_id) == profile_id, col(MergeEvent.merged_id) == profile_id, *names)
            )
        )
    )
    if ids:
        vetoes += _deleted(session, delete(MergeVeto).where(col(MergeVeto.merge_event_id).in_(ids)))
        session.execute(delete(MergeEvent).where(col(MergeEvent.id).in_(ids)))
    return len(ids), vetoes
