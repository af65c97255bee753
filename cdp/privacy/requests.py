"""Privacy requests raised inside a tool (HubSpot `contact.privacyDeletion`, Salesforce `ShouldForget`).

A signal opens a request in the compliance store's log, status `received`, for the DPO's queue; it is not
carried out unseen. The subject is the source record the tool named, kept encrypted under the person's data
key (so it reads as nothing once the person is erased); the tool's signal id, as a blind index, makes a
redelivered signal a no-op.
"""

import calendar
import datetime as dt
import uuid

from sqlalchemy.orm import Session
from sqlmodel import col, select

from cdp.audit.log import Actor, append
from cdp.connectors.base import SourceSignal
from cdp.crypto.envelope import vault
from cdp.db import compliance_session, utcnow
from cdp.privacy.models import PrivacyRequest
from cdp.profiles import store


def one_month_after(received: dt.datetime) -> dt.datetime:
    """GDPR Art. 12(3) as COMPLIANCE.md §1.4 counts it: the same date next month, or that month's last day
    when the date does not exist; a Saturday or Sunday moves to the Monday."""
    year, month = (received.year + 1, 1) if received.month == 12 else (received.year, received.month + 1)
    day = min(received.day, calendar.monthrange(year, month)[1])
    due = received.replace(year=year, month=month, day=day)
    while due.weekday() >= 5:
        due += dt.timedelta(days=1)
    return due


def open_from_signal(session: Session, signal: SourceSignal, actor: Actor) -> PrivacyRequest | None:
    """Open a request for the person behind `(signal.source, signal.external_id)`; None if already opened."""
    compliance = compliance_session(session)
    v = vault(session)
    signal_index = v.blind_index(f"signal:{signal.source}", signal.signal_id)
    seen = compliance.scalars(select(PrivacyRequest).where(col(PrivacyRequest.subject_index) == signal_index)).first()
    if seen is not None:
        return None
    record = store.find_source_record(session, signal.source, signal.external_id)
    profile_id = record.profile_id if record is not None else None
    if profile_id is not None:
        survivor = store.survivor_of(session, profile_id)
        profile_id = survivor.id if survivor is not None else profile_id
    now = utcnow()
    request_id = uuid.uuid4()
    subject = {"source": signal.source, "external_id": signal.external_id}
    # Encrypted under the person's key where there is one; with none, only the source and a blind index.
    subject_ref = (
        v.encrypt_json(profile_id, subject, context=f"privacy_request:{request_id}")
        if profile_id is not None
        else signal.source.encode()
    )
    request = PrivacyRequest(
        id=request_id,
        type=signal.type,
        status="received",
        subject_ref=subject_ref,
        subject_index=signal_index,
        profile_ids=[str(profile_id)] if profile_id is not None else [],
        requested_by=f"connector:{signal.source}",
        received_at=now,
        due_at=one_month_after(now),
        result={"origin": "source_signal", "source": signal.source, "subject_found": profile_id is not None},
    )
    compliance.add(request)
    compliance.flush()
    append(
        session,
        actor=actor,
        action="privacy_request.received",
        resource_type="privacy_request",
        resource_id=request.id,
        details={"type": signal.type, "origin": signal.source, "subject_found": profile_id is not None},
    )
    return request
