"""Consent tables. Fields follow ISO/IEC TS 27560 consent records (COMPLIANCE 6.2-6.3); `proof` is encrypted.

`consent_event` is the append-only ledger. Besides erasure, only merges (which repoint profile and identity)
and the fold (which keeps `record_id` one per subject and `ignored_reason` in step) ever touch a row.
`consent_state` is derived: one row per (profile, contact point, purpose), rebuildable from the ledger.
"""

import datetime as dt
import uuid

from sqlalchemy import Column, Index, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel

import cdp.profiles.models  # noqa: F401  (profile, identity, source_record: the tables these rows point at)
from cdp.db import UTCDateTime, utcnow

SCHEMA_VERSION = "cdp-27560/1"
# The vocabularies (statuses, methods, consent types) are the Literal types in cdp.ingest.records;
# these columns store them as text.
INDICATED_BY_DEFAULT = "data_subject"


class ConsentEvent(SQLModel, table=True):
    __tablename__ = "consent_event"
    __table_args__ = (
        Index("ix_consent_event_subject", "profile_id", "identity_id", "purpose"),
        UniqueConstraint("source", "dedup_key", name="uq_consent_event_source_dedup"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    record_id: uuid.UUID = Field(index=True)  # 27560 record id: one per (profile, identity, purpose)
    schema_version: str = Field(default=SCHEMA_VERSION, max_length=32)
    profile_id: uuid.UUID = Field(foreign_key="profile.id")
    # Indexed so deleting an identity (erasure) need not scan the ledger for references to it.
    identity_id: uuid.UUID | None = Field(default=None, foreign_key="identity.id", index=True)
    purpose: str = Field(max_length=64)
    status: str = Field(max_length=16)
    consent_type: str | None = Field(default=None, max_length=32)  # None: the source did not say
    lawful_basis: str = Field(default="consent", max_length=32)
    notice_id: str | None = Field(default=None, max_length=128)
    notice_version: str | None = Field(default=None, max_length=64)
    notice_sha256: str | None = Field(default=None, max_length=64)
    language: str | None = Field(default=None, max_length=16)
    method: str = Field(max_length=32)
    source: str = Field(max_length=64)
    indicated_by: str | None = Field(default=None, max_length=16)
    actor: str = Field(default="system", max_length=64)  # API key id or the system job that recorded it
    occurred_at: dt.datetime = Field(sa_type=UTCDateTime, nullable=False)
    recorded_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    expires_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    jurisdiction: str | None = Field(default=None, max_length=16)
    has_proof: bool = Field(default=False)
    proof: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    ignored_reason: str | None = Field(default=None, max_length=64)  # set by the fold; see consent/state.py
    dedup_key: str | None = Field(default=None, max_length=64)
    source_record_id: uuid.UUID | None = Field(default=None, foreign_key="source_record.id", index=True)
    # A soft opt-in's sale or negotiation: a timeline `event` of the same profile (cdp.consent.ledger). No foreign
    # key: retention may delete old timeline events, and the ledger row must outlive them as evidence.
    linked_event_id: uuid.UUID | None = Field(default=None)


class ConsentState(SQLModel, table=True):
    __tablename__ = "consent_state"
    __table_args__ = (UniqueConstraint("profile_id", "identity_id", "purpose", name="uq_consent_state_subject"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    record_id: uuid.UUID
    profile_id: uuid.UUID = Field(foreign_key="profile.id", index=True)
    identity_id: uuid.UUID | None = Field(default=None, foreign_key="identity.id", index=True)
    purpose: str = Field(max_length=64, index=True)
    status: str = Field(max_length=16)  # as folded; `expired` is also derived at read time from expires_at
    event_id: uuid.UUID = Field(foreign_key="consent_event.id", index=True)
    occurred_at: dt.datetime = Field(sa_type=UTCDateTime, nullable=False)
    expires_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
