"""`ingest_batch`: the one way into the store. validate -> suppression -> resolve -> store, per record.

Each record runs in its own SAVEPOINT, so one bad record is quarantined without losing the batch; the
caller owns the transaction and commits once.
"""

import datetime as dt
import json
import logging
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy.orm import Session

from cdp.audit.log import Actor, append
from cdp.consent.catalog import purposes_of
from cdp.crypto.envelope import vault
from cdp.db import utcnow
from cdp.identity.batch import Incoming, plan_batch, stored_source_records
from cdp.identity.merge import merge_profiles, record_identities, refresh_golden
from cdp.identity.resolve import (
    fields_from_golden,
    fields_from_values,
    lock_keys,
    profile_fields,
    record_lock_keys,
    replace_match_keys,
    resolve,
)
from cdp.identity.scoring import MatchFields
from cdp.identity.survivorship import Observation
from cdp.ingest.bulk import record_ingested_consent, write_plan
from cdp.ingest.quality import GateSettings, check_batch, gate_row
from cdp.ingest.quarantine import quarantine_row, raw_identifiers
from cdp.ingest.records import GOLDEN_FIELDS, ContactRecord
from cdp.ingest.validate import ValidRow, validate_row
from cdp.profiles import store
from cdp.profiles.models import Identity, Profile
from cdp.suppression.check import find_suppressions

log = logging.getLogger(__name__)

Outcome = Literal["created", "merged", "updated", "unchanged", "quarantined", "suppressed"]
OUTCOMES: tuple[Outcome, ...] = ("created", "merged", "updated", "unchanged", "quarantined", "suppressed")
EMAIL, PHONE = "email", "phone"


@dataclass(frozen=True)
class RecordResult:
    index: int
    outcome: Outcome
    profile_id: uuid.UUID | None = None
    quarantine_id: uuid.UUID | None = None
    reasons: list[dict[str, Any]] | None = None
    warnings: list[dict[str, Any]] | None = None


@dataclass
class BatchResult:
    source: str
    results: list[RecordResult] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        counted = Counter(r.outcome for r in self.results)
        return {o: counted.get(o, 0) for o in OUTCOMES}


def _checksum(session: Session, record: ContactRecord) -> str:
    # Keyed, so the checksum of a low-entropy record cannot be brute-forced back to its content.
    canonical = json.dumps(record.model_dump(mode="json", exclude={"observed_at"}), sort_keys=True)
    return vault(session).blind_index(f"checksum:{record.source}", canonical)


def record_fields(row: ValidRow) -> MatchFields:
    record = row.record
    return fields_from_values(
        emails=[row.email] if row.email else [],
        phones=[row.phone] if row.phone else [],
        first_name=record.first_name,
        last_name=record.last_name,
        company=record.company,
        city=record.city,
        country=record.country,
    )


def _live(session: Session, profile_id: uuid.UUID) -> Profile:
    profile = store.survivor_of(session, profile_id)
    if profile is None:
        raise RuntimeError("source record points at a missing profile")
    return profile


def _store_identities(session: Session, profile: Profile, row: ValidRow) -> dict[str, Identity]:
    record, seen = row.record, row.record.observed_at
    out: dict[str, Identity] = {}
    existing = {(i.kind, i.blind_index): i for i in store.identities_of(session, profile.id)}
    for kind, value, trust in record_identities(
        {"external_id": record.external_id, "email": row.email, "phone": row.phone, "country": record.country},
        record.source,
    ):
        out["external" if kind.startswith("external:") else kind] = store.upsert_identity(
            session,
            profile,
            kind=kind,
            normalized=value,
            source=record.source,
            trust=trust,
            seen_at=seen,
            existing=existing,
        )
    session.flush()
    return out


