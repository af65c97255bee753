"""Suppression entries. Compliance store; HMACs under versioned suppression keys, never plaintext."""

import datetime as dt
import uuid

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from cdp.db import COMPLIANCE, STORE_INFO_KEY, UTCDateTime, utcnow


class Suppression(SQLModel, table=True):
    __table_args__ = (
        UniqueConstraint("key_version", "identifier_kind", "identifier_hmac", name="uq_suppression_identifier"),
        {"info": {STORE_INFO_KEY: COMPLIANCE}},
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    key_version: int
    identifier_kind: str = Field(max_length=80)
    identifier_hmac: str = Field(max_length=64, index=True)
    scope: str = Field(default="all_processing", max_length=32)
    match_mode: str = Field(default="drop_record", max_length=32)
    reason: str = Field(max_length=32)
    request_id: uuid.UUID | None = Field(default=None)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    lifted_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    lifted_by: str | None = Field(default=None, max_length=64)
    lift_reason: str | None = Field(default=None, max_length=200)
