"""Audience definitions, the snapshot of what was last sent to each destination (for add/remove diffs), and
the removal tasks that carry Art. 19 notifications to destinations (they outlive the person's erasure)."""

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import JSON, Column, Index, LargeBinary, UniqueConstraint
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
    """One contact point as last pushed to a destination. `member_ref` is encrypted under the person's data key
    (a Mailchimp subscriber hash is an md5 of the address); `checksum` is a keyed hash of what was sent, so an
    unchanged member is not pushed again."""

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
    checksum: str | None = Field(default=None, max_length=64)


class DestinationRemoval(SQLModel, table=True):
    """Take one person off one destination (GDPR Art. 19: recipients are told of erasure and restriction).

    `sealed_refs` are the destination's own member keys (a Mailchimp subscriber hash is an md5 of the email)
    copied out of the snapshot before the person's rows go, so the task survives an erasure. They are sealed
    under a data key of the task's own (subject: the task id, in the compliance store), destroyed once the
    destination confirmed, so no copy of the data store ever holds them readable (COMPLIANCE 3.5). No foreign keys: the
    profile may be a tombstone and the audience may be deleted while the task waits.
    """

    __tablename__ = "destination_removal"
    __table_args__ = (Index("ix_destination_removal_status", "status", "destination"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    destination: str = Field(max_length=64)
    profile_id: uuid.UUID = Field(index=True)
    sealed_refs: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    ref_count: int = Field(default=0)
    erase: bool = Field(default=False)
    reason: str = Field(max_length=64)
    status: str = Field(default="pending", max_length=16)  # pending | done | failed
    attempts: int = Field(default=0)
    last_error: str | None = Field(default=None, max_length=200)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    completed_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