def _store_history(
    session: Session,
    profile: Profile,
    row: ValidRow,
    identities: dict[str, Identity],
    source_record_id: uuid.UUID,
    actor: Actor,
) -> int:
    """Events and consents of the record; returns how many were new (a repeated event id is not)."""
    record = row.record
    added = 0
    for event in record.events:
        added += (
            store.add_event(
                session,
                profile,
                type=event.type,
                occurred_at=event.occurred_at,
                source=record.source,
                dedup_id=event.dedup_id(),
                properties=event.properties,
                source_record_id=source_record_id,
            )
            is not None
        )
    for consent in record.consents:
        identity = identities.get(consent.channel)
        added += record_ingested_consent(
            session,
            consent,
            profile_id=profile.id,
            identity_id=identity.id if identity else None,
            source=record.source,
            actor=actor.id,
            dedup_id=consent.dedup_id(identity.blind_index if identity else None),
            source_record_id=source_record_id,
        )
    return added


def carries_contact_data(record: ContactRecord) -> bool:
    return (
        any(getattr(record, name) is not None for name in GOLDEN_FIELDS)
        or record.lifecycle_stage is not None
        or bool(record.attributes)
    )


UNKNOWN_CONTACT = {
    "field": "external_id",
    "type": "unknown_contact",
    "message": "consents without contact data, about a contact this source has not sent yet",
}


def _is_notice(record: ContactRecord) -> bool:
    """A record that only reports events or consents about a contact the source holds (no contact data)."""
    return not carries_contact_data(record)


def _stored_contact_points(session: Session, profile: Profile, payload: dict[str, Any]) -> dict[str, Identity]:
    """The email and phone identities of a source record's stored view: what a notice's consents cover."""
    if not payload:
        return {}
    v = vault(session)
    wanted = {
        (kind, v.blind_index(kind, value))
        for kind, value, _trust in record_identities(payload, str(payload.get("source", "")))
        if kind in (EMAIL, PHONE)
    }
    return {i.kind: i for i in store.identities_of(session, profile.id) if (i.kind, i.blind_index) in wanted}


