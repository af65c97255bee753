"""A profile's consents: state per contact point and purpose plus the ledger; record one consent event."""

import datetime as dt
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from cdp.api.deps import Principal, RuntimeDep, SessionDep, require
from cdp.api.pagination import Page, decode_cursor, encode_cursor
from cdp.audit.log import append
from cdp.consent.ledger import change_consent, find_contact_point
from cdp.consent.schemas import ConsentEventRead, ConsentSubjectRead
from cdp.consent.views import consent_subjects, event_read, ledger_page
from cdp.crypto.envelope import vault
from cdp.errors import InvalidInput
from cdp.identity.normalize import NormalizationError, normalize_email, normalize_phone
from cdp.ingest.records import (
    AwareDatetime,
    ConsentMethod,
    ConsentProof,
    ConsentStatus,
    ConsentType,
    IndicatedBy,
    Sha256,
    SourceName,
)
from cdp.profiles.models import Identity
from cdp.profiles.store import get_profile_or_raise

router = APIRouter(prefix="/v1/profiles", tags=["consents"])
MERGED: dict[int | str, dict[str, Any]] = {308: {"description": "merged: see Location"}}


class ConsentsRead(BaseModel):
    profile_id: uuid.UUID
    as_of: dt.datetime | None
    states: list[ConsentSubjectRead]
    ledger: Page[ConsentEventRead]


def _cursor_position(cursor: str | None) -> tuple[dt.datetime, uuid.UUID] | None:
    raw = decode_cursor(cursor)
    if not raw:
        return None
    try:
        when = dt.datetime.fromisoformat(str(raw["o"]))
        return when if when.tzinfo else when.replace(tzinfo=dt.UTC), uuid.UUID(str(raw["i"]))
    except (KeyError, ValueError) as exc:
        raise InvalidInput("`cursor` is not a cursor this API issued", parameter="cursor") from exc


@router.get("/{profile_id}/consents", response_model=ConsentsRead, responses=MERGED)
def read_consents(
    profile_id: uuid.UUID,
    session: SessionDep,
    runtime: RuntimeDep,
    principal: Annotated[Principal, Depends(require("consents.read"))],
    at: Annotated[dt.datetime | None, Query(description="State as of this time (ISO 8601 with a zone).")] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1)] = 50,
) -> ConsentsRead:
    """State per contact point and purpose (expiry applied), and the ledger newest first.

    Proof is decrypted only for roles with `consents.proof`; others see `has_proof`.
    """
    if at is not None and at.tzinfo is None:
        raise InvalidInput("`at` must carry a time zone (e.g. 2026-05-01T10:00:00Z)", parameter="at")
    profile = get_profile_or_raise(session, profile_id)
    with_proof = runtime.policies.access.allows(principal.role, "consents.proof")
    limit = min(limit, runtime.settings.page_limit_max)
    events = ledger_page(
        session, profile.id, at=at, after=_cursor_position(cursor), limit=limit + 1, with_proof=with_proof
    )
    more, events = len(events) > limit, events[:limit]
    append(
        session,
        actor=principal.actor,
        action="consent.read",
        resource_type="profile",
        resource_id=profile.id,
        details={"proof": with_proof, "as_of": at is not None, "events": len(events)},
    )
    last = events[-1] if events else None
    return ConsentsRead(
        profile_id=profile.id,
        as_of=at,
        states=consent_subjects(session, profile.id, at=at),
        ledger=Page[ConsentEventRead](
            data=events,
            next_cursor=encode_cursor({"o": last.occurred_at.isoformat(), "i": str(last.id)})
            if more and last
            else None,
        ),
    )


class ContactPoint(BaseModel):
    """The email or phone the consent covers; it must already belong to the profile."""

    model_config = ConfigDict(extra="forbid")

    email: str | None = Field(None, max_length=320)
    phone: str | None = Field(None, max_length=64)
    country: str | None = Field(None, pattern=r"^[A-Za-z]{2}$", description="Default region for a national phone.")

    @model_validator(mode="after")
    def _one(self) -> "ContactPoint":
        if (self.email is None) == (self.phone is None):
            raise ValueError("give exactly one of `email` or `phone`")
        return self


class ConsentCreate(BaseModel):
    """One consent event, stated in full (COMPLIANCE 7.1): unlike a connector's `consents[]`, nothing defaults.

    The notice (id, version, sha256) is required for grants of consent purposes and checked against the catalog;
    withdrawals and refusals need none. A `soft_opt_in` grant needs `linked_event_id` and `proof.opt_out_offered`.
    """

    model_config = ConfigDict(extra="forbid")

    purpose: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
    status: ConsentStatus
    contact_point: ContactPoint | None = Field(
        description="Required; null only for purposes over any channel (the consent then covers the profile)."
    )
    occurred_at: AwareDatetime
    method: ConsentMethod
    consent_type: ConsentType = Field(description="ISO/IEC TS 27560 event type.")
    indicated_by: IndicatedBy = "data_subject"
    source: SourceName
    notice_id: str | None = Field(None, max_length=128, description="Required for a grant of a consent purpose.")
    notice_version: str | None = Field(None, max_length=64, description="Required with notice_id.")
    notice_sha256: Sha256 | None = Field(None, description="Required with notice_id; must equal the catalog's.")
    language: str = Field(pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$", max_length=16)
    jurisdiction: str = Field(min_length=2, max_length=16, pattern=r"^[A-Za-z]{2}(-[A-Za-z0-9]{1,3})?$")
    expires_at: AwareDatetime | None = None
    linked_event_id: uuid.UUID | None = Field(
        None, description="soft_opt_in only: the purchase or sale negotiation timeline event of this profile."
    )
    proof: ConsentProof | None = None
    external_id: str | None = Field(None, max_length=256, description="The caller's event id: a retry records once.")


class ConsentRecorded(BaseModel):
    recorded: list[ConsentEventRead]
    duplicate: bool
    states: list[ConsentSubjectRead]


def _contact_point(session: SessionDep, profile_id: uuid.UUID, point: ContactPoint | None) -> Identity | None:
    if point is None:
        return None
    try:
        kind, value = (
            ("email", normalize_email(point.email))
            if point.email is not None
            else ("phone", normalize_phone(point.phone or "", point.country))
        )
    except NormalizationError as exc:
        raise InvalidInput(str(exc), field="contact_point") from exc
    return find_contact_point(session, profile_id, kind, vault(session).blind_index(kind, value))


@router.post("/{profile_id}/consents", response_model=ConsentRecorded, status_code=201, responses=MERGED)
def record_consent_event(
    profile_id: uuid.UUID,
    body: ConsentCreate,
    response: Response,
    session: SessionDep,
    principal: Annotated[Principal, Depends(require("consents.write"))],
) -> ConsentRecorded:
    """Record one consent event. An objection to direct marketing covers every direct-marketing purpose."""
    profile = get_profile_or_raise(session, profile_id)
    identity = _contact_point(session, profile.id, body.contact_point)
    fields = body.model_dump(exclude={"contact_point", "proof", "external_id"})
    events = change_consent(
        session,
        profile.id,
        identity=identity,
        actor=principal.actor,
        proof=body.proof.model_dump(exclude_none=True) if body.proof else None,
        dedup_id=body.external_id,
        notice_required=True,
        **fields,
    )
    if not events:
        response.status_code = 200
    return ConsentRecorded(
        recorded=[event_read(e) for e in events],
        duplicate=not events,
        states=consent_subjects(session, profile.id),
    )
