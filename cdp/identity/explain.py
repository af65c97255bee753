"""Why a profile holds the records it holds: per-record link evidence and the merge history."""

import datetime as dt
import uuid
from typing import Any

from pydantic import BaseModel
from sqlalchemy import or_
from sqlalchemy.orm import Session
from sqlmodel import col, select

from cdp.identity.models import MergeEvent
from cdp.profiles import store
from cdp.profiles.models import Profile


class LinkRead(BaseModel):
    source_record_id: uuid.UUID
    source: str
    external_id: str | None  # None once retention minimised the record
    received_at: dt.datetime
    evidence: dict[str, Any]


class MergeRead(BaseModel):
    id: uuid.UUID
    kind: str
    survivor_id: uuid.UUID
    merged_id: uuid.UUID
    source_record_ids: list[str]
    weight: float | None
    levels: dict[str, Any]
    actor_id: str
    reason: str | None
    created_at: dt.datetime
    undone_at: dt.datetime | None


class ExplanationRead(BaseModel):
    profile_id: uuid.UUID
    records: list[LinkRead]
    merges: list[MergeRead]


def merge_history(session: Session, profile_id: uuid.UUID) -> list[MergeEvent]:
    return list(
        session.scalars(
            select(MergeEvent)
            .where(or_(col(MergeEvent.survivor_id) == profile_id, col(MergeEvent.merged_id) == profile_id))
            .order_by(col(MergeEvent.created_at))
        )
    )


def _external_id(payload: dict[str, Any]) -> str | None:
    return str(payload["external_id"]) if "external_id" in payload else None


def explain_profile(session: Session, profile: Profile) -> ExplanationRead:
    records = [
        LinkRead(
            source_record_id=r.id,
            source=r.source,
            external_id=_external_id(store.source_payload(session, r)),
            received_at=r.received_at,
            evidence=r.link_evidence,
        )
        for r in store.source_records_of(session, profile.id)
    ]
    merges = [MergeRead.model_validate(m, from_attributes=True) for m in merge_history(session, profile.id)]
    return ExplanationRead(profile_id=profile.id, records=records, merges=merges)
