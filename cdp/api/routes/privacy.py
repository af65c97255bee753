"""Privacy requests (GDPR Art. 12-21): file, approve, extend, list, read, lift a restriction, download an export."""

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, BackgroundTasks, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from cdp.api.deps import Principal, RuntimeDep, SessionDep, require
from cdp.api.pagination import Page, decode_cursor, encode_cursor
from cdp.audit.log import append
from cdp.db import utcnow
from cdp.errors import InvalidInput
from cdp.privacy import requests as lifecycle
from cdp.privacy.erasure import scrub_residue
from cdp.privacy.models import PrivacyRequest

router = APIRouter(prefix="/v1/privacy-requests", tags=["privacy"])
Manage = Annotated[Principal, Depends(require("privacy.manage"))]
RequestType = Literal["access", "erasure", "restriction", "rectification", "objection"]


class SubjectIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str | None = Field(None, max_length=320)
    phone: str | None = Field(None, max_length=64)
    profile_id: uuid.UUID | None = None


class PrivacyRequestCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: RequestType
    subject: SubjectIn = Field(description="Exactly one of email, phone or profile_id.")
    requested_by: str | None = Field(None, max_length=200, description="Who asked (kept encrypted).")
    notes: str | None = Field(None, max_length=2000, description="Kept encrypted with the person's data.")
    jurisdiction: str | None = Field(None, max_length=16, description="A key of policies/requests.yaml.")
    country: str | None = Field(None, pattern=r"^[A-Za-z]{2}$", description="Default region for a national phone.")
    fields: dict[str, str] | None = Field(None, description="Rectification: the corrected golden fields.")
    lift: bool = Field(False, description="Restriction: lift the profile's restriction instead of placing one.")
    subject_informed_at: dt.datetime | None = Field(None, description="Lifting: when the person was told (Art. 18(3)).")


class PrivacyRequestRead(BaseModel):
    id: uuid.UUID
    type: str
    status: str
    jurisdiction: str
    profile_ids: list[str]
    requested_by: str
    received_at: dt.datetime
    ack_by: dt.datetime | None
    due_at: dt.datetime
    max_due_at: dt.datetime | None
    extended_to: dt.datetime | None
    extension_reason: str | None
    extension_notified_at: dt.datetime | None
    effective_due_at: dt.datetime
    days_left: int | None = Field(description="Days to the effective due date; None once closed.")
    completed_at: dt.datetime | None
    rejection_reason: str | None
    approvals: list[str]
    history: list[dict[str, Any]]
    result: dict[str, Any]
    has_export: bool


def _read(request: PrivacyRequest) -> PrivacyRequestRead:
    due = lifecycle.effective_due(request)
    open_ = request.status in lifecycle.OPEN
    return PrivacyRequestRead(
        id=request.id,
        type=request.type,
        status=request.status,
        jurisdiction=request.jurisdiction,
        profile_ids=list(request.profile_ids),
        requested_by=request.requested_by,
        received_at=request.received_at,
        ack_by=request.ack_by,
        due_at=request.due_at,
        max_due_at=request.max_due_at,
        extended_to=request.extended_to,
        extension_reason=request.extension_reason,
        extension_notified_at=request.extension_notified_at,
        effective_due_at=due,
        days_left=(due.date() - utcnow().date()).days if open_ else None,
        completed_at=request.completed_at,
        rejection_reason=request.rejection_reason,
        approvals=list(request.approvals),
        history=list(request.history),
        result=dict(request.result),
        has_export=request.export is not None,
    )


def _scrub_after_erasure(tasks: BackgroundTasks, runtime: RuntimeDep, request: PrivacyRequest) -> None:
    """An erasure's freed SQLite pages leave the WAL only after the commit, so the checkpoint runs once the
    response (and so the request's commit) is done."""
    if request.type == "erasure" and request.status == "completed":
        tasks.add_task(scrub_residue, runtime.stores.engines)


@router.post("", response_model=PrivacyRequestRead, status_code=201)
def create_request(
    body: PrivacyRequestCreate, session: SessionDep, runtime: RuntimeDep, principal: Manage, tasks: BackgroundTasks
) -> PrivacyRequestRead:
    """File a request; it is carried out at once unless policy holds it (legal hold, second approver)."""
    subject = {k: str(v) for k, v in body.subject.model_dump(exclude_none=True).items()}
    request = lifecycle.submit_request(
        session,
        type=body.type,
        subject=subject,
        actor=principal.actor,
        policies=runtime.policies,
        requested_by=body.requested_by,
        notes=body.notes,
        jurisdiction=body.jurisdiction,
        fields=body.fields,
        lift=body.lift,
        subject_informed_at=body.subject_informed_at,
        country=body.country,
    )
    _scrub_after_erasure(tasks, runtime, request)
    return _read(request)


class MetricsRead(BaseModel):
    year: int
    types: list[dict[str, Any]]


