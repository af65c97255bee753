"""Read models for a profile's consents: state per contact point and purpose, and the ledger."""

import datetime as dt
import uuid
from typing import Any

from pydantic import BaseModel


class ConsentSubjectRead(BaseModel):
    """One (contact point, purpose) record as of a moment; `status` has expiry applied at that moment."""

    record_id: uuid.UUID
    purpose: str
    identity_id: uuid.UUID | None
    contact_point_kind: str | None  # email, phone; None when the consent is tied to no contact point
    status: str
    recorded_status: str  # the folded status before expiry is applied
    event_id: uuid.UUID
    occurred_at: dt.datetime
    expires_at: dt.datetime | None
    lawful_basis: str
    notice_id: str | None
    notice_version: str | None
    notice_sha256: str | None


class ConsentEventRead(BaseModel):
    id: uuid.UUID
    record_id: uuid.UUID
    schema_version: str
    purpose: str
    identity_id: uuid.UUID | None
    status: str
    consent_type: str | None
    lawful_basis: str
    notice_id: str | None
    notice_version: str | None
    notice_sha256: str | None
    language: str | None
    method: str
    source: str
    indicated_by: str | None
    actor: str
    occurred_at: dt.datetime
    recorded_at: dt.datetime
    expires_at: dt.datetime | None
    jurisdiction: str | None
    ignored_reason: str | None
    linked_event_id: uuid.UUID | None  # a soft opt-in's sale or negotiation event on the timeline
    has_proof: bool
    proof: dict[str, Any] | None = None  # decrypted only for callers allowed to see proof
