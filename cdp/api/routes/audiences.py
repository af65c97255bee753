"""Audiences for marketing: definitions, their current member count, and the sync to their destination (the one
way out; only contact points with a valid consent for the audience's purpose ever leave)."""

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func
from sqlmodel import col, select

from cdp.api.deps import Principal, RuntimeDep, SessionDep, require
from cdp.api.pagination import Page, decode_cursor, encode_cursor
from cdp.audiences.definitions import (
    NAME_PATTERN,
    Definition,
    create_audience,
    get_audience_or_raise,
    list_audiences,
)
from cdp.audiences.membership import candidates, member_count, read_contacts
from cdp.audiences.models import Audience, AudienceMembershipSnapshot
from cdp.audiences.sync import sync
from cdp.audit.log import Pending, append_many
from cdp.errors import InvalidInput

router = APIRouter(prefix="/v1/audiences", tags=["audiences"])
Manage = Annotated[Principal, Depends(require("audiences.manage"))]


class AudienceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_PATTERN, description="Unique; letters, digits, space, `_ . -`.")
    purpose: str = Field(max_length=64, description="A purpose id from the catalog (`GET /v1/purposes`).")
    destination: str | None = Field(
        None, max_length=64, description="A destination connector (mailchimp, sendgrid, webhook, csv_file)."
    )
    definition: Definition = Field(default_factory=Definition)


class AudienceRead(BaseModel):
    id: uuid.UUID
    name: str
    purpose: str
    destination: str | None
    definition: dict[str, Any]
    created_at: dt.datetime
    updated_at: dt.datetime


class AudienceDetail(AudienceRead):
    member_count: int = Field(description="Contact points that would be sent now: consented, active, unsuppressed.")
    synced_count: int = Field(description="Contact points the destination holds as of the last sync.")
    last_synced_at: dt.datetime | None


class SyncRead(BaseModel):
    audience_id: uuid.UUID
    destination: str
    dry_run: bool
    status: Literal["completed", "stopped"]
    to_add: int
    to_update: int
    to_remove: int
    unchanged: int
    added: int
    updated: int
    removed: int
    failed: int
    failures: dict[str, int] = Field(description="The destination's reason codes for refused members, counted.")


class MemberRead(BaseModel):
    profile_id: uuid.UUID
    identity_id: uuid.UUID
    kind: str
    value: str = Field(description="The consented contact point (an email address or phone number).")
    consented_at: dt.datetime


def _read(audience: Audience) -> AudienceRead:
    return AudienceRead.model_validate(audience, from_attributes=True)


@router.get("", response_model=Page[AudienceRead])
def read_audiences(
    session: SessionDep,
    runtime: RuntimeDep,
    _: Manage,
    cursor: Annotated[str | None, Query(max_length=400)] = None,
    limit: Annotated[int, Query(ge=1)] = 50,
) -> Page[AudienceRead]:
    limit = min(limit, runtime.settings.page_limit_max)
    after = decode_cursor(cursor).get("after")
    if after is not None and not isinstance(after, str):
        raise InvalidInput("`cursor` is not a cursor this API issued", parameter="cursor")
    rows = list_audiences(session, after=after, limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(
        data=[_read(a) for a in rows],
        next_cursor=encode_cursor({"after": rows[-1].name}) if more and rows else None,
    )


@router.post("", response_model=AudienceRead, status_code=201)
def create(body: AudienceCreate, session: SessionDep, principal: Manage) -> AudienceRead:
    audience = create_audience(
        session,
        name=body.name,
        purpose=body.purpose,
        destination=body.destination,
        definition=body.definition.model_dump(exclude_none=True),
        actor=principal.actor,
    )
    return _read(audience)


@router.get("/{audience_id}", response_model=AudienceDetail)
def read_audience(audience_id: uuid.UUID, session: SessionDep, _: Manage) -> AudienceDetail:
    audience = get_audience_or_raise(session, audience_id)
    synced, last = session.execute(
        select(func.count(col(AudienceMembershipSnapshot.id)), func.max(AudienceMembershipSnapshot.synced_at)).where(
            AudienceMembershipSnapshot.audience_id == audience.id
        )
    ).one()
    return AudienceDetail(
        **_read(audience).model_dump(),
        member_count=member_count(session, audience),
        synced_count=int(synced or 0),
        last_synced_at=last,
    )


@router.post("/{audience_id}/sync", response_model=SyncRead)
def sync_audience(
    audience_id: uuid.UUID,
    runtime: RuntimeDep,
    principal: Manage,
    dry_run: Annotated[bool, Query(description="Count adds, changes and removals; send nothing.")] = False,
) -> SyncRead:
    """Push removals, then additions and changes, batch by batch; a destination that keeps failing or asks
    cdp to wait stops the sync with every earlier batch kept (503 problem; call again to resume)."""
    report = sync(runtime.stores, audience_id, settings=runtime.settings, actor=principal.actor, dry_run=dry_run)
    return SyncRead(
        audience_id=report.audience_id,
        destination=report.destination,
        dry_run=report.dry_run,
        status=report.status,
        to_add=report.to_add,
        to_update=report.to_update,
        to_remove=report.to_remove,
        unchanged=report.unchanged,
        added=report.added,
        updated=report.updated,
        removed=report.removed,
        failed=report.failed,
        failures=report.failures,
    )


@router.get("/{audience_id}/members", response_model=Page[MemberRead])
def read_members(
    audience_id: uuid.UUID,
    session: SessionDep,
    runtime: RuntimeDep,
    principal: Manage,
    cursor: Annotated[str | None, Query(max_length=400)] = None,
    limit: Annotated[int, Query(ge=1)] = 50,
) -> Page[MemberRead]:
    """Only contact points with a valid consent for the audience's purpose, on active, unsuppressed profiles;
    every profile listed gets a `profile.read` audit entry."""
    audience = get_audience_or_raise(session, audience_id)
    limit = min(limit, runtime.settings.page_limit_max)
    raw_after = decode_cursor(cursor).get("after")
    try:
        after = uuid.UUID(raw_after) if raw_after is not None else None
    except (TypeError, ValueError) as exc:
        raise InvalidInput("`cursor` is not a cursor this API issued", parameter="cursor") from exc
    page = candidates(session, audience, after=after, limit=limit + 1)
    more = len(page) > limit
    page = page[:limit]
    contacts = read_contacts(session, page)
    append_many(
        session,
        [
            Pending(
                principal.actor,
                "profile.read",
                "profile",
                profile_id,
                {"via": "audience_members", "audience_id": str(audience.id)},
            )
            for profile_id in sorted({c.candidate.profile_id for c in contacts}, key=str)
        ],
    )
    return Page(
        data=[
            MemberRead(
                profile_id=c.candidate.profile_id,
                identity_id=c.candidate.identity_id,
                kind=c.candidate.kind,
                value=c.value,
                consented_at=c.candidate.consented_at,
            )
            for c in contacts
        ],
        next_cursor=encode_cursor({"after": str(page[-1].identity_id)}) if more and page else None,
    )
