"""The wrapped per-person data keys. This table lives in the compliance store, never in the data store."""

import datetime as dt
import uuid

from sqlalchemy import Column, LargeBinary
from sqlmodel import Field, SQLModel

from cdp.db import COMPLIANCE, STORE_INFO_KEY, UTCDateTime, utcnow


class DataKey(SQLModel, table=True):
    __tablename__ = "data_key"
    __table_args__ = {"info": {STORE_INFO_KEY: COMPLIANCE}}

    subject_id: uuid.UUID = Field(primary_key=True)
    master_key_id: str = Field(max_length=64, index=True)
    wrapped_key: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    rotated_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
