"""The audit trail for compliance: entries page by page, and chain verification."""

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from cdp.api.deps import Principal, RuntimeDep, SessionDep, require
from cdp.api.pagination import Page, decode_cursor, encode_cursor
from cdp.audit.log import list_entries, verify_chain
from cdp.errors import InvalidInput

router = APIRouter(prefix="/v1/audit", tags=["audit"])


class AuditEntryRead(BaseModel):
    seq: int
    at: dt.datetime
    actor_id: str
    actor_role: str
    action: str
    resource_type: str
    resource_id: str | None
    outcome: str
    details: dict[str, Any]
    prev_hash: str
    hash: str


class ChainRead(BaseModel):
    ok: bool
    entries: int
    head_hash: str
    broken_at: int | None
    problem: str | None


@router.get("", response_model=Page[AuditEntryRead])
def read_audit(
    session: SessionDep,
    runtime: RuntimeDep,
    _: Annotated[Principal, Depends(require("audit.read"))],
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1)] = 50,
) -> Page[AuditEntryRead]:
    limit = min(limit, runtime.settings.page_limit_max)
    after = decode_cursor(cursor).get("after", 0)
    if isinstance(after, bool) or not isinstance(after, int) or not 0 <= after < 2**62:
        raise InvalidInput("`cursor` is not a cursor this API issued", parameter="cursor")
    rows = list_entries(session, after_seq=after, limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return Page[AuditEntryRead](
        data=[AuditEntryRead.model_validate(r, from_attributes=True) for r in rows],
        next_cursor=encode_cursor({"after": rows[-1].seq}) if more and rows else None,
    )


@router.get("/verify", response_model=ChainRead)
def verify_audit(
    session: SessionDep,
    _: Annotated[Principal, Depends(require("audit.read"))],
    expected_head: Annotated[str | None, Query(pattern=r"^[0-9a-f]{64}$")] = None,
) -> ChainRead:
    report = verify_chain(session, expected_head=expected_head)
    return ChainRead(**report.__dict__)
