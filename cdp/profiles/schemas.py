"""Read models the API returns for profiles."""

import datetime as dt
import uuid
from typing import Any

from pydantic import BaseModel


class IdentityRead(BaseModel):
    id: uuid.UUID
    kind: str
    value: str
    source: str
    trust: str
    first_seen: dt.datetime
    last_seen: dt.datetime


class ConsentStateRead(BaseModel):
    purpose: str
    identity_id: uuid.UUID | None
    status: str
    occurred_at: dt.datetime
    expires_at: dt.datetime | None


class ProfileRead(BaseModel):
    id: uuid.UUID
    status: str
    lifecycle_stage: str | None
    golden: dict[str, Any]
    field_provenance: dict[str, Any]
    identities: list[IdentityRead]
    consents: list[ConsentStateRead]
    created_at: dt.datetime
    updated_at: dt.datetime
    last_activity_at: dt.datetime | None
    view: str = "full"
