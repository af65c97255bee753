"""Retention sweeps: which rows the rules of policies/retention.yaml make due, and acting on them.

`preview` and `run` share one scan (`scan`), so a preview lists exactly what a run at the same `now`
processes. The scan walks the rules in run order (profile rules first, then row rules, each in file
order), in keyset batches of `BATCH` candidate rows, and screens each batch against the exemptions.
Two rules never handle the same row in one run: a row (or a person) goes to the first rule that selects
it, and the rows of a person erased earlier in the run are skipped, which is what the run itself finds
once that erasure is done.

Clocks, per table (the policy loader accepts exactly these):
- profile: `last_activity` (last_activity_at, else created_at), `created`, `relationship_ended` (the
  latest event of `event_type`), `consent_ended` (see `_consent_ended`).
- source_record: `received` (last receipt), `created` (first receipt). event: `occurred`, `created`
  (recorded). quarantine: `received`, `created` (both its receipt). consent_event: `occurred`, `created`
  (recorded), `consent_ended` (the consent it belongs to ended). privacy_request: `completed`, `created`.

Never touched, whatever a rule says: audit_log and suppression (the loader refuses them too), the ledger
event a live consent state rests on, privacy requests that are not completed, erased or merged profiles.
"""

import datetime as dt
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, and_, case, delete, exists, func, or_, update
from sqlalchemy.orm import Session
from sqlmodel import col, select

from cdp.audit.log import Actor, append
from cdp.consent.models import ConsentEvent, ConsentState
from cdp.crypto.envelope import vault
from cdp.db import compliance_session
from cdp.identity.models import MergeVeto
from cdp.ingest.models import Quarantine
from cdp.policies import POLICIES_INFO_KEY, Policies, Purpose, RetentionPolicy, RetentionRule
from cdp.privacy.erasure import erase_profile
from cdp.privacy.models import PrivacyRequest
from cdp.profiles.models import Event, Profile, SourceRecord
from cdp.profiles.store import MINIMISED
from cdp.retention.holds import held_profile_ids

BATCH = 500
LIVE_PROFILE = ("active", "restricted")
# A privacy request in one of these states (or with completed_at set) is no longer open.
CLOSED_REQUEST = ("completed", "rejected", "cancelled", "withdrawn")
# Rows that belong to one person: skipped once that person is erased earlier in the same run.
_PERSONAL_ROWS = ("source_record", "event", "consent_event")


@dataclass(frozen=True)
class Due:
    """One row a rule makes due. `step` is the rule's place in the run order (for paging a preview)."""

    rule_id: str
    table: str
    row_id: uuid.UUID
    profile_id: uuid.UUID | None
    trigger_at: dt.datetime
    due_since: dt.datetime
    action: str
    step: int


@dataclass
class RuleCount:
    rule_id: str
    table: str
    action: str
    rows: int = 0
    exempt: Counter[str] = field(default_factory=Counter)


