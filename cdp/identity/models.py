"""Tables of identity resolution: blocking keys, merge evidence and vetoes. No personal data in clear."""

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from cdp.db import UTCDateTime, utcnow


class MatchKey(SQLModel, table=True):
    """A blocking key of a profile: HMAC of e.g. folded last name + first-name canonical form."""

    __tablename__ = "match_key"
    __table_args__ = (
        Index("ix_match_key_kind_key", "kind", "key"),
        UniqueConstraint("profile_id", "kind", "key", name="uq_match_key_profile"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    profile_id: uuid.UUID = Field(foreign_key="profile.id", index=True)
    kind: str = Field(max_length=16)
    key: str = Field(max_length=64)


class MergeEvent(SQLModel, table=True):
    """Why two profiles became one (or were split): the evidence an explanation and an unmerge need."""

    __tablename__ = "merge_event"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    kind: str = Field(max_length=16)  # auto | manual | unmerge
    survivor_id: uuid.UUID = Field(foreign_key="profile.id", index=True)
    merged_id: uuid.UUID = Field(foreign_key="profile.id", index=True)
    source_record_ids: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    weight: float | None = None
    levels: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    actor_id: str = Field(max_length=64)
    reason: str | None = Field(default=None, max_length=500)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    undone_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)


class MergeVeto(SQLModel, table=True):
    """Two source records that a person said are not the same individual; resolution never joins them again."""

    __tablename__ = "merge_veto"
    __table_args__ = (UniqueConstraint("record_a", "record_b", name="uq_merge_veto_pair"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    record_a: uuid.UUID = Field(foreign_key="source_record.id", index=True)
    record_b: uuid.UUID = Field(foreign_key="source_record.id", index=True)
    merge_event_id: uuid.UUID | None = Field(default=None, foreign_key="merge_event.id")
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
