"""Profiles: read one (with consent state), search by email or phone in a POST body."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator

from cdp.api.deps import Principal, RuntimeDep, SessionDep, require
from cdp.api.pagination import Page
from cdp.api.problems import problem_response
from cdp.audit.log import append
from cdp.consent.views import profile_view
from cdp.crypto.envelope import vault
from cdp.errors import InvalidInput, PermissionDenied
from cdp.identity.normalize import NormalizationError, normalize_email, normalize_phone
from cdp.profiles.schemas import ProfileRead
from cdp.profiles.store import find_profile_ids_by_identity, get_profile_or_raise

router = APIRouter(prefix="/v1/profiles", tags=["profiles"])


@router.get("/{profile_id}", response_model=ProfileRead, responses={308: {"description": "merged: see Location"}})
def read_profile(
    request: Request,
    profile_id: uuid.UUID,
    session: SessionDep,
    principal: Annotated[Principal, Depends(require("profiles.read", "profiles.read_consented"))],
    runtime: RuntimeDep,
) -> ProfileRead | JSONResponse:
    """The golden record, identities and consent state. Marketing sees consented contact points only."""
    full = runtime.policies.access.allows(principal.role, "profiles.read")
    profile = get_profile_or_raise(session, profile_id)
    restricted = profile.status == "restricted"
    if restricted and not runtime.policies.access.allows(principal.role, "privacy.manage"):
        # GDPR Art. 18: a restricted profile is only stored; only the compliance role reads it. The refusal is a
        # response, not an exception, so its audit entry commits with this request.
        append(
            session,
            actor=principal.actor,
            action="profile.read",
            resource_type="profile",
            resource_id=profile.id,
            outcome="denied",
            details={"restricted": True},
        )
        return problem_response(
            request,
            status=403,
            type_=f"/problems/{ProfileRestricted.slug}",
            title=ProfileRestricted.title,
            detail=f"profile {profile.id} is restricted (GDPR Art. 18); only the compliance role reads it",
        )
    view = profile_view(session, profile, consented_only=not full)
    append(
        session,
        actor=principal.actor,
        action="profile.read",
        resource_type="profile",
        resource_id=profile.id,
        details={"view": view.view, **({"restricted": True} if restricted else {})},
    )
    return view


class ProfileRestricted(PermissionDenied):
    """Listed under GET /problems; the route answers it as a response so the refusal's audit entry commits."""

    slug = "profile-restricted"
    title = "Processing of this profile is restricted"


class ProfileSearch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str | None = Field(None, max_length=320)
    phone: str | None = Field(None, max_length=64)
    country: str | None = Field(
        None, pattern=r"^[A-Za-z]{2}$", description="Default region for a national phone number."
    )
    limit: int = Field(20, ge=1, le=100)

    @model_validator(mode="after")
    def _one_key(self) -> "ProfileSearch":
        if (self.email is None) == (self.phone is None):
            raise ValueError("give exactly one of `email` or `phone`")
        return self


@router.post("/search", response_model=Page[ProfileRead])
def search_profiles(
    body: ProfileSearch,
    session: SessionDep,
    runtime: RuntimeDep,
    principal: Annotated[Principal, Depends(require("profiles.search"))],
) -> Page[ProfileRead]:
    """Exact match on a normalized email or phone via its blind index. A POST body keeps it out of URLs."""
    try:
        kind, value = (
            ("email", normalize_email(body.email))
            if body.email
            else ("phone", normalize_phone(body.phone or "", body.country))
        )
    except NormalizationError as exc:
        raise InvalidInput(str(exc), field="email" if body.email else "phone") from exc
    ids = find_profile_ids_by_identity(session, kind, vault(session).blind_index(kind, value), limit=body.limit)
    profiles = [get_profile_or_raise(session, pid) for pid in ids]
    if not runtime.policies.access.allows(principal.role, "privacy.manage"):
        profiles = [p for p in profiles if p.status != "restricted"]  # Art. 18: hidden from everyday use
    views = [profile_view(session, p) for p in profiles]
    append(
        session,
        actor=principal.actor,
        action="profile.search",
        resource_type="profile",
        details={"by": kind, "matches": len(views)},
    )
    for view in views:
        append(
            session,
            actor=principal.actor,
            action="profile.read",
            resource_type="profile",
            resource_id=view.id,
            details={"via": "search"},
        )
    return Page[ProfileRead](data=views)
