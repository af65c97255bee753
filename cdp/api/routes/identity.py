"""Identity resolution on the API: explain a profile, merge two by hand, split one apart."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field, model_validator

from cdp.api.deps import Principal, SessionDep, require
from cdp.audit.log import append
from cdp.consent.views import profile_view
from cdp.errors import InvalidInput, NotFound
from cdp.identity.explain import ExplanationRead, MergeRead, explain_profile
from cdp.identity.merge import merge_profiles, split_profile
from cdp.identity.models import MergeEvent
from cdp.profiles.schemas import ProfileRead
from cdp.profiles.store import get_profile_or_raise

router = APIRouter(prefix="/v1/profiles", tags=["identity"])


@router.get("/{profile_id}/explain", response_model=ExplanationRead)
def explain(
    profile_id: uuid.UUID,
    session: SessionDep,
    principal: Annotated[Principal, Depends(require("profiles.read"))],
) -> ExplanationRead:
    """Every source record with the evidence that linked it, and every merge or split of this profile."""
    profile = get_profile_or_raise(session, profile_id)
    result = explain_profile(session, profile)
    append(session, actor=principal.actor, action="profile.explained", resource_type="profile", resource_id=profile.id)
    return result


class MergeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    other_profile_id: uuid.UUID = Field(description="The profile to merge into this one (it will redirect here).")
    reason: str = Field(min_length=3, max_length=500)


class MergeResponse(BaseModel):
    profile: ProfileRead
    merge: MergeRead


@router.post("/{profile_id}/merge", response_model=MergeResponse)
def merge(
    profile_id: uuid.UUID,
    body: MergeRequest,
    session: SessionDep,
    principal: Annotated[Principal, Depends(require("profiles.merge"))],
) -> MergeResponse:
    """Manual merge: the other profile's records, events and consents move here; its id redirects."""
    survivor = get_profile_or_raise(session, profile_id)
    other = get_profile_or_raise(session, body.other_profile_id)
    event = merge_profiles(session, survivor, other, kind="manual", actor=principal.actor, reason=body.reason)
    assert event is not None  # only quiet (rebuild) merges return no event
    return MergeResponse(
        profile=profile_view(session, survivor), merge=MergeRead.model_validate(event, from_attributes=True)
    )


class UnmergeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=3, max_length=500)
    merge_id: uuid.UUID | None = Field(None, description="Undo this merge: its records leave this profile.")
    source_record_ids: list[uuid.UUID] | None = Field(None, min_length=1, max_length=1000)

    @model_validator(mode="after")
    def _one_way(self) -> "UnmergeRequest":
        if (self.merge_id is None) == (self.source_record_ids is None):
            raise ValueError("give exactly one of `merge_id` or `source_record_ids`")
        return self


class UnmergeResponse(BaseModel):
    profile: ProfileRead
    split_profile: ProfileRead
    unmerge: MergeRead


@router.post("/{profile_id}/unmerge", response_model=UnmergeResponse)
def unmerge(
    profile_id: uuid.UUID,
    body: UnmergeRequest,
    session: SessionDep,
    principal: Annotated[Principal, Depends(require("profiles.merge"))],
) -> UnmergeResponse:
    """Split records off into a new profile; the two groups are never joined again automatically."""
    profile = get_profile_or_raise(session, profile_id)
    undo: MergeEvent | None = None
    if body.merge_id is not None:
        undo = session.get(MergeEvent, body.merge_id)
        if undo is None or undo.survivor_id != profile.id or undo.kind == "unmerge":
            raise NotFound(f"no merge {body.merge_id} into this profile")
        if undo.undone_at is not None:
            raise InvalidInput("that merge was already undone")
        records = {uuid.UUID(r) for r in undo.source_record_ids}
    else:
        records = set(body.source_record_ids or [])
    split, event = split_profile(session, profile, records, actor=principal.actor, reason=body.reason, undo=undo)
    return UnmergeResponse(
        profile=profile_view(session, profile),
        split_profile=profile_view(session, split),
        unmerge=MergeRead.model_validate(event, from_attributes=True),
    )