def _ingest_valid(session: Session, checked: "_Checked", actor: Actor, now: dt.datetime) -> RecordResult:
    row, index = checked.row, checked.index
    record = row.record
    identifiers = [(store.external_kind(record.source), record.external_id)]
    identifiers += [(EMAIL, row.email)] if row.email else []
    identifiers += [(PHONE, row.phone)] if row.phone else []
    hits = find_suppressions(session, identifiers)
    if any(h.match_mode == "drop_record" and h.scope == "all_processing" for h in hits):
        append(session, actor=actor, action="ingest.suppressed", resource_type="source", resource_id=record.source)
        return RecordResult(index, "suppressed")
    stripped = {h.kind for h in hits if h.match_mode == "strip_identifier"}
    fields = checked.fields
    if stripped:
        # A suppressed shared identifier is dropped from the record itself, so it is never stored, even encrypted.
        record = record.model_copy(update=dict.fromkeys(stripped & {EMAIL, PHONE}))
        row = ValidRow(
            record, None if EMAIL in stripped else row.email, None if PHONE in stripped else row.phone, row.warnings
        )
        fields = record_fields(row)

    checksum = _checksum(session, record)
    existing = store.find_source_record(session, record.source, record.external_id)
    if existing is not None and existing.checksum == checksum:
        return RecordResult(index, "unchanged", profile_id=_live(session, existing.profile_id).id)

    if existing is not None and not carries_contact_data(record):
        # A notice about a known contact (a webhook event naming only its id, a deletion at the source): its
        # events and consents are added; the source's last full view of the contact is kept, not blanked.
        profile = _live(session, existing.profile_id)
        identities = _stored_contact_points(session, profile, store.source_payload(session, existing))
        # A consent covers a contact point; one whose channel the stored view lacks has nothing to cover.
        covered = [c for c in record.consents if c.channel == "any" or c.channel in identities]
        row = ValidRow(record.model_copy(update={"consents": covered}), row.email, row.phone, row.warnings)
        added = _store_history(session, profile, row, identities, existing.id, actor)
        return RecordResult(index, "updated" if added else "unchanged", profile_id=profile.id)

    outcome: Outcome
    evidence: dict[str, Any]
    if existing is not None:
        profile, outcome = _live(session, existing.profile_id), "updated"
        evidence = dict(existing.link_evidence)
    else:
        resolution = resolve(session, fields)
        evidence = {"method": "scored", **resolution.evidence()}
        if resolution.profile is not None:
            profile, outcome = resolution.profile, "merged"
            for other in resolution.merge_with:
                merge_profiles(
                    session,
                    profile,
                    other.profile,
                    kind="auto",
                    actor=actor,
                    weight=other.score.weight,
                    levels=other.score.levels,
                    reason="an incoming record matched both profiles",
                )
        else:
            profile = store.create_profile(session, golden={}, provenance={}, lifecycle_stage=None, at=utcnow())
            outcome = "created"
            evidence["method"] = "new"

    identities = _store_identities(session, profile, row)
    source_record = store.save_source_record(
        session,
        existing,
        profile=profile,
        source=record.source,
        external_id=record.external_id,
        payload=record.model_dump(mode="json"),
        checksum=checksum,
        source_updated_at=record.observed_at,
    )
    source_record.link_evidence = evidence
    store.add_event(
        session,
        profile,
        type="source_record_updated" if existing else "source_record_created",
        occurred_at=record.observed_at,
        source=record.source,
        dedup_id=None,
        properties={"source": record.source},
        source_record_id=source_record.id,
    )
    _store_history(session, profile, row, identities, source_record.id, actor)
    if outcome == "created":
        # A brand-new profile has exactly this record: no need to read it back to compute its golden record.
        observation = Observation(record.source, record.observed_at, record.model_dump(mode="json"))
        golden = refresh_golden(session, profile, at=now, observations=[observation])
        fields = fields_from_golden(
            golden, emails=[row.email] if row.email else [], phones=[row.phone] if row.phone else []
        )
        replace_match_keys(session, profile.id, fields, new=True)
    else:
        refresh_golden(session, profile, at=now)
        replace_match_keys(session, profile.id, profile_fields(session, profile))
    session.flush()
    append(
        session,
        actor=actor,
        action=f"profile.{'created' if outcome == 'created' else 'updated'}",
        resource_type="profile",
        resource_id=profile.id,
        details={"source": record.source, "outcome": outcome},
    )
    return RecordResult(index, outcome, profile_id=profile.id, warnings=list(row.warnings) or None)


def _suppressed_raw(session: Session, source: str, row: object) -> bool:
    hits = find_suppressions(session, sorted(raw_identifiers(source, row)))
    return any(h.match_mode == "drop_record" and h.scope == "all_processing" for h in hits)


def _suppression_relevant(session: Session, checked: "_Checked") -> bool:
    record, row = checked.row.record, checked.row
    identifiers = [(store.external_kind(record.source), record.external_id)]
    identifiers += [(EMAIL, row.email)] if row.email else []
    identifiers += [(PHONE, row.phone)] if row.phone else []
    return bool(find_suppressions(session, identifiers))


@dataclass(frozen=True)
class _Checked:
    index: int
    row: ValidRow
    fields: MatchFields


