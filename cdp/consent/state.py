"""Keeping `consent_state` equal to the fold of the ledger, live and in bulk (`cdp consent rebuild`).

Every write re-folds the whole subject it touched, so the live state is by construction what a rebuild
gives, whatever order events arrived in (COMPLIANCE 7.4). The fold also keeps one `record_id` per subject
(the earliest event's, so merging two ledgers keeps the survivor's) and `ignored_reason` in step.
"""

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy import delete
from sqlalchemy.orm import Session
from sqlmodel import col, select

from cdp.consent.catalog import purposes_of
from cdp.consent.fold import Fact, Folded, effective_status, fold, fold_as_of, sort_key
from cdp.consent.models import ConsentEvent, ConsentState
from cdp.db import utcnow
from cdp.policies import Duration, Purpose

Subject = tuple[uuid.UUID, uuid.UUID | None, str]  # (profile_id, identity_id, purpose)


def fact_of(event: ConsentEvent) -> Fact:
    return Fact(
        event.id, event.status, event.occurred_at, event.method, event.has_proof, event.expires_at, event.consent_type
    )


def validity_of(purposes: Mapping[str, Purpose], purpose: str) -> Duration | None:
    found = purposes.get(purpose)
    return found.consent_validity if found is not None else None


def subject_of(event: ConsentEvent) -> Subject:
    return (event.profile_id, event.identity_id, event.purpose)


def subject_events(session: Session, subject: Subject) -> list[ConsentEvent]:
    profile_id, identity_id, purpose = subject
    return list(
        session.scalars(
            select(ConsentEvent).where(
                ConsentEvent.profile_id == profile_id,
                col(ConsentEvent.identity_id).is_not_distinct_from(identity_id),
                ConsentEvent.purpose == purpose,
            )
        )
    )


def _stored_state(session: Session, subject: Subject) -> ConsentState | None:
    profile_id, identity_id, purpose = subject
    return session.scalars(
        select(ConsentState).where(
            ConsentState.profile_id == profile_id,
            col(ConsentState.identity_id).is_not_distinct_from(identity_id),
            ConsentState.purpose == purpose,
        )
    ).first()


@dataclass(frozen=True)
class Derived:
    """A subject's state as the ledger says it should be, plus the ledger fixes that go with it."""

    subject: Subject
    record_id: uuid.UUID
    folded: Folded
    events: Sequence[ConsentEvent]

    def ledger_fixes(self) -> list[tuple[ConsentEvent, uuid.UUID, str | None]]:
        """(event, record_id, ignored_reason) for each event whose stored values differ from the fold's."""
        return [
            (e, self.record_id, self.folded.ignored.get(e.id))
            for e in self.events
            if e.record_id != self.record_id or e.ignored_reason != self.folded.ignored.get(e.id)
        ]


def derive(events: Sequence[ConsentEvent], validity: Duration | None) -> Derived | None:
    folded = fold((fact_of(e) for e in events), validity=validity)
    if folded is None:
        return None
    first = min(events, key=lambda e: sort_key(fact_of(e)))
    return Derived(subject_of(first), first.record_id, folded, events)


def _write(session: Session, derived: Derived, stored: ConsentState | None) -> ConsentState:
    for event, record_id, reason in derived.ledger_fixes():
        event.record_id, event.ignored_reason = record_id, reason
    folded = derived.folded
    profile_id, identity_id, purpose = derived.subject
    if stored is None:
        stored = ConsentState(
            record_id=derived.record_id,
            profile_id=profile_id,
            identity_id=identity_id,
            purpose=purpose,
            status=folded.status,
            event_id=folded.event_id,
            occurred_at=folded.occurred_at,
        )
        session.add(stored)
    stored.record_id = derived.record_id
    stored.status = folded.status
    stored.event_id = folded.event_id
    stored.occurred_at = folded.occurred_at
    stored.expires_at = folded.expires_at
    stored.updated_at = utcnow()
    return stored


def refold_subject(session: Session, subject: Subject) -> ConsentState | None:
    """Bring one subject's state (and its events' record_id / ignored_reason) in line with its ledger."""
    session.flush()
    derived = derive(subject_events(session, subject), validity_of(purposes_of(session), subject[2]))
    stored = _stored_state(session, subject)
    if derived is None:
        if stored is not None:
            session.delete(stored)
        return None
    state = _write(session, derived, stored)
    session.flush()
    return state


