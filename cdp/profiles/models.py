"""Tables of the profile store. Personal data lives only in the encrypted `bytes` columns."""

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import JSON, Column, Index, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel

from cdp.db import UTCDateTime, utcnow


class Profile(SQLModel, table=True):
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    status: str = Field(default="active", max_length=16, index=True)
    merged_into: uuid.UUID | None = Field(default=None, foreign_key="profile.id", index=True)
    lifecycle_stage: str | None = Field(default=None, max_length=32)
    golden: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    field_provenance: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    last_activity_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)


class Identity(SQLModel, table=True):
    __table_args__ = (Index("ix_identity_kind_blind_index", "kind", "blind_index"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    profile_id: uuid.UUID = Field(foreign_key="profile.id", index=True)
    kind: str = Field(max_length=80)
    blind_index: str = Field(max_length=64)
    value: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    source: str = Field(max_length=64)
    trust: str = Field(default="high", max_length=16)
    first_seen: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    last_seen: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class SourceRecord(SQLModel, table=True):
    """One source's own view of a contact. The external id is stored as a blind index plus ciphertext:
    a CRM id is a pseudonymous identifier, and it must not survive in clear in an old copy of the store."""

    __tablename__ = "source_record"
    __table_args__ = (UniqueConstraint("source", "external_id_index", name="uq_source_record_source_external"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    source: str = Field(max_length=64)
    external_id_index: str = Field(max_length=64)
    profile_id: uuid.UUID = Field(foreign_key="profile.id", index=True)
    payload: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    checksum: str = Field(max_length=64)
    source_updated_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    received_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    # First receipt; `received_at` moves on every update. Rebuilds replay records in this order.
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False, index=True)
    link_evidence: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class Event(SQLModel, table=True):
    """The timeline. `dedup_key` is an HMAC of the source's event id, so a re-delivered webhook is a no-op."""

    __table_args__ = (
        UniqueConstraint("source", "dedup_key", name="uq_event_source_dedup"),
        Index("ix_event_profile_occurred", "profile_id", "occurred_at"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    profile_id: uuid.UUID = Field(foreign_key="profile.id")
    type: str = Field(max_length=64, index=True)
    occurred_at: dt.datetime = Field(sa_type=UTCDateTime, nullable=False)
    recorded_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    source: str = Field(max_length=64)
    dedup_key: str | None = Field(default=None, max_length=64)
    source_record_id: uuid.UUID | None = Field(default=None, foreign_key="source_record.id", index=True)
    properties: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
