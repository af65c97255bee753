"""The legal_hold table: per-person holds that exempt a profile from retention (GDPR Art. 17(3)(e), 18(1)(c)).

Holds name people, so they live in the database and never in `policies/`. A hold is released, not deleted:
the row says who placed it, when, and when it ended.
"""

import datetime as dt
import uuid

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from cdp.db import UTCDateTime, utcnow


class LegalHold(SQLModel, table=True):
    __tablename__ = "legal_hold"
    __table_args__ = (Index("ix_legal_hold_profile_active", "profile_id", "released_at"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    profile_id: uuid.UUID = Field(foreign_key="profile.id")
    reason: str = Field(max_length=200)  # a case or matter reference; never personal data
    actor_id: str = Field(max_length=64)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    released_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    released_by: str | None = Field(default=None, max_length=64)
