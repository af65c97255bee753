"""Is an identifier suppressed? Checked against every active suppression key version."""

import uuid
from dataclasses import dataclass

from sqlalchemy import tuple_
from sqlalchemy.orm import Session
from sqlmodel import col, select

from cdp.crypto.envelope import vault
from cdp.db import compliance_session
from cdp.suppression.models import Suppression


@dataclass(frozen=True)
class SuppressionHit:
    kind: str
    match_mode: str
    scope: str


def find_suppressions(session: Session, identifiers: list[tuple[str, str]]) -> list[SuppressionHit]:
    """`identifiers` are (kind, normalized value) pairs; returns the live suppressions that match them."""
    if not _any_suppressions(session):
        return []
    v = vault(session)
    wanted: dict[tuple[int, str, str], str] = {}
    for kind, value in identifiers:
        for version, digest in v.suppression_hmacs(kind, value).items():
            wanted[(version, kind, digest)] = kind
    if not wanted:
        return []
    rows = compliance_session(session).scalars(
        select(Suppression).where(
            tuple_(Suppression.key_version, Suppression.identifier_kind, Suppression.identifier_hmac).in_(list(wanted)),
            col(Suppression.lifted_at).is_(None),
        )
    )
    return [SuppressionHit(r.identifier_kind, r.match_mode, r.scope) for r in rows]


_EMPTY_FLAG = "cdp.suppression.empty"


def _any_suppressions(session: Session) -> bool:
    """One cheap query per unit of work: most stores have few or no suppressions, and ingest asks per record."""
    known = session.info.get(_EMPTY_FLAG)
    if known is None:
        row = compliance_session(session).scalars(select(Suppression.id).limit(1)).first()
        known = row is None
        session.info[_EMPTY_FLAG] = known
    return not known


def add_suppression(
    session: Session,
    *,
    kind: str,
    value: str,
    reason: str,
    match_mode: str = "drop_record",
    scope: str = "all_processing",
    request_id: uuid.UUID | None = None,
) -> Suppression:
    v = vault(session)
    version = v.keyring.suppression_version
    digest = v.suppression_hmacs(kind, value)[version]
    compliance = compliance_session(session)
    existing = compliance.scalars(
        select(Suppression).where(
            Suppression.key_version == version,
            Suppression.identifier_kind == kind,
            Suppression.identifier_hmac == digest,
        )
    ).first()
    if existing is not None:
        stronger = (existing.match_mode != "drop_record" and match_mode == "drop_record") or (
            existing.scope != "all_processing" and scope == "all_processing"
        )
        if existing.lifted_at is not None or stronger:
            # A new request re-suppresses a lifted identifier; an erasure widens an objection's entry.
            if existing.lifted_at is not None:
                existing.match_mode, existing.scope = match_mode, scope
            if existing.match_mode != "drop_record":
                existing.match_mode = match_mode
            if existing.scope != "all_processing":
                existing.scope = scope
            existing.lifted_at, existing.lifted_by, existing.lift_reason = None, None, None
            existing.reason, existing.request_id = reason, request_id
            compliance.add(existing)
            compliance.flush()
            session.info[_EMPTY_FLAG] = False
        return existing
    entry = Suppression(
        key_version=version,
        identifier_kind=kind,
        identifier_hmac=digest,
        reason=reason,
        match_mode=match_mode,
        scope=scope,
        request_id=request_id,
    )
    compliance.add(entry)
    compliance.flush()
    session.info[_EMPTY_FLAG] = False
    return entry
