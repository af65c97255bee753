"""Rejected rows: kept encrypted under their own data key (erasable like a person), with reasons."""

import contextlib
import uuid
from typing import Any

from sqlalchemy.orm import Session

from cdp.crypto.envelope import vault
from cdp.identity.normalize import NormalizationError, normalize_email, normalize_phone
from cdp.ingest.models import Quarantine
from cdp.profiles.store import external_kind

QUARANTINE_PAYLOAD = "quarantine.payload"


def quarantine_row(session: Session, *, source: str, row: object, reasons: list[dict[str, Any]]) -> Quarantine:
    row_id = uuid.uuid4()
    v = vault(session)
    v.create_key(row_id)
    entry = Quarantine(
        id=row_id,
        source=source,
        reasons=reasons,
        payload=v.encrypt_json(row_id, row, context=QUARANTINE_PAYLOAD),
    )
    session.add(entry)
    session.flush()
    return entry


def raw_identifiers(source: str, row: object) -> set[tuple[str, str]]:
    """(kind, value) of the identifiers a raw row carries, normalized as ingest would and in their raw form
    (a row is quarantined because something in it did not validate): for suppression before quarantining,
    and for finding an erased person's quarantined rows."""
    out: set[tuple[str, str]] = set()
    if not isinstance(row, dict):
        return out
    if row.get("external_id") not in (None, ""):
        out.add((external_kind(source), str(row["external_id"]).strip()))
    for kind in ("email", "phone"):
        raw = row.get(kind)
        if not isinstance(raw, str) or not raw.strip():
            continue
        out.add((kind, raw.strip().lower()))
        regions = [None, row["country"]] if isinstance(row.get("country"), str) else [None]
        for region in regions:
            with contextlib.suppress(NormalizationError):
                out.add((kind, normalize_email(raw) if kind == "email" else normalize_phone(raw, region)))
    return out
