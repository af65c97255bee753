"""Audience definitions and the snapshot of what was last sent to each destination (for add/remove diffs)."""

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import JSON, Column, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel

from cdp.db import UTCDateTime, utcnow


class Audience(SQLModel, table=True):
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    name: str = Field(max_length=128, unique=True)
    purpose: str = Field(max_length=64)
    destination: str | None = Field(default=None, max_length=64)
    definition: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class AudienceMembershipSnapshot(SQLModel, table=True):
    __tablename__ = "audience_membership_snapshot"
    __table_args__ = (
        UniqueConstraint("audience_id", "destination", "identity_id", name="uq_audience_snapshot_member"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    audience_id: uuid.UUID = Field(foreign_key="audience.id", index=True)
    destination: str = Field(max_length=64)
    profile_id: uuid.UUID = Field(foreign_key="profile.id", index=True)
    identity_id: uuid.UUID = Field(foreign_key="identity.id")
    member_ref: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    synced_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
