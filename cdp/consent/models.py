"""Consent tables. Fields follow ISO/IEC TS 27560 consent records; `proof` is encrypted."""

import datetime as dt
import uuid

from sqlalchemy import Column, Index, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel

from cdp.db import UTCDateTime, utcnow


class ConsentEvent(SQLModel, table=True):
    __tablename__ = "consent_event"
    __table_args__ = (
        Index("ix_consent_event_subject", "profile_id", "identity_id", "purpose"),
        UniqueConstraint("source", "dedup_key", name="uq_consent_event_source_dedup"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    profile_id: uuid.UUID = Field(foreign_key="profile.id")
    identity_id: uuid.UUID | None = Field(default=None, foreign_key="identity.id")
    purpose: str = Field(max_length=64)
    status: str = Field(max_length=16)
    lawful_basis: str = Field(default="consent", max_length=32)
    notice_id: str | None = Field(default=None, max_length=128)
    notice_version: str | None = Field(default=None, max_length=64)
    method: str = Field(max_length=32)
    source: str = Field(max_length=64)
    occurred_at: dt.datetime = Field(sa_type=UTCDateTime, nullable=False)
    recorded_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    expires_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    jurisdiction: str | None = Field(default=None, max_length=16)
    has_proof: bool = Field(default=False)
    proof: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    dedup_key: str | None = Field(default=None, max_length=64)
    source_record_id: uuid.UUID | None = Field(default=None, foreign_key="source_record.id", index=True)


class ConsentState(SQLModel, table=True):
    __tablename__ = "consent_state"
    __table_args__ = (UniqueConstraint("profile_id", "identity_id", "purpose", name="uq_consent_state_subject"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    profile_id: uuid.UUID = Field(foreign_key="profile.id", index=True)
    identity_id: uuid.UUID | None = Field(default=None, foreign_key="identity.id")
    purpose: str = Field(max_length=64, index=True)
    status: str = Field(max_length=16)
    event_id: uuid.UUID = Field(foreign_key="consent_event.id")
    occurred_at: dt.datetime = Field(sa_type=UTCDateTime, nullable=False)
    expires_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
