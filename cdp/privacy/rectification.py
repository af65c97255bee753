"""Rectification (GDPR Art. 16): the corrected golden fields, pinned so a re-sync of the old value cannot undo them.

The pin lives in the field's provenance (rule `rectification`, the request id, and a keyed digest of each
source's value at the time); `cdp.identity.survivorship.apply_pins` honours it on every recomputation.
"""

import uuid
from typing import Any

from sqlalchemy.orm import Session

from cdp.audit.log import Actor, append
from cdp.db import utcnow
from cdp.errors import InvalidInput
from cdp.identity.merge import observations_of, rectification_digest
from cdp.identity.normalize import NormalizationError, normalize_email, normalize_phone
from cdp.identity.survivorship import RECTIFICATION, pin_digests
from cdp.policies import GOLDEN_FIELDS
from cdp.profiles import store


def normalize_fields(fields: dict[str, Any]) -> dict[str, str]:
    """The corrected values, checked and normalized the way ingestion would store them."""
    if not fields:
        raise InvalidInput("a rectification names at least one golden field in `fields`", field="fields")
    out: dict[str, str] = {}
    for name, raw in fields.items():
        if name not in GOLDEN_FIELDS:
            raise InvalidInput(
                f"unknown golden field {name!r}; fields are {', '.join(GOLDEN_FIELDS)}", field=f"fields.{name}"
            )
        if not isinstance(raw, str) or not raw.strip() or len(raw) > 320:
            raise InvalidInput(f"fields.{name} must be a non-empty string of at most 320 characters", field=name)
        value = raw.strip()
        try:
            if name == "email":
                value = normalize_email(value)
            elif name == "phone":
                value = normalize_phone(
                    value, fields.get("country") if isinstance(fields.get("country"), str) else None
                )
        except NormalizationError as exc:
            raise InvalidInput(f"fields.{name} is not a valid {name}", field=name) from exc
        out[name] = value.upper() if name == "country" else value
    return out


def rectify_profile(
    session: Session, profile_id: uuid.UUID, fields: dict[str, str], *, request_id: uuid.UUID, actor: Actor
) -> list[str]:
    """Write the corrections into the golden record; returns the field names changed."""
    profile = store.get_profile_or_raise(session, profile_id)
    now = utcnow()
    golden = store.read_golden(session, profile)
    provenance = dict(profile.field_provenance or {})
    observations = observations_of(session, profile.id)
    digest = rectification_digest(session)
    for name, value in fields.items():
        golden[name] = value
        provenance[name] = {
            "source": RECTIFICATION,
            "rule": RECTIFICATION,
            "request_id": str(request_id),
            "observed_at": now.isoformat(),
            "pinned": pin_digests(observations, name, digest),
        }
    store.write_golden(session, profile, golden, at=now)
    profile.field_provenance = provenance
    quiet = profile.last_activity_at
    store.add_event(
        session,
        profile,
        type="profile_rectified",
        occurred_at=now,
        source="privacy_request",
        dedup_id=f"profile_rectified:{request_id}",
        properties={"request_id": str(request_id), "fields": sorted(fields)},
    )
    profile.last_activity_at = quiet
    session.add(profile)
    session.flush()
    append(
        session,
        actor=actor,
        action="profile.rectified",
        resource_type="profile",
        resource_id=profile.id,
        details={"request_id": str(request_id), "fields": sorted(fields)},
    )
    return sorted(fields)
