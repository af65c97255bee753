"""Reading and writing profiles, identities, source records and events; encryption happens here."""

import datetime as dt
import uuid
from typing import Any

from sqlalchemy.orm import Session
from sqlmodel import col, select

from cdp.crypto.envelope import vault
from cdp.db import utcnow
from cdp.profiles.errors import ProfileMerged, ProfileNotFound
from cdp.profiles.models import Event, Identity, Profile, SourceRecord

GOLDEN = "profile.golden"
IDENTITY_VALUE = "identity.value"
SOURCE_PAYLOAD = "source_record.payload"
EVENT_PROPERTIES = "event.properties"
MAX_MERGE_HOPS = 32
# Retention may minimise a source record: its ids and checksum stay, its payload becomes this empty marker
# (the column is NOT NULL). Readers get `{}` for it from `source_payload`.
MINIMISED = b""


def external_kind(source: str) -> str:
    return f"external:{source}"


def create_profile(
    session: Session,
    *,
    golden: dict[str, Any],
    provenance: dict[str, Any],
    lifecycle_stage: str | None,
    at: dt.datetime,
) -> Profile:
    profile_id = uuid.uuid4()
    v = vault(session)
    v.create_key(profile_id)
    profile = Profile(
        id=profile_id,
        golden=v.encrypt_json(profile_id, golden, context=GOLDEN),
        field_provenance=provenance,
        lifecycle_stage=lifecycle_stage,
        created_at=at,
        updated_at=at,
        last_activity_at=at,
    )
    session.add(profile)
    session.flush()
    return profile


def read_golden(session: Session, profile: Profile) -> dict[str, Any]:
    value: dict[str, Any] = vault(session).decrypt_json(profile.id, profile.golden, context=GOLDEN)
    return value


def write_golden(session: Session, profile: Profile, golden: dict[str, Any], *, at: dt.datetime) -> None:
    profile.golden = vault(session).encrypt_json(profile.id, golden, context=GOLDEN)
    profile.updated_at = at
    session.add(profile)


def survivor_of(session: Session, profile_id: uuid.UUID) -> Profile | None:
    """The live profile at the end of the `merged_into` chain (the profile itself if never merged)."""
    profile = session.get(Profile, profile_id)
    for _ in range(MAX_MERGE_HOPS):
        if profile is None or profile.merged_into is None:
            return profile
        profile = session.get(Profile, profile.merged_into)
    return None


def get_profile_or_raise(session: Session, profile_id: uuid.UUID) -> Profile:
    """The live profile; a merged-away id raises ProfileMerged naming the survivor at the end of the chain."""
    profile = session.get(Profile, profile_id)
    if profile is None or profile.status == "erased":
        raise ProfileNotFound(profile_id)
    if profile.merged_into is None:
        return profile
    survivor = survivor_of(session, profile_id)
    if survivor is None:
        raise ProfileNotFound(profile_id)
    raise ProfileMerged(profile_id, survivor.id)


def find_profile_ids_by_identity(session: Session, kind: str, blind_index: str, *, limit: int) -> list[uuid.UUID]:
    """Live profiles holding this (kind, blind index): exact lookup by email, phone or external id."""
    rows = session.scalars(
        select(Identity.profile_id)
        .join(Profile, col(Profile.id) == col(Identity.profile_id))
        .where(Identity.kind == kind, Identity.blind_index == blind_index, col(Profile.merged_into).is_(None))
        .distinct()
        .limit(limit)
    )
    return list(rows)