@dataclass
class RunReport:
    at: dt.datetime
    dry_run: bool
    rules: list[RuleCount]

    @property
    def total(self) -> int:
        return sum(r.rows for r in self.rules)

    @property
    def exempt(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for r in self.rules:
            total.update(r.exempt)
        return total


@dataclass
class Batch:
    rule: RetentionRule
    step: int
    due: list[Due]
    exempt: Counter[str]


@dataclass(frozen=True)
class _Row:
    row_id: uuid.UUID
    profile_ids: tuple[uuid.UUID, ...]
    trigger_at: dt.datetime


@dataclass
class _Scan:
    session: Session
    policy: RetentionPolicy
    purposes: dict[str, Purpose]
    now: dt.datetime
    open_requests: set[uuid.UUID]
    claimed_profiles: set[uuid.UUID] = field(default_factory=set)
    claimed_rows: dict[str, set[uuid.UUID]] = field(default_factory=dict)


def run_order(policy: RetentionPolicy) -> list[RetentionRule]:
    """Profile rules first: an erasure then removes the person's rows before any row rule looks at them,
    and a row rule can never change what a profile rule's clock reads."""
    return [r for r in policy.rules if r.target == "profile"] + [r for r in policy.rules if r.target != "profile"]


def _purposes(session: Session) -> dict[str, Purpose]:
    policies = session.info.get(POLICIES_INFO_KEY)
    return policies.purposes if isinstance(policies, Policies) else {}


def _open_request_profiles(session: Session) -> set[uuid.UUID]:
    rows = compliance_session(session).scalars(
        select(PrivacyRequest.profile_ids).where(
            col(PrivacyRequest.completed_at).is_(None), col(PrivacyRequest.status).not_in(CLOSED_REQUEST)
        )
    )
    found: set[uuid.UUID] = set()
    for ids in rows:
        for raw in ids or []:
            try:
                found.add(uuid.UUID(str(raw)))
            except ValueError:
                continue
    return found


def _values(rule: RetentionRule, key: str) -> tuple[str, ...] | None:
    value = rule.where.get(key)
    return value if isinstance(value, tuple) else None


def _live_consent(profile_id: Any, now: dt.datetime) -> ColumnElement[bool]:
    return exists().where(
        col(ConsentState.profile_id) == profile_id,
        col(ConsentState.status) == "granted",
        or_(col(ConsentState.expires_at).is_(None), col(ConsentState.expires_at) > now),
    )


def _ended_at() -> Any:
    """When a consent state stopped being a basis: its expiry if it was a grant, else its own event."""
    return case(
        (col(ConsentState.status) == "granted", col(ConsentState.expires_at)), else_=col(ConsentState.occurred_at)
    )


def _statutory_stages(policy: RetentionPolicy) -> set[str]:
    stages: set[str] = set()
    for rule in policy.rules:
        if rule.target == "profile" and rule.statutory:
            stages.update(_values(rule, "lifecycle_stage") or ())
    return stages


def _profile_rows(scan: _Scan, rule: RetentionRule, cutoff: dt.datetime, after: uuid.UUID | None) -> list[_Row]:
    now = scan.now
    conditions: list[Any] = [col(Profile.status).in_(LIVE_PROFILE), col(Profile.merged_into).is_(None)]
    if rule.trigger == "last_activity":
        clock: Any = func.coalesce(col(Profile.last_activity_at), col(Profile.created_at))
        query = select(Profile.id, clock)
    elif rule.trigger == "created":
        clock = col(Profile.created_at)
        query = select(Profile.id, clock)
    elif rule.trigger == "relationship_ended":
        ended = (
            select(col(Event.profile_id).label("profile_id"), func.max(col(Event.occurred_at)).label("at"))
            .where(col(Event.type) == rule.event_type)
            .group_by(col(Event.profile_id))
            .subquery()
        )
        clock = ended.c.at
        query = select(Profile.id, clock).join(ended, ended.c.profile_id == col(Profile.id))
    elif rule.trigger == "consent_ended":
        ended = _consent_ended(scan)
        if ended is None:
            return []
        clock = ended.c.at
        query = select(Profile.id, clock).join(ended, ended.c.profile_id == col(Profile.id))
        conditions.append(~_live_consent(col(Profile.id), now))
        statutory = _statutory_stages(scan.policy)
        if statutory:
            conditions.append(
                or_(col(Profile.lifecycle_stage).is_(None), col(Profile.lifecycle_stage).not_in(statutory))
            )
    else:  # pragma: no cover - the policy loader refuses any other trigger for profiles
        raise ValueError(f"trigger {rule.trigger!r} does not apply to profiles")
    stages = _values(rule, "lifecycle_stage")
    if stages is not None:
        conditions.append(col(Profile.lifecycle_stage).in_(stages))
    sources = _values(rule, "source")
    if sources is not None:
        conditions.append(
            exists().where(col(SourceRecord.profile_id) == col(Profile.id), col(SourceRecord.source).in_(sources))
        )
    unconsented = rule.where.get("unconsented")
    if unconsented is True:
        conditions.append(~_live_consent(col(Profile.id), now))
    elif unconsented is False:
        conditions.append(_live_consent(col(Profile.id), now))
    if after is not None:
        conditions.append(col(Profile.id) > after)
    query = query.where(clock < cutoff, *conditions).order_by(col(Profile.id)).limit(BATCH)
    return [_Row(pid, (pid,), at) for pid, at in scan.session.execute(query)]


def _consent_ended(scan: _Scan) -> Any:
    """Profiles whose consent-basis purposes have all ended, with the latest end.

    Kept simple on purpose: a profile qualifies when it has a consent state for a purpose whose lawful
    basis is consent, and no live grant for any purpose (checked by the caller). A profile whose lifecycle
    stage a statutory rule covers (customers under a contract) is held on that other basis instead.
    Expiry is derived here (expires_at before now), not read from a status.
    """
    consent_purposes = sorted(p.id for p in scan.purposes.values() if p.lawful_basis == "consent")
    if not consent_purposes:
        return None
    return (
        select(col(ConsentState.profile_id).label("profile_id"), func.max(_ended_at()).label("at"))
        .where(col(ConsentState.purpose).in_(consent_purposes))
        .group_by(col(ConsentState.profile_id))
        .subquery()
    )


def _owned_rows(scan: _Scan, rule: RetentionRule, cutoff: dt.datetime, after: uuid.UUID | None) -> list[_Row]:
    """Rows of one person (source records, events, consent events)."""
    now = scan.now
    model: Any
    conditions: list[Any] = []
    join: tuple[Any, Any] | None = None
    if rule.target == "source_record":
        model = SourceRecord
        clock: Any = col(SourceRecord.received_at) if rule.trigger == "received" else col(SourceRecord.created_at)
        if rule.action == "minimise":
            conditions.append(func.length(col(SourceRecord.payload)) > 0)
        if (sources := _values(rule, "source")) is not None:
            conditions.append(col(SourceRecord.source).in_(sources))
    elif rule.target == "event":
        model = Event
        clock = col(Event.occurred_at) if rule.trigger == "occurred" else col(Event.recorded_at)
        if (types := _values(rule, "type")) is not None:
            conditions.append(col(Event.type).in_(types))
        if (sources := _values(rule, "source")) is not None:
            conditions.append(col(Event.source).in_(sources))
    else:
        model = ConsentEvent
        if rule.trigger == "consent_ended":
            # Every event of a consent (profile, contact point, purpose) whose state has ended.
            clock = _ended_at()
            join = (
                ConsentState,
                and_(
                    col(ConsentState.profile_id) == col(ConsentEvent.profile_id),
                    col(ConsentState.identity_id).is_not_distinct_from(col(ConsentEvent.identity_id)),
                    col(ConsentState.purpose) == col(ConsentEvent.purpose),
                ),
            )
            conditions.append(
                ~and_(
                    col(ConsentState.status) == "granted",
                    or_(col(ConsentState.expires_at).is_(None), col(ConsentState.expires_at) > now),
                )
            )
        else:
            # The event a consent state rests on is its proof: it stays while the state stands.
            clock = col(ConsentEvent.occurred_at) if rule.trigger == "occurred" else col(ConsentEvent.recorded_at)
            conditions.append(~exists().where(col(ConsentState.event_id) == col(ConsentEvent.id)))
        if (purposes := _values(rule, "purpose")) is not None:
            conditions.append(col(ConsentEvent.purpose).in_(purposes))
    query = select(model.id, model.profile_id, clock)
    if join is not None:
        query = query.join(*join)
    if after is not None:
        conditions.append(model.id > after)
    query = query.where(clock < cutoff, *conditions).order_by(model.id).limit(BATCH)
    return [_Row(rid, (pid,), at) for rid, pid, at in scan.session.execute(query)]


def _quarantine_rows(scan: _Scan, rule: RetentionRule, cutoff: dt.datetime, after: uuid.UUID | None) -> list[_Row]:
    conditions: list[Any] = [col(Quarantine.received_at) < cutoff]
    if (sources := _values(rule, "source")) is not None:
        conditions.append(col(Quarantine.source).in_(sources))
    if after is not None:
        conditions.append(col(Quarantine.id) > after)
    query = select(Quarantine.id, Quarantine.received_at).where(*conditions).order_by(col(Quarantine.id)).limit(BATCH)
    return [_Row(rid, (), at) for rid, at in scan.session.execute(query)]


def _request_rows(scan: _Scan, rule: RetentionRule, cutoff: dt.datetime, after: uuid.UUID | None) -> list[_Row]:
    clock: Any = col(PrivacyRequest.completed_at) if rule.trigger == "completed" else col(PrivacyRequest.received_at)
    # Only completed requests are ever swept: an open request is a live legal obligation.
    conditions: list[Any] = [clock < cutoff, col(PrivacyRequest.completed_at).is_not(None)]
    if rule.action == "minimise":
        conditions.append(func.length(col(PrivacyRequest.subject_ref)) > 0)
    if (types := _values(rule, "type")) is not None:
        conditions.append(col(PrivacyRequest.type).in_(types))
    if after is not None:
        conditions.append(col(PrivacyRequest.id) > after)
    query = (
        select(PrivacyRequest.id, PrivacyRequest.profile_ids, clock)
        .where(*conditions)
        .order_by(col(PrivacyRequest.id))
        .limit(BATCH)
    )
    out = []
    for rid, ids, at in compliance_session(scan.session).execute(query):
        profile_ids = []
        for raw in ids or []:
            try:
                profile_ids.append(uuid.UUID(str(raw)))
            except ValueError:
                continue
        out.append(_Row(rid, tuple(profile_ids), at))
    return out


def _candidates(scan: _Scan, rule: RetentionRule, after: uuid.UUID | None) -> list[_Row]:
    cutoff = rule.cutoff(scan.now)
    if rule.target == "profile":
        return _profile_rows(scan, rule, cutoff, after)
    if rule.target in _PERSONAL_ROWS:
        return _owned_rows(scan, rule, cutoff, after)
    if rule.target == "quarantine":
        return _quarantine_rows(scan, rule, cutoff, after)
    return _request_rows(scan, rule, cutoff, after)


def _exempt_sets(scan: _Scan, rows: Sequence[_Row]) -> dict[str, set[uuid.UUID]]:
    ids = {p for r in rows for p in r.profile_ids}
    found: dict[str, set[uuid.UUID]] = {}
    if not ids:
        return found
    respected = scan.policy.exemptions
    if "legal_hold" in respected:
        found["legal_hold"] = held_profile_ids(scan.session, ids)
    if "restriction" in respected:
        found["restriction"] = set(
            scan.session.scalars(select(Profile.id).where(col(Profile.id).in_(ids), Profile.status == "restricted"))
        )
    if "open_privacy_request" in respected:
        found["open_privacy_request"] = ids & scan.open_requests
    return found


def _screen(scan: _Scan, step: int, rule: RetentionRule, rows: Sequence[_Row]) -> Batch:
    exempt_sets = _exempt_sets(scan, rows)
    claimed = scan.claimed_rows.get(rule.target)
    due: list[Due] = []
    exempt: Counter[str] = Counter()
    for row in rows:
        if claimed is not None and row.row_id in claimed:
            continue  # an earlier rule of this run handles it
        if rule.target in _PERSONAL_ROWS and scan.claimed_profiles.intersection(row.profile_ids):
            continue  # its person is erased earlier in this run, and the row with them
        reason = next((name for name, ids in exempt_sets.items() if ids.intersection(row.profile_ids)), None)
        if reason is not None:
            exempt[reason] += 1
            continue
        due.append(
            Due(
                rule_id=rule.id,
                table=rule.target,
                row_id=row.row_id,
                profile_id=row.profile_ids[0] if len(row.profile_ids) == 1 else None,
                trigger_at=row.trigger_at,
                due_since=rule.keep_for.after(row.trigger_at),
                action=rule.action,
                step=step,
            )
        )
        if claimed is not None:
            claimed.add(row.row_id)
        if rule.target == "profile":
            scan.claimed_profiles.add(row.row_id)
    return Batch(rule, step, due, exempt)


def scan(session: Session, policy: RetentionPolicy, *, now: dt.datetime) -> Iterator[Batch]:
    """Due rows, rule by rule in run order, one screened batch at a time.

    Lazy on purpose: `run` applies each batch before the next candidate query, so the keyset continues
    past rows that a batch deleted or changed.
    """
    if now.tzinfo is None:
        raise ValueError("`now` must be an aware UTC datetime")
    state = _Scan(session, policy, _purposes(session), now, _open_request_profiles(session))
    order = run_order(policy)
    for i, rule in enumerate(order):
        if any(later.target == rule.target for later in order[i + 1 :]) and rule.target not in state.claimed_rows:
            state.claimed_rows[rule.target] = set()
    for step, rule in enumerate(order):
        after: uuid.UUID | None = None
        while True:
            rows = _candidates(state, rule, after)
            if not rows:
                break
            after = rows[-1].row_id
            yield _screen(state, step, rule, rows)
            if len(rows) < BATCH:
                break


def preview(
    session: Session,
    policy: RetentionPolicy,
    *,
    now: dt.datetime,
    after: tuple[int, uuid.UUID] | None = None,
    limit: int | None = None,
) -> list[Due]:
    """What `run(now=now)` would process, in run order. `after` (step, row id) and `limit` page through it."""
    out: list[Due] = []
    for batch in scan(session, policy, now=now):
        for due in batch.due:
            if after is not None and (due.step, due.row_id) <= after:
                continue
            out.append(due)
            if limit is not None and len(out) >= limit:
                return out
    return out


def _apply(session: Session, rule: RetentionRule, due: Sequence[Due], actor: Actor) -> None:
    ids = [d.row_id for d in due]
    if not ids:
        return
    if rule.target == "profile":
        for profile_id in ids:
            erase_profile(
                session,
                profile_id,
                actor=actor,
                reason=f"retention:{rule.id}",
                keep_counts=rule.action == "anonymize",
            )
            profile = session.get(Profile, profile_id)
            if profile is not None:
                session.expunge(profile)  # a long run must not keep every tombstone in memory
    elif rule.target == "event":
        session.execute(delete(Event).where(col(Event.id).in_(ids)))
    elif rule.target == "source_record":
        if rule.action == "minimise":
            session.execute(update(SourceRecord).where(col(SourceRecord.id).in_(ids)).values(payload=MINIMISED))
        else:
            for model in (Event, ConsentEvent):
                session.execute(update(model).where(col(model.source_record_id).in_(ids)).values(source_record_id=None))
            session.execute(
                delete(MergeVeto).where(or_(col(MergeVeto.record_a).in_(ids), col(MergeVeto.record_b).in_(ids)))
            )
            session.execute(delete(SourceRecord).where(col(SourceRecord.id).in_(ids)))
    elif rule.target == "quarantine":
        session.execute(delete(Quarantine).where(col(Quarantine.id).in_(ids)))
        v = vault(session)
        for row_id in ids:
            v.destroy_key(row_id)  # each quarantined row has its own data key
    elif rule.target == "consent_event":
        session.execute(delete(ConsentState).where(col(ConsentState.event_id).in_(ids)))
        session.execute(delete(ConsentEvent).where(col(ConsentEvent.id).in_(ids)))
    else:
        compliance = compliance_session(session)
        if rule.action == "minimise":
            compliance.execute(
                update(PrivacyRequest)
                .where(col(PrivacyRequest.id).in_(ids))
                .values(subject_ref=MINIMISED, subject_index=None)
            )
        else:
            compliance.execute(delete(PrivacyRequest).where(col(PrivacyRequest.id).in_(ids)))
        compliance.flush()
    session.flush()


def run(
    session: Session,
    policy: RetentionPolicy,
    *,
    now: dt.datetime,
    actor: Actor,
    dry_run: bool = False,
    on_batch: Callable[[Batch], None] | None = None,
) -> RunReport:
    """Apply every due action; a second run at the same `now` finds nothing. Writes one audit entry
    with the counts (erasures add their own per-profile entries). A dry run changes and writes nothing.

    `on_batch` is called after each batch is applied (progress output, or a caller's checkpoint).
    """
    order = run_order(policy)
    report = RunReport(at=now, dry_run=dry_run, rules=[RuleCount(r.id, r.target, r.action) for r in order])
    for batch in scan(session, policy, now=now):
        if not dry_run:
            _apply(session, batch.rule, batch.due, actor)
        counts = report.rules[batch.step]
        counts.rows += len(batch.due)
        counts.exempt.update(batch.exempt)
        if on_batch is not None:
            on_batch(batch)
    if not dry_run:
        details: dict[str, Any] = {"at": now.isoformat(), "rows": report.total, "rules": [r.id for r in order]}
        for counts in report.rules:
            details[f"{counts.rule_id}.rows"] = counts.rows
            details[f"{counts.rule_id}.exempt"] = sum(counts.exempt.values())
        for name, n in sorted(report.exempt.items()):
            details[f"exempt.{name}"] = n
        append(session, actor=actor, action="retention.run", resource_type="retention", details=details)
    return report
