"""Connectors on the API: what is registered with each pull's checkpoint, and starting a pull sync.

A sync runs in the request, page by page, each page committed with its checkpoint; `max_pages` bounds one
call, and `status: stopped` says to call again to continue from the checkpoint.
"""

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import select

from cdp.api.deps import Principal, RuntimeDep, SessionDep, require
from cdp.connectors.registry import destinations, pull_sources, webhook_sources
from cdp.ingest.models import ConnectorState
from cdp.jobs import sync_source

router = APIRouter(prefix="/v1/connectors", tags=["connectors"])
Manage = Annotated[Principal, Depends(require("connectors.manage"))]
ConnectorName = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_\-]{0,63}$")]


class ConnectorRead(BaseModel):
    name: str
    kinds: list[Literal["webhook", "pull", "destination"]]
    status: str | None = Field(None, description="Pull checkpoint status: idle, running, paused or failed.")
    last_error: str | None = None
    updated_at: dt.datetime | None = None


class SyncRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    full: bool = Field(False, description="Ignore the checkpoint and read everything again.")
    max_pages: int = Field(50, ge=1, le=10_000, description="Pages to pull in this call; call again to go on.")


class SyncRead(BaseModel):
    connector: str
    status: Literal["completed", "stopped"]
    pages: int
    counts: dict[str, int]
    signals: int = Field(description="Privacy requests the tool raised, opened for the DPO.")
    resumed: bool


@router.get("", response_model=list[ConnectorRead])
def list_connectors(session: SessionDep, _: Manage) -> list[ConnectorRead]:
    states = {s.connector: s for s in session.scalars(select(ConnectorState)).all()}
    hooks, pulls, dests = webhook_sources(), pull_sources(), destinations()
    out: list[ConnectorRead] = []
    for name in sorted({*hooks, *pulls, *dests}):
        state = states.get(name)
        kinds: list[Literal["webhook", "pull", "destination"]] = []
        if name in hooks:
            kinds.append("webhook")
        if name in pulls:
            kinds.append("pull")
        if name in dests:
            kinds.append("destination")
        out.append(
            ConnectorRead(
                name=name,
                kinds=kinds,
                status=state.status if state else None,
                last_error=state.last_error if state else None,
                updated_at=state.updated_at if state else None,
            )
        )
    return out


@router.post("/{name}/sync", response_model=SyncRead)
def sync_connector(name: ConnectorName, body: SyncRequest, runtime: RuntimeDep, principal: Manage) -> SyncRead:
    """Pull the connector into cdp through `ingest_batch`; a failure keeps the checkpoint (503 problem)."""
    report = sync_source(runtime, name, actor=principal.actor, full=body.full, max_pages=body.max_pages)
    return SyncRead(
        connector=report.connector,
        status=report.status,
        pages=report.pages,
        counts=dict(report.counts),
        signals=report.signals,
        resumed=report.resumed,
    )