def upsert_identity(
    session: Session,
    profile: Profile,
    *,
    kind: str,
    normalized: str,
    source: str,
    trust: str,
    seen_at: dt.datetime,
    existing: dict[tuple[str, str], Identity] | None = None,
) -> Identity:
    """Add or refresh one identity; pass `existing` (the profile's identities by (kind, blind index)) to
    upsert several without a query each."""
    v = vault(session)
    bidx = v.blind_index(kind, normalized)
    if existing is None:
        found = session.scalars(
            select(Identity).where(
                Identity.profile_id == profile.id, Identity.kind == kind, Identity.blind_index == bidx
            )
        ).first()
    else:
        found = existing.get((kind, bidx))
    if found is not None:
        found.last_seen = max(found.last_seen, seen_at)
        found.first_seen = min(found.first_seen, seen_at)
        return found
    identity = Identity(
        profile_id=profile.id,
        kind=kind,
        blind_index=bidx,
        value=v.encrypt(profile.id, normalized.encode(), context=IDENTITY_VALUE),
        source=source,
        trust=trust,
        first_seen=seen_at,
        last_seen=seen_at,
    )
    session.add(identity)
    if existing is not None:
        existing[(kind, bidx)] = identity
    return identity


def identities_of(session: Session, profile_id: uuid.UUID) -> list[Identity]:
    return list(
        session.scalars(select(Identity).where(Identity.profile_id == profile_id).order_by(col(Identity.first_seen)))
    )


def identity_value(session: Session, identity: Identity) -> str:
    return vault(session).decrypt(identity.profile_id, identity.value, context=IDENTITY_VALUE).decode()


def find_source_record(session: Session, source: str, external_id: str) -> SourceRecord | None:
    bidx = vault(session).blind_index(external_kind(source), external_id)
    return session.scalars(
        select(SourceRecord).where(SourceRecord.source == source, SourceRecord.external_id_index == bidx)
    ).first()


def save_source_record(
    session: Session,
    existing: SourceRecord | None,
    *,
    profile: Profile,
    source: str,
    external_id: str,
    payload: dict[str, Any],
    checksum: str,
    source_updated_at: dt.datetime,
) -> SourceRecord:
    v = vault(session)
    record = existing or SourceRecord(
        source=source,
        external_id_index=v.blind_index(external_kind(source), external_id),
        profile_id=profile.id,
        payload=b"",
        checksum=checksum,
    )
    record.payload = v.encrypt_json(profile.id, payload, context=SOURCE_PAYLOAD)
    record.checksum = checksum
    record.source_updated_at = source_updated_at
    record.received_at = utcnow()
    session.add(record)
    session.flush()
    return record


def source_records_of(session: Session, profile_id: uuid.UUID) -> list[SourceRecord]:
    return list(
        session.scalars(
            select(SourceRecord).where(SourceRecord.profile_id == profile_id).order_by(col(SourceRecord.received_at))
        )
    )


def is_minimised(blob: bytes | None) -> bool:
    return blob == MINIMISED


def source_payload(session: Session, record: SourceRecord) -> dict[str, Any]:
    """The record as its source sent it; `{}` once retention minimised it."""
    if is_minimised(record.payload):
        return {}
    value: dict[str, Any] = vault(session).decrypt_json(record.profile_id, record.payload, context=SOURCE_PAYLOAD)
    return value


def add_event(
    session: Session,
    profile: Profile,
    *,
    type: str,
    occurred_at: dt.datetime,
    source: str,
    dedup_id: str | None,
    properties: dict[str, Any] | None = None,
    source_record_id: uuid.UUID | None = None,
) -> Event | None:
    """Append a timeline event; returns None when the source already delivered this event id."""
    v = vault(session)
    dedup_key = v.blind_index(f"event:{source}", dedup_id) if dedup_id else None
    if dedup_key is not None:
        seen = session.scalars(select(Event.id).where(Event.source == source, Event.dedup_key == dedup_key)).first()
        if seen is not None:
            return None
    event = Event(
        profile_id=profile.id,
        type=type,
        occurred_at=occurred_at,
        source=source,
        dedup_key=dedup_key,
        source_record_id=source_record_id,
        properties=v.encrypt_json(profile.id, properties, context=EVENT_PROPERTIES) if properties else None,
    )
    session.add(event)
    if profile.last_activity_at is None or occurred_at > profile.last_activity_at:
        profile.last_activity_at = occurred_at
    return event