def _by_subject(events: Iterable[ConsentEvent]) -> dict[Subject, list[ConsentEvent]]:
    grouped: dict[Subject, list[ConsentEvent]] = {}
    for event in events:
        grouped.setdefault(subject_of(event), []).append(event)
    return grouped


def rebuild_states(session: Session, profile_id: uuid.UUID) -> None:
    """Derive the profile's consent state again from its ledger (after a merge, an unmerge or for audit)."""
    session.execute(delete(ConsentState).where(col(ConsentState.profile_id) == profile_id))
    session.flush()
    purposes = purposes_of(session)
    events = session.scalars(select(ConsentEvent).where(ConsentEvent.profile_id == profile_id))
    for subject_events_ in _by_subject(events).values():
        derived = derive(subject_events_, validity_of(purposes, subject_events_[0].purpose))
        if derived is not None:
            _write(session, derived, None)
    session.flush()


def states_of(session: Session, profile_id: uuid.UUID) -> list[ConsentState]:
    return list(
        session.scalars(
            select(ConsentState)
            .where(ConsentState.profile_id == profile_id)
            .order_by(col(ConsentState.purpose), col(ConsentState.identity_id))
        )
    )


@dataclass(frozen=True)
class StateAt:
    """A subject's state as a reader sees it at one moment (`expired` derived)."""

    subject: Subject
    record_id: uuid.UUID
    status: str  # effective at `at`
    folded_status: str
    event: ConsentEvent
    expires_at: dt.datetime | None


def states_as_of(session: Session, profile_id: uuid.UUID, at: dt.datetime) -> list[StateAt]:
    """Each subject's state folded from the events that had occurred by `at`, read at `at`."""
    purposes = purposes_of(session)
    events = list(session.scalars(select(ConsentEvent).where(ConsentEvent.profile_id == profile_id)))
    by_id = {e.id: e for e in events}
    out: list[StateAt] = []
    for subject, group in _by_subject(events).items():
        folded = fold_as_of((fact_of(e) for e in group), at, validity=validity_of(purposes, subject[2]))
        if folded is None:
            continue
        first = min(group, key=lambda e: sort_key(fact_of(e)))
        status = effective_status(folded.status, folded.expires_at, at)
        out.append(StateAt(subject, first.record_id, status, folded.status, by_id[folded.event_id], folded.expires_at))
    return sorted(out, key=lambda s: (s.subject[2], str(s.subject[1])))


@dataclass
class RebuildReport:
    profiles: int = 0
    subjects: int = 0
    # (profile_id, identity_id, purpose, stored status or None, rebuilt status or None)
    differences: list[tuple[str, str | None, str, str | None, str | None]] = field(default_factory=list)
    ledger_fixes: int = 0


def _same(stored: ConsentState, derived: Derived) -> bool:
    f = derived.folded
    return (stored.status, stored.event_id, stored.occurred_at, stored.expires_at, stored.record_id) == (
        f.status,
        f.event_id,
        f.occurred_at,
        f.expires_at,
        derived.record_id,
    )


def rebuild_all_states(session: Session, *, dry_run: bool = False) -> RebuildReport:
    """Re-derive every consent_state row from the ledger; report (and unless `dry_run`, repair) differences."""
    report = RebuildReport()
    purposes = purposes_of(session)
    grouped = _by_subject(session.scalars(select(ConsentEvent)))
    stored = {(s.profile_id, s.identity_id, s.purpose): s for s in session.scalars(select(ConsentState))}
    report.profiles = len({s[0] for s in grouped})
    report.subjects = len(grouped)
    for subject in sorted(set(grouped) | set(stored), key=lambda s: (str(s[0]), str(s[1]), s[2])):
        events = grouped.get(subject, [])
        derived = derive(events, validity_of(purposes, subject[2])) if events else None
        row = stored.get(subject)
        fixes = derived.ledger_fixes() if derived else []
        report.ledger_fixes += len(fixes)
        if row is not None and derived is not None and _same(row, derived) and not fixes:
            continue
        if not (row is not None and derived is not None and _same(row, derived)):
            report.differences.append(
                (
                    str(subject[0]),
                    str(subject[1]) if subject[1] else None,
                    subject[2],
                    row.status if row else None,
                    derived.folded.status if derived else None,
                )
            )
        if dry_run:
            continue
        if derived is None:
            if row is not None:
                session.delete(row)
        else:
            _write(session, derived, row)
    session.flush()
    return report
