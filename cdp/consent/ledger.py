"""Appending to the consent ledger and keeping the derived state in step (the full rules live in state.py)."""

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import delete
from sqlalchemy.orm import Session
from sqlmodel import col, select

from cdp.consent.models import ConsentEvent, ConsentState
from cdp.crypto.envelope import vault
from cdp.db import utcnow

PROOF = "consent_event.proof"


def record_consent(
    session: Session,
    *,
    profile_id: uuid.UUID,
    identity_id: uuid.UUID | None,
    purpose: str,
    status: str,
    occurred_at: dt.datetime,
    source: str,
    method: str,
    lawful_basis: str = "consent",
    notice_id: str | None = None,
    notice_version: str | None = None,
    expires_at: dt.datetime | None = None,
    jurisdiction: str | None = None,
    proof: dict[str, Any] | None = None,
    dedup_id: str | None = None,
    source_record_id: uuid.UUID | None = None,
) -> ConsentEvent | None:
    """Append one consent event; None when this source already recorded the same one."""
    v = vault(session)
    dedup_key = v.blind_index(f"consent:{source}", dedup_id) if dedup_id else None
    if dedup_key is not None:
        seen = session.scalars(
            select(ConsentEvent.id).where(ConsentEvent.source == source, ConsentEvent.dedup_key == dedup_key)
        ).first()
        if seen is not None:
            return None
    event = ConsentEvent(
        profile_id=profile_id,
        identity_id=identity_id,
        purpose=purpose,
        status=status,
        lawful_basis=lawful_basis,
        notice_id=notice_id,
        notice_version=notice_version,
        method=method,
        source=source,
        occurred_at=occurred_at,
        expires_at=expires_at,
        jurisdiction=jurisdiction,
        has_proof=bool(proof),
        proof=v.encrypt_json(profile_id, proof, context=PROOF) if proof else None,
        dedup_key=dedup_key,
        source_record_id=source_record_id,
    )
    session.add(event)
    session.flush()
    _apply(session, event)
    return event


def _apply(session: Session, event: ConsentEvent) -> None:
    state = session.scalars(
        select(ConsentState).where(
            ConsentState.profile_id == event.profile_id,
            col(ConsentState.identity_id).is_not_distinct_from(event.identity_id),
            ConsentState.purpose == event.purpose,
        )
    ).first()
    if state is None:
        session.add(
            ConsentState(
                profile_id=event.profile_id,
                identity_id=event.identity_id,
                purpose=event.purpose,
                status=event.status,
                event_id=event.id,
                occurred_at=event.occurred_at,
                expires_at=event.expires_at,
            )
        )
        return
    # Latest occurrence wins; on a tie a withdrawal outranks a grant.
    newer = event.occurred_at > state.occurred_at or (
        event.occurred_at == state.occurred_at and event.status == "withdrawn"
    )
    if newer:
        state.status = event.status
        state.event_id = event.id
        state.occurred_at = event.occurred_at
        state.expires_at = event.expires_at
        state.updated_at = utcnow()


def rebuild_states(session: Session, profile_id: uuid.UUID) -> None:
    """Derive the profile's consent state again from its ledger (after a merge, an unmerge or for audit)."""
    session.execute(delete(ConsentState).where(col(ConsentState.profile_id) == profile_id))
    session.flush()
    events = session.scalars(
        select(ConsentEvent).where(ConsentEvent.profile_id == profile_id).order_by(col(ConsentEvent.occurred_at))
    )
    for event in events:
        _apply(session, event)
        session.flush()


def states_of(session: Session, profile_id: uuid.UUID) -> list[ConsentState]:
    return list(session.scalars(select(ConsentState).where(ConsentState.profile_id == profile_id)))
