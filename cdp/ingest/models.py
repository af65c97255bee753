"""Quarantined rows (encrypted under their own data key, with reasons) and per-connector checkpoints."""

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import JSON, Column, LargeBinary
from sqlmodel import Field, SQLModel

from cdp.db import UTCDateTime, utcnow


class Quarantine(SQLModel, table=True):
    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    source: str = Field(max_length=64, index=True)
    reasons: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    payload: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    received_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False, index=True)


class ConnectorState(SQLModel, table=True):
    __tablename__ = "connector_state"

    connector: str = Field(primary_key=True, max_length=64)
    cursor: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    status: str = Field(default="idle", max_length=16)
    last_error: str | None = Field(default=None, max_length=200)
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
