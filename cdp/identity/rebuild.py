"""Re-resolve everything: replay every source record, in first-receipt order, through the resolver.

Each record first becomes its own profile; then, record by record, it is resolved against the profiles
already replayed, exactly as incremental ingestion would have done. Old profile ids redirect to the
profile that now holds their first record. Vetoes from unmerges still apply (they name records).
"""

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import delete
from sqlalchemy.orm import Session
from sqlmodel import col, select

from cdp.audit.log import Actor, append
from cdp.consent.models import ConsentState
from cdp.crypto.envelope import vault
from cdp.db import utcnow
from cdp.identity.merge import (
    MERGED,
    _move_rows,
    _sync_identities,
    merge_profiles,
    move_snapshots,
    refresh_golden,
)
from cdp.identity.models import MatchKey
from cdp.identity.resolve import profile_fields, replace_match_keys, resolve
from cdp.profiles import store
from cdp.profiles.models import Identity, Profile, SourceRecord


@dataclass(frozen=True)
class RebuildReport:
    records: int
    profiles_before: int
    profiles_after: int


def _live_ids(session: Session) -> set[uuid.UUID]:
    return set(session.scalars(select(Profile.id).where(col(Profile.merged_into).is_(None))))


def rebuild_identities(
    session: Session, *, actor: Actor, progress: Callable[[int, int], None] | None = None
) -> RebuildReport:
    v = vault(session)
    old_profiles = _live_ids(session)
    records = list(
        session.execute(
            select(SourceRecord.id, SourceRecord.profile_id).order_by(
                col(SourceRecord.created_at), col(SourceRecord.id)
            )
        )
    )
    now = utcnow()
    first_of: dict[uuid.UUID, uuid.UUID] = {}
    singles: list[tuple[uuid.UUID, uuid.UUID]] = []
    for record_id, old_profile in records:
        created = store.create_profile(session, golden={}, provenance={}, lifecycle_stage=None, at=utcnow())
        _move_rows(session, old_profile, created.id, {record_id})
        first_of.setdefault(old_profile, created.id)
        singles.append((record_id, created.id))
    # Old profiles keep what no record owns (events and consents recorded directly); it goes to the profile of
    # their first record, and the old id redirects there.
    for old_id in old_profiles:
        old = session.get(Profile, old_id)
        heir = first_of.get(old_id)
        if old is None or heir is None:
            continue
        _move_rows(session, old_id, heir, None)
        move_snapshots(session, old_id, heir)
        old.merged_into, old.status, old.golden, old.field_provenance = heir, MERGED, b"", {}
        session.execute(delete(MatchKey).where(col(MatchKey.profile_id) == old_id))
        session.execute(delete(ConsentState).where(col(ConsentState.profile_id) == old_id))
    session.flush()

    for done, (record_id, single_id) in enumerate(singles, start=1):
        single = session.get(Profile, single_id)
        assert single is not None
        _sync_identities(session, single)
        refresh_golden(session, single, at=now)
        fields = profile_fields(session, single)
        resolution = resolve(session, fields, record_id=record_id, exclude={single_id})
        target = single
        if resolution.profile is not None:
            target = resolution.profile
            merge_profiles(session, target, single, kind="rebuild", actor=actor, quiet=True)
            for other in resolution.merge_with:
                merge_profiles(session, target, other.profile, kind="rebuild", actor=actor, quiet=True)
        record = session.get(SourceRecord, record_id)
        if record is not None:
            record.link_evidence = {"method": "rebuild", **resolution.evidence()}
        replace_match_keys(session, target.id, profile_fields(session, target))
        if progress is not None:
            progress(done, len(singles))

    for old_id in old_profiles:
        session.execute(delete(Identity).where(col(Identity.profile_id) == old_id))
        v.destroy_key(old_id)
    session.flush()
    after = len(_live_ids(session))
    append(
        session,
        actor=actor,
        action="identity.rebuilt",
        resource_type="identity",
        details={"records": len(records), "profiles_before": len(old_profiles), "profiles_after": after},
    )
    return RebuildReport(records=len(records), profiles_before=len(old_profiles), profiles_after=after)
