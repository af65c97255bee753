"""POST /v1/ingest/{source}: a batch of canonical ContactRecords, with a result per record."""

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Path
from pydantic import BaseModel, Field

from cdp.api.deps import Principal, RuntimeDep, SessionDep, require
from cdp.errors import TooLarge
from cdp.ingest.pipeline import ingest_batch

router = APIRouter(prefix="/v1/ingest", tags=["ingest"])


class RecordResultRead(BaseModel):
    index: int
    outcome: Literal["created", "merged", "updated", "unchanged", "quarantined", "suppressed"]
    profile_id: uuid.UUID | None = None
    quarantine_id: uuid.UUID | None = None
    reasons: list[dict[str, Any]] | None = None
    warnings: list[dict[str, Any]] | None = Field(
        None, description="Contact points that were unusable and not used for matching; the record was stored."
    )


class IngestResponse(BaseModel):
    source: str
    counts: dict[str, int]
    results: list[RecordResultRead]


@router.post("/{source}", response_model=IngestResponse)
def ingest(
    session: SessionDep,
    runtime: RuntimeDep,
    principal: Annotated[Principal, Depends(require("ingest.write"))],
    source: Annotated[str, Path(pattern=r"^[a-z][a-z0-9_\-]{0,63}$")],
    records: Annotated[list[Any], Body(description="A JSON array of ContactRecord objects.")],
) -> IngestResponse:
    """Every record gets an outcome; a record that fails validation is quarantined with its reasons."""
    if len(records) > runtime.settings.ingest_batch_max:
        raise TooLarge(
            f"{len(records)} records in one batch; the limit is {runtime.settings.ingest_batch_max}",
            limit=runtime.settings.ingest_batch_max,
        )
    result = ingest_batch(session, source, records, actor=principal.actor)
    return IngestResponse(
        source=source,
        counts=result.counts,
        results=[RecordResultRead(**r.__dict__) for r in result.results],
    )
