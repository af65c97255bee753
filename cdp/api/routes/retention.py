"""Retention on the API: preview what the policies would remove, run them, and legal holds on a profile."""

import datetime as dt
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from cdp.api.deps import Principal, RuntimeDep, SessionDep, require
from cdp.api.pagination import Page, decode_cursor, encode_cursor
from cdp.db import utcnow
from cdp.errors import InvalidInput
from cdp.retention.engine import RunReport, preview, run
from cdp.retention.holds import place_hold, release_hold
from cdp.retention.models import LegalHold

router = APIRouter(tags=["retention"])
Manage = Annotated[Principal, Depends(require("retention.manage"))]


class DueRead(BaseModel):
    rule_id: str
    table: str
    row_id: uuid.UUID
    profile_id: uuid.UUID | None
    trigger_at: dt.datetime
    due_since: dt.datetime
    action: str


class PreviewPage(Page[DueRead]):
    at: dt.datetime = Field(description="The time the rules were evaluated at; every page of one preview shares it.")


class RuleCountRead(BaseModel):
    rule_id: str
    table: str
    action: str
    rows: int
    exempt: dict[str, int]


class RunRead(BaseModel):
    at: dt.datetime
    dry_run: bool
    total: int
    rules: list[RuleCountRead]


class RunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dry_run: bool = Field(False, description="Count what would be done; change nothing.")


class HoldRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=3, max_length=200, description="A case or matter reference; never personal data.")


class LegalHoldRead(BaseModel):
    id: uuid.UUID
    profile_id: uuid.UUID
    reason: str
    actor_id: str
    created_at: dt.datetime
    released_at: dt.datetime | None
    released_by: str | None


def _utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _position(cursor: str | None) -> tuple[dt.datetime, tuple[int, uuid.UUID]] | None:
    position: dict[str, Any] = decode_cursor(cursor)
    if not position:
        return None
    try:
        return dt.datetime.fromisoformat(position["at"]), (int(position["step"]), uuid.UUID(position["after"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInput("`cursor` is not a cursor this API issued", parameter="cursor") from exc


@router.get("/v1/retention/preview", response_model=PreviewPage)
def preview_retention(
    session: SessionDep,
    runtime: RuntimeDep,
    _: Manage,
    at: Annotated[dt.datetime | None, Query(description="Evaluate as of this time (default: now).")] = None,
    cursor: Annotated[str | None, Query(max_length=300)] = None,
    limit: Annotated[int, Query(ge=1)] = 100,
) -> PreviewPage:
    """Exactly the rows a run at `at` would process, in run order; exempt rows are left out."""
    limit = min(limit, runtime.settings.page_limit_max)
    position = _position(cursor)
    now = _utc(at) if at is not None else utcnow()
    if position is not None:
        if at is not None and _utc(at) != position[0]:
            raise InvalidInput("`at` differs from the time this cursor's preview was evaluated at", parameter="at")
        now = position[0]
    rows = preview(
        session, runtime.policies.retention, now=now, after=position[1] if position else None, limit=limit + 1
    )
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = (
        encode_cursor({"at": now.isoformat(), "step": rows[-1].step, "after": str(rows[-1].row_id)})
        if more and rows
        else None
    )
    return PreviewPage(
        data=[DueRead.model_validate(r, from_attributes=True) for r in rows], next_cursor=next_cursor, at=now
    )


def _report(report: RunReport) -> RunRead:
    return RunRead(
        at=report.at,
        dry_run=report.dry_run,
        total=report.total,
        rules=[
            RuleCountRead(rule_id=r.rule_id, table=r.table, action=r.action, rows=r.rows, exempt=dict(r.exempt))
            for r in report.rules
        ],
    )


@router.post("/v1/retention/run", response_model=RunRead)
def run_retention(body: RunRequest, session: SessionDep, runtime: RuntimeDep, principal: Manage) -> RunRead:
    """Apply the retention rules now, in this request's transaction; one audit entry with the counts."""
    return _report(run(session, runtime.policies.retention, now=utcnow(), actor=principal.actor, dry_run=body.dry_run))


@router.post("/v1/profiles/{profile_id}/legal-hold", response_model=LegalHoldRead, status_code=201)
def hold_profile(profile_id: uuid.UUID, body: HoldRequest, session: SessionDep, principal: Manage) -> LegalHold:
    """Place a legal hold: retention leaves the profile and its rows alone until it is released."""
    return place_hold(session, profile_id, reason=body.reason, actor=principal.actor)


@router.delete("/v1/profiles/{profile_id}/legal-hold", response_model=LegalHoldRead)
def release_profile(profile_id: uuid.UUID, session: SessionDep, principal: Manage) -> LegalHold:
    """Release the profile's legal hold."""
    return release_hold(session, profile_id, actor=principal.actor)
