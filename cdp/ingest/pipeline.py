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
from cdp.consent.ledger import record_consent
from cdp.crypto.envelope import vault
from cdp.db import utcnow
from cdp.identity.normalize import is_role_email
from cdp.ingest.quarantine import quarantine_row
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


def _update_golden(golden: dict[str, Any], provenance: dict[str, Any], row: ValidRow) -> bool:
    """Most recent observation wins per field; provenance says which source and when."""
    record, changed = row.record, False
    observed = record.observed_at.isoformat()
    values = {f: getattr(record, f) for f in GOLDEN_FIELDS} | {"email": row.email, "phone": row.phone}
    if values["country"]:
        values["country"] = values["country"].upper()
    for name, value in values.items():
        if value is None:
            continue
        prov = provenance.get(name)
        if prov is None or observed >= prov["observed_at"]:
            if golden.get(name) != value:
                golden[name] = value
                changed = True
            provenance[name] = {"source": record.source, "observed_at": observed, "rule": "most_recent"}
    for key, value in record.attributes.items():
        if golden.setdefault("attributes", {}).get(key) != value:
            golden["attributes"][key] = value
            changed = True
    return changed


def _match_profile(session: Session, row: ValidRow) -> Profile | None:
    v = vault(session)
    record = row.record
    candidates: list[tuple[str, str]] = [(store.external_kind(record.source), record.external_id)]
    if row.email and not is_role_email(row.email):  # a role address is evidence, never enough to merge
        candidates.append((EMAIL, row.email))
    for kind, value in candidates:
        ids = store.find_profile_ids_by_identity(session, kind, v.blind_index(kind, value))
        if ids:
            return session.get(Profile, ids[0])
    return None


def _live(session: Session, profile_id: uuid.UUID) -> Profile:
    profile = session.get(Profile, profile_id)
    while profile is not None and profile.merged_into is not None:
        profile = session.get(Profile, profile.merged_into)
    if profile is None:
        raise RuntimeError("source record points at a missing profile")
    return profile


def _store_identities(session: Session, profile: Profile, row: ValidRow) -> dict[str, Identity]:
    record, seen = row.record, row.record.observed_at
    out: dict[str, Identity] = {}
    out["external"] = store.upsert_identity(
        session,
        profile,
        kind=store.external_kind(record.source),
        normalized=record.external_id,
        source=record.source,
        trust="high",
        seen_at=seen,
    )
    if row.email:
        out[EMAIL] = store.upsert_identity(
            session,
            profile,
            kind=EMAIL,
            normalized=row.email,
            source=record.source,
            trust="low" if is_role_email(row.email) else "high",
            seen_at=seen,
        )
    if row.phone:
        out[PHONE] = store.upsert_identity(
            session, profile, kind=PHONE, normalized=row.phone, source=record.source, trust="high", seen_at=seen
        )
    return out


def _store_history(session: Session, profile: Profile, row: ValidRow, identities: dict[str, Identity]) -> None:
    record = row.record
    for event in record.events:
        store.add_event(
            session,
            profile,
            type=event.type,
            occurred_at=event.occurred_at,
            source=record.source,
            dedup_id=event.external_id
            or json.dumps([event.type, event.occurred_at.isoformat(), event.properties], sort_keys=True),
            properties=event.properties,
        )
    for consent in record.consents:
        identity = identities.get(consent.channel)
        record_consent(
            session,
            profile_id=profile.id,
            identity_id=identity.id if identity else None,
            purpose=consent.purpose,
            status=consent.status,
            occurred_at=consent.occurred_at,
            source=record.source,
            method=consent.method,
            lawful_basis=consent.lawful_basis,
            notice_id=consent.notice_id,
            notice_version=consent.notice_version,
            expires_at=consent.expires_at,
            jurisdiction=consent.jurisdiction,
            proof=consent.proof.model_dump(exclude_none=True) if consent.proof else None,
            dedup_id=consent.external_id
            or json.dumps(
                [identity.blind_index if identity else None, consent.model_dump(mode="json")], sort_keys=True
            ),
        )


def _ingest_valid(session: Session, row: ValidRow, index: int, actor: Actor, now: dt.datetime) -> RecordResult:
    record = row.record
    identifiers = [(store.external_kind(record.source), record.external_id)]
    identifiers += [(EMAIL, row.email)] if row.email else []
    identifiers += [(PHONE, row.phone)] if row.phone else []
    hits = find_suppressions(session, identifiers)
    if any(h.match_mode == "drop_record" and h.scope == "all_processing" for h in hits):
        append(session, actor=actor, action="ingest.suppressed", resource_type="source", resource_id=record.source)
        return RecordResult(index, "suppressed")
    stripped = {h.kind for h in hits if h.match_mode == "strip_identifier"}
    if stripped:
        row = ValidRow(record, None if EMAIL in stripped else row.email, None if PHONE in stripped else row.phone)

    checksum = _checksum(session, record)
    existing = store.find_source_record(session, record.source, record.external_id)
    if existing is not None and existing.checksum == checksum:
        return RecordResult(index, "unchanged", profile_id=_live(session, existing.profile_id).id)

    outcome: Outcome
    if existing is not None:
        profile, outcome = _live(session, existing.profile_id), "updated"
    else:
        matched = _match_profile(session, row)
        if matched is not None:
            profile, outcome = matched, "merged"
        else:
            golden: dict[str, Any] = {}
            provenance: dict[str, Any] = {}
            _update_golden(golden, provenance, row)
            profile = store.create_profile(
                session, golden=golden, provenance=provenance, lifecycle_stage=record.lifecycle_stage, at=now
            )
            outcome = "created"
    if outcome != "created":
        golden = store.read_golden(session, profile)
        provenance = dict(profile.field_provenance)
        if _update_golden(golden, provenance, row):
            store.write_golden(session, profile, golden, at=now)
        profile.field_provenance = provenance
        if record.lifecycle_stage:
            profile.lifecycle_stage = record.lifecycle_stage

    identities = _store_identities(session, profile, row)
    store.save_source_record(
        session,
        existing,
        profile=profile,
        source=record.source,
        external_id=record.external_id,
        payload=record.model_dump(mode="json"),
        checksum=checksum,
        source_updated_at=record.observed_at,
    )
    store.add_event(
        session,
        profile,
        type="source_record_updated" if existing else "source_record_created",
        occurred_at=record.observed_at,
        source=record.source,
        dedup_id=None,
        properties={"source": record.source},
    )
    _store_history(session, profile, row, identities)
    session.flush()
    append(
        session,
        actor=actor,
        action=f"profile.{'created' if outcome == 'created' else 'updated'}",
        resource_type="profile",
        resource_id=profile.id,
        details={"source": record.source, "outcome": outcome},
    )
    return RecordResult(index, outcome, profile_id=profile.id)


def ingest_batch(
    session: Session, source: str, rows: Sequence[object], *, actor: Actor, now: dt.datetime | None = None
) -> BatchResult:
    started = time.perf_counter()
    now = now or utcnow()
    result = BatchResult(source=source)
    for index, row in enumerate(rows):
        checked = validate_row(source, row)
        with session.begin_nested():
            if isinstance(checked, list):
                entry = quarantine_row(session, source=source, row=row, reasons=checked)
                append(
                    session,
                    actor=actor,
                    action="quarantine.created",
                    resource_type="quarantine",
                    resource_id=entry.id,
                    details={"source": source, "reasons": [r["type"] for r in checked]},
                )
                result.results.append(RecordResult(index, "quarantined", quarantine_id=entry.id, reasons=checked))
            else:
                result.results.append(_ingest_valid(session, checked, index, actor, now))
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