@router.get("/metrics", response_model=MetricsRead)
def request_metrics(
    session: SessionDep,
    _: Manage,
    year: Annotated[int | None, Query(ge=2000, le=2200, description="Requests received in this year (UTC).")] = None,
) -> MetricsRead:
    """CCPA 7102 yearly figures per type: received, complied, denied, median and mean days to respond."""
    year = year or utcnow().year
    return MetricsRead(year=year, types=[vars(m) for m in lifecycle.yearly_metrics(session, year)])


def _position(cursor: str | None) -> tuple[dt.datetime, uuid.UUID] | None:
    position: dict[str, Any] = decode_cursor(cursor)
    if not position:
        return None
    try:
        return dt.datetime.fromisoformat(position["due"]), uuid.UUID(position["after"])
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInput("`cursor` is not a cursor this API issued", parameter="cursor") from exc


@router.get("", response_model=Page[PrivacyRequestRead])
def list_requests(
    session: SessionDep,
    runtime: RuntimeDep,
    principal: Manage,
    status: Annotated[
        str | None,
        Query(
            pattern=r"^(open|closed|received|awaiting_approval|in_progress|awaiting_recipients|completed|rejected)$",
            description="`open`, `closed` or one status.",
        ),
    ] = None,
    type: Annotated[RequestType | None, Query()] = None,
    due_before: Annotated[dt.datetime | None, Query(description="Effective due date before this time.")] = None,
    cursor: Annotated[str | None, Query(max_length=300)] = None,
    limit: Annotated[int, Query(ge=1)] = 50,
) -> Page[PrivacyRequestRead]:
    """Requests by effective due date, soonest first, with days left."""
    limit = min(limit, runtime.settings.page_limit_max)
    if due_before is not None and due_before.tzinfo is None:
        due_before = due_before.replace(tzinfo=dt.UTC)
    lifecycle.close_all_answered(session)
    rows = lifecycle.list_requests(
        session, status=status, type=type, due_before=due_before, after=_position(cursor), limit=limit + 1
    )
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = None
    if more and rows:
        last = rows[-1]
        next_cursor = encode_cursor({"due": lifecycle.effective_due(last).isoformat(), "after": str(last.id)})
    append(
        session,
        actor=principal.actor,
        action="privacy_request.listed",
        resource_type="privacy_request",
        details={"count": len(rows)},
    )
    return Page[PrivacyRequestRead](data=[_read(r) for r in rows], next_cursor=next_cursor)


@router.get("/{request_id}", response_model=PrivacyRequestRead)
def read_request(request_id: uuid.UUID, session: SessionDep, principal: Manage) -> PrivacyRequestRead:
    request = lifecycle.get_request_or_raise(session, request_id)
    lifecycle.close_answered(session, request)
    append(
        session,
        actor=principal.actor,
        action="privacy_request.read",
        resource_type="privacy_request",
        resource_id=request.id,
    )
    return _read(request)


@router.post("/{request_id}/approve", response_model=PrivacyRequestRead)
def approve_request(
    request_id: uuid.UUID, session: SessionDep, runtime: RuntimeDep, principal: Manage, tasks: BackgroundTasks
) -> PrivacyRequestRead:
    """A second compliance key approves; the request is then carried out."""
    request = lifecycle.approve_request(session, request_id, actor=principal.actor, policies=runtime.policies)
    _scrub_after_erasure(tasks, runtime, request)
    return _read(request)


class ExtendBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=3, max_length=200, description="Why more time is needed; never personal data.")
    notified_at: dt.datetime | None = Field(None, description="When the person was told (default: now).")


@router.post("/{request_id}/extend", response_model=PrivacyRequestRead)
def extend_request(
    request_id: uuid.UUID, body: ExtendBody, session: SessionDep, principal: Manage
) -> PrivacyRequestRead:
    """Art. 12(3): two further months, notified inside the first; refused after the original due date."""
    return _read(
        lifecycle.extend_request(
            session, request_id, reason=body.reason, notified_at=body.notified_at, actor=principal.actor
        )
    )


class LiftBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject_informed_at: dt.datetime = Field(description="When the person was told the restriction ends (Art. 18(3)).")


@router.post("/{request_id}/lift", response_model=PrivacyRequestRead)
def lift_restriction(
    request_id: uuid.UUID, body: LiftBody, session: SessionDep, principal: Manage
) -> PrivacyRequestRead:
    """Lift the restriction this request placed."""
    return _read(
        lifecycle.lift_request_restriction(
            session, request_id, subject_informed_at=body.subject_informed_at, actor=principal.actor
        )
    )


@router.get(
    "/{request_id}/export",
    response_class=Response,
    responses={200: {"content": {"application/zip": {}}, "description": "The access bundle (zip)."}},
)
def download_export(request_id: uuid.UUID, session: SessionDep, principal: Manage) -> Response:
    """The access and portability bundle: README.html, manifest.json, JSON and CSV per dataset."""
    content = lifecycle.download_export(session, request_id, actor=principal.actor)
    return Response(
        content,
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="dsar-{request_id}.zip"',
            "Cache-Control": "no-store",
        },
    )