def ingest_batch(
    session: Session,
    source: str,
    rows: Sequence[object],
    *,
    actor: Actor,
    now: dt.datetime | None = None,
    gate: GateSettings | None = None,
) -> BatchResult:
    """`gate`: refuse the whole batch, storing nothing, when it fails the batch quality gate (syncs, imports)."""
    started = time.perf_counter()
    now = now or utcnow()
    result = BatchResult(source=source)
    purposes = purposes_of(session)
    checked_rows = [validate_row(source, row, purposes=purposes) for row in rows]
    if gate is not None:
        check_batch(
            [
                gate_row(
                    not isinstance(c, list),
                    r.get("external_id") if isinstance(r, dict) else None,
                    None if isinstance(c, list) else c.record.observed_at,
                    now,
                )
                for r, c in zip(rows, checked_rows, strict=True)
            ],
            gate,
        )
    valid = [_Checked(i, c, record_fields(c)) for i, c in enumerate(checked_rows) if not isinstance(c, list)]
    v = vault(session)
    lock_keys(
        session,
        [
            k
            for c in valid
            for k in record_lock_keys(v, c.fields, (store.external_kind(source), c.row.record.external_id))
        ],
    )
    outcomes: dict[int, RecordResult] = {}

    def quarantine(index: int, reasons: list[dict[str, Any]]) -> None:
        with session.begin_nested():
            entry = quarantine_row(session, source=source, row=rows[index], reasons=reasons)
            append(
                session,
                actor=actor,
                action="quarantine.created",
                resource_type="quarantine",
                resource_id=entry.id,
                details={"source": source, "reasons": [r["type"] for r in reasons]},
            )
        outcomes[index] = RecordResult(index, "quarantined", quarantine_id=entry.id, reasons=reasons)

    for index in range(len(rows)):
        checked = checked_rows[index]
        if isinstance(checked, list):
            if _suppressed_raw(session, source, rows[index]):
                # An erased person's malformed record is not kept either, not even encrypted in quarantine.
                append(session, actor=actor, action="ingest.suppressed", resource_type="source", resource_id=source)
                outcomes[index] = RecordResult(index, "suppressed")
                continue
            quarantine(index, checked)

    # New records (an external id not stored yet, first in this batch) are resolved together in memory and
    # written set-based; updates, repeats within the batch and suppression hits go record by record.
    external = {c.index: v.blind_index(store.external_kind(source), c.row.record.external_id) for c in valid}
    stored = stored_source_records(session, source, sorted(set(external.values())))
    fresh: list[_Checked] = []
    slow: list[_Checked] = []
    seen: set[str] = set()
    for c in valid:
        bidx = external[c.index]
        if bidx not in stored and bidx not in seen and _is_notice(c.row.record):
            # About a contact never stored (archived before the first sync, a webhook ahead of the pull): a
            # profile of a bare external id would serve no one. Its events are dropped; consents are kept aside.
            if c.row.record.consents and _suppressed_raw(session, source, rows[c.index]):
                append(session, actor=actor, action="ingest.suppressed", resource_type="source", resource_id=source)
                outcomes[c.index] = RecordResult(c.index, "suppressed")
            elif c.row.record.consents:
                quarantine(c.index, [UNKNOWN_CONTACT])
            else:
                outcomes[c.index] = RecordResult(c.index, "unchanged")
            continue
        if bidx in stored or bidx in seen or _suppression_relevant(session, c):
            slow.append(c)
        else:
            fresh.append(c)
        seen.add(bidx)
    if fresh:
        items = [
            Incoming(
                index=c.index,
                fields=c.fields,
                identifiers=record_identities(
                    {
                        "external_id": c.row.record.external_id,
                        "email": c.row.email,
                        "phone": c.row.phone,
                        "country": c.row.record.country,
                    },
                    source,
                ),
                observation=Observation(source, c.row.record.observed_at, c.row.record.model_dump(mode="json")),
            )
            for c in fresh
        ]
        plan = plan_batch(session, items, now=now)
        written = write_plan(
            session,
            plan,
            source=source,
            rows={c.index: c.row for c in fresh},
            checksums={c.index: _checksum(session, c.row.record) for c in fresh},
            actor=actor,
            now=now,
        )
        warnings = {c.index: list(c.row.warnings) or None for c in fresh}
        for w in written:
            outcome: Outcome = "created" if w.outcome == "created" else "merged"
            outcomes[w.index] = RecordResult(w.index, outcome, profile_id=w.profile_id, warnings=warnings[w.index])
    for c in slow:
        with session.begin_nested():
            outcomes[c.index] = _ingest_valid(session, c, actor, now)
    result.results = [outcomes[i] for i in sorted(outcomes)]
    log.info(
        "ingest.batch_done",
        extra={
            "source": source,
            "records": len(rows),
            **{f"n_{k}": v for k, v in result.counts.items()},
            "duration_ms": round((time.perf_counter() - started) * 1000),
        },
    )
    return result
