"""The privacy-request log. Compliance store, so restoring an old data backup cannot lose it."""

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import JSON, Column, LargeBinary
from sqlmodel import Field, SQLModel

from cdp.db import COMPLIANCE, STORE_INFO_KEY, UTCDateTime, utcnow


class PrivacyRequest(SQLModel, table=True):
    __tablename__ = "privacy_request"
    __table_args__ = {"info": {STORE_INFO_KEY: COMPLIANCE}}

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    type: str = Field(max_length=32)
    status: str = Field(default="received", max_length=32, index=True)
    subject_ref: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    subject_index: str | None = Field(default=None, max_length=64, index=True)
    profile_ids: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    requested_by: str = Field(max_length=128)
    received_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    due_at: dt.datetime = Field(sa_type=UTCDateTime, nullable=False, index=True)
    completed_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    result: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # Lifecycle (COMPLIANCE 6.6). Codes and ids only: the subject's identifiers, notes and corrected values are in
    # `subject_ref`, encrypted under the person's data key.
    jurisdiction: str = Field(default="EU", max_length=16)
    ack_by: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)  # CCPA: 10 business days
    max_due_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)  # latest an extension may reach
    extended_to: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    extension_reason: str | None = Field(default=None, max_length=200)
    extension_notified_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    rejection_reason: str | None = Field(default=None, max_length=64)  # a DPV justification code
    approvals: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))  # API key ids
    history: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # The access bundle (zip), encrypted under the person's data key: erasing the person shreds it too.
    export: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
