"""The audit_log table. UPDATE and DELETE are refused by triggers created in the migration."""

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Integer
from sqlmodel import Field, SQLModel

from cdp.db import UTCDateTime


class AuditEntry(SQLModel, table=True):
    __tablename__ = "audit_log"

    # 64-bit on PostgreSQL; on SQLite INTEGER is already 64-bit. Sequence numbers are set by the chain, not the DB.
    seq: int = Field(
        sa_column=Column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=False)
    )
    at: dt.datetime = Field(sa_type=UTCDateTime, nullable=False)
    actor_id: str = Field(max_length=64)
    actor_role: str = Field(max_length=32)
    action: str = Field(max_length=64, index=True)
    resource_type: str = Field(max_length=32)
    resource_id: str | None = Field(default=None, max_length=64, index=True)
    outcome: str = Field(max_length=16)
    details: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64, unique=True)
