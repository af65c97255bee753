"""Audience definitions: a name, the purpose its members must have consented to, the destination it is sent to,
and a simple filter over unencrypted profile columns (so choosing members never decrypts anyone it excludes)."""

import datetime as dt
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.orm import Session
from sqlmodel import col, select

from cdp.audiences.models import Audience
from cdp.audit.log import Actor, append
from cdp.connectors.registry import get_destination
from cdp.consent.catalog import purposes_of
from cdp.db import utcnow
from cdp.errors import Conflict, InvalidInput, NotFound

LifecycleStage = Literal[
    "subscriber", "lead", "marketing_qualified", "sales_qualified", "opportunity", "customer", "churned"
]
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9 _.\-]{0,127}$"


class AudienceNotFound(NotFound):
    slug = "audience-not-found"
    title = "Audience not found"


class AudienceExists(Conflict):
    slug = "audience-exists"
    title = "Audience name taken"


class InvalidAudience(InvalidInput):
    slug = "invalid-audience"
    title = "Audience definition not valid"


class Definition(BaseModel):
    """Who is in, before consent decides: every listed condition must hold (an empty definition: everyone)."""

    model_config = ConfigDict(extra="forbid")

    lifecycle_stages: list[LifecycleStage] | None = Field(
        None, description="Profiles at one of these lifecycle stages."
    )
    sources: list[str] | None = Field(
        None, max_length=20, description="Profiles with a record from one of these sources (connector names)."
    )
    active_within_days: int | None = Field(
        None, ge=1, le=3650, description="Profiles with activity in the last N days."
    )

    def cutoff(self, now: dt.datetime) -> dt.datetime | None:
        return None if self.active_within_days is None else now - dt.timedelta(days=self.active_within_days)


def parse_definition(raw: dict[str, Any]) -> Definition:
    try:
        return Definition.model_validate(raw)
    except ValidationError as exc:
        fields = sorted({".".join(str(p) for p in e["loc"]) or "definition" for e in exc.errors()})
        raise InvalidAudience(
            "the audience definition has unknown or invalid conditions; see `fields`", fields=",".join(fields)
        ) from exc


def check_destination(session: Session, purpose: str, destination: str | None) -> None:
    found = purposes_of(session).get(purpose)
    if found is None:
        raise InvalidAudience("the purpose is not in the purpose catalog", field="purpose")
    if destination is None:
        return
    if get_destination(destination) is None:
        raise InvalidAudience("no destination connector of that name is registered", field="destination")
    if found.recipients and destination not in found.recipients:
        # Art. 13(1)(e): people were told who receives their data for this purpose; nobody else may.
        raise InvalidAudience(
            "the purpose's notice does not list this destination among its recipients (purposes.yaml)",
            field="destination",
            purpose=purpose,
        )


def create_audience(
    session: Session,
    *,
    name: str,
    purpose: str,
    destination: str | None,
    definition: dict[str, Any],
    actor: Actor,
) -> Audience:
    parsed = parse_definition(definition)
    check_destination(session, purpose, destination)
    if session.scalars(select(Audience.id).where(Audience.name == name)).first() is not None:
        raise AudienceExists("an audience with this name exists already", field="name")
    now = utcnow()
    audience = Audience(
        name=name,
        purpose=purpose,
        destination=destination,
        definition=parsed.model_dump(exclude_none=True),
        created_at=now,
        updated_at=now,
    )
    session.add(audience)
    session.flush()
    append(
        session,
        actor=actor,
        action="audience.created",
        resource_type="audience",
        resource_id=audience.id,
        details={"purpose": purpose, "destination": destination},
    )
    return audience


def get_audience_or_raise(session: Session, audience_id: uuid.UUID) -> Audience:
    audience = session.get(Audience, audience_id)
    if audience is None:
        raise AudienceNotFound("no audience with this id", audience_id=str(audience_id))
    return audience


def find_audience_or_raise(session: Session, ref: str) -> Audience:
    """By id or by name (the CLI takes either)."""
    try:
        return get_audience_or_raise(session, uuid.UUID(ref))
    except ValueError:
        pass
    audience = session.scalars(select(Audience).where(Audience.name == ref)).first()
    if audience is None:
        raise AudienceNotFound("no audience with this name or id")
    return audience


def list_audiences(session: Session, *, after: str | None = None, limit: int = 50) -> list[Audience]:
    """Ordered by name; `after` is the last name of the previous page."""
    query = select(Audience).order_by(col(Audience.name)).limit(limit)
    if after is not None:
        query = query.where(col(Audience.name) > after)
    return list(session.scalars(query))
