"""Write a resolved batch (`identity.batch.plan_batch`) with set-based statements.

Everything a record-at-a-time ingest writes is written here too (profile, data key, identities, source record,
timeline events, consent events, blocking keys, one audit entry per record), but with one executemany per
table instead of a flush per row. Stored profiles the batch joined together are merged last, through
`merge_profiles`, so those merges keep their evidence, timeline entry and audit entry.
"""

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, delete, insert, update
from sqlalchemy.orm import Session
from sqlmodel import col, select

from cdp.audit.log import Actor, Pending, append_many
from cdp.consent.ledger import record_consent
from cdp.crypto.envelope import vault
from cdp.errors import Conflict
from cdp.identity.batch import BatchPlan, Draft
from cdp.identity.merge import merge_profiles
from cdp.identity.models import MatchKey
from cdp.ingest.records import ConsentInput
from cdp.ingest.validate import ValidRow
from cdp.profiles import store
from cdp.profiles.models import Event, Identity, Profile, SourceRecord


@dataclass(frozen=True)
class Written:
    index: int
    outcome: str
    profile_id: uuid.UUID


def write_plan(
    session: Session,
    plan: BatchPlan,
    *,
    source: str,
    rows: Mapping[int, ValidRow],
    checksums: Mapping[int, str],
    actor: Actor,
    now: dt.datetime,
) -> list[Written]:
    v = vault(session)
    live = plan.live()
    new = [d for d in live if not d.stored]
    v.create_keys([d.id for d in new])

    identity_rows: list[dict[str, Any]] = []
    record_rows: list[dict[str, Any]] = []
    event_rows: list[dict[str, Any]] = []
    key_rows: list[dict[str, Any]] = []
    consents: list[tuple[Draft, ValidRow, uuid.UUID]] = []
    audit: list[Pending] = []
    written: list[Written] = []
    activity: dict[uuid.UUID, dt.datetime] = {}
    dedup_wanted: dict[str, dict[str, Any]] = {}

    moved: list[dict[str, Any]] = []
    for draft in live:
        for identity in draft.identities.values():
            if identity.stored_id is not None and identity.dirty:
                moved.append(
                    {"b_id": identity.stored_id, "first_seen": identity.first_seen, "last_seen": identity.last_seen}
                )
            if identity.stored_id is None:
                identity.stored_id = uuid.uuid4()
                identity.stored_on = draft.id
                identity_rows.append(
                    {
                        "id": identity.stored_id,
                        "profile_id": draft.id,
                        "kind": identity.kind,
                        "blind_index": identity.blind_index,
                        "value": v.encrypt(draft.id, identity.value.encode(), context=store.IDENTITY_VALUE),
                        "source": identity.source,
                        "trust": identity.trust,
                        "first_seen": identity.first_seen,
                        "last_seen": identity.last_seen,
                    }
                )
        key_rows += [
            {"id": uuid.uuid4(), "profile_id": draft.id, "kind": k, "key": key} for k, key in sorted(draft.keys or ())
        ]
        latest = now if not draft.stored else (draft.last_activity or now)
        for joined in sorted(draft.joined, key=lambda j: j.incoming.index):
            index = joined.incoming.index
            row = rows[index]
            record = row.record
            record_id = uuid.uuid4()
            record_rows.append(
                {
                    "id": record_id,
                    "source": source,
                    "external_id_index": v.blind_index(store.external_kind(source), record.external_id),
                    "profile_id": draft.id,
                    "payload": v.encrypt_json(draft.id, record.model_dump(mode="json"), context=store.SOURCE_PAYLOAD),
                    "checksum": checksums[index],
                    "source_updated_at": record.observed_at,
                    "received_at": now,
                    # First-receipt order is input order: rebuilds replay records in this order.
                    "created_at": now + dt.timedelta(microseconds=index),
                    "link_evidence": joined.evidence,
                }
            )
            event_rows.append(
                {
                    "id": uuid.uuid4(),
                    "profile_id": draft.id,
                    "type": "source_record_created",
                    "occurred_at": record.observed_at,
                    "recorded_at": now,
                    "source": source,
                    "dedup_key": None,
                    "source_record_id": record_id,
                    "properties": v.encrypt_json(draft.id, {"source": source}, context=store.EVENT_PROPERTIES),
                }
            )
            latest = max(latest, record.observed_at)
            for event in record.events:
                key = v.blind_index(f"event:{source}", event.dedup_id())
                if key in dedup_wanted:
                    continue
                dedup_wanted[key] = {
                    "id": uuid.uuid4(),
                    "profile_id": draft.id,
                    "type": event.type,
                    "occurred_at": event.occurred_at,
                    "recorded_at": now,
                    "source": source,
                    "dedup_key": key,
                    "source_record_id": record_id,
                    "properties": v.encrypt_json(draft.id, event.properties, context=store.EVENT_PROPERTIES)
                    if event.properties
                    else None,
                }
                latest = max(latest, event.occurred_at)
            if record.consents:
                consents.append((draft, row, record_id))
            audit.append(
                Pending(
                    actor=actor,
                    action="profile.created" if joined.outcome == "created" else "profile.updated",
                    resource_type="profile",
                    resource_id=draft.id,
                    details={"source": source, "outcome": joined.outcome},
                )
            )
            written.append(Written(index, joined.outcome, draft.id))
        activity[draft.id] = latest

    if new:
        session.execute(
            insert(Profile.__table__),  # type: ignore[attr-defined]
            [
                {
                    "id": d.id,
                    "status": "active",
                    "merged_into": None,
                    "lifecycle_stage": d.stage,
                    "golden": v.encrypt_json(d.id, d.golden, context=store.GOLDEN),
                    "field_provenance": d.provenance,
                    "created_at": d.order[0],
                    "updated_at": now,
                    "last_activity_at": activity[d.id],
                }
                for d in new
            ],
        )
    profiles = Profile.__table__  # type: ignore[attr-defined]
    stored_rows = [
        {
            "b_id": d.id,
            "golden": v.encrypt_json(d.id, d.golden, context=store.GOLDEN),
            "field_provenance": d.provenance,
            "lifecycle_stage": d.stage,
            "updated_at": now,
            "last_activity_at": activity[d.id],
        }
        for d in live
        if d.stored
    ]
    if stored_rows:
        session.execute(
            update(profiles)
            .where(profiles.c.id == bindparam("b_id"))
            .values({k: bindparam(k) for k in stored_rows[0] if k != "b_id"}),
            stored_rows,
        )
    stored_touched = [d.id for d in live if d.stored]
    if stored_touched:
        session.execute(delete(MatchKey).where(col(MatchKey.profile_id).in_(stored_touched)))
    session.flush()
    _insert(session, Identity, identity_rows)
    if moved:
        table = Identity.__table__  # type: ignore[attr-defined]
        session.execute(
            update(table)
            .where(table.c.id == bindparam("b_id"))
            .values(first_seen=bindparam("first_seen"), last_seen=bindparam("last_seen")),
            moved,
        )
    _insert(session, SourceRecord, record_rows)
    already = _stored_event_keys(session, source, list(dedup_wanted))
    _insert(session, Event, event_rows + [r for k, r in dedup_wanted.items() if k not in already])
    _insert(session, MatchKey, key_rows)
    for draft, row, record_id in consents:
        _record_consents(session, draft, row, record_id, actor.id)
    append_many(session, audit)
    # Profiles and identities were written behind the ORM's back; what it holds may be stale.
    session.expire_all()
    for draft in live:
        for merged_id, why in draft.absorbed:
            survivor, merged = session.get(Profile, draft.id), session.get(Profile, merged_id)
            if survivor is None or merged is None or merged.merged_into is not None:
                continue
            try:
                with session.begin_nested():
                    merge_profiles(
                        session,
                        survivor,
                        merged,
                        kind="auto",
                        actor=actor,
                        weight=why.weight,
                        levels=dict(why.levels),
                        reason="an incoming record matched both profiles",
                    )
            except Conflict:
                continue  # an unmerge veto keeps them apart; the record stays with the survivor
    session.flush()
    return written


def _insert(session: Session, model: type[Any], rows: Sequence[dict[str, Any]]) -> None:
    # The table, not the entity: ORM bulk inserts cost several times more per row in Python.
    if rows:
        session.execute(insert(model.__table__), list(rows))


def _stored_event_keys(session: Session, source: str, keys: list[str]) -> set[str]:
    out: set[str] = set()
    for start in range(0, len(keys), 900):
        part = keys[start : start + 900]
        out |= {
            k
            for k in session.scalars(
                select(Event.dedup_key).where(Event.source == source, col(Event.dedup_key).in_(part))
            )
            if k is not None
        }
    return out


def _record_consents(session: Session, draft: Draft, row: ValidRow, record_id: uuid.UUID, actor: str) -> None:
    v = vault(session)
    record = row.record
    channel: dict[str, tuple[uuid.UUID | None, str | None]] = {}
    for kind, value in (("email", row.email), ("phone", row.phone)):
        bidx = v.blind_index(kind, value) if value else None
        identity = draft.identities.get(bidx) if bidx else None
        channel[kind] = (identity.stored_id if identity else None, bidx)
    for consent in record.consents:
        identity_id, contact_index = channel.get(consent.channel, (None, None))
        record_ingested_consent(
            session,
            consent,
            profile_id=draft.id,
            identity_id=identity_id,
            source=record.source,
            actor=actor,
            dedup_id=consent.dedup_id(contact_index),
            source_record_id=record_id,
        )


def record_ingested_consent(
    session: Session,
    consent: ConsentInput,
    *,
    profile_id: uuid.UUID,
    identity_id: uuid.UUID | None,
    source: str,
    actor: str,
    dedup_id: str,
    source_record_id: uuid.UUID,
) -> bool:
    """One `consents[]` entry of a record into the ledger (the row was checked against the catalog already);
    False when the ledger already held it."""
    return record_consent(
        session,
        profile_id=profile_id,
        identity_id=identity_id,
        channel=consent.channel,
        purpose=consent.purpose,
        status=consent.status,
        occurred_at=consent.occurred_at,
        source=source,
        method=consent.method,
        consent_type=consent.consent_type,
        lawful_basis=consent.stated_lawful_basis(),
        notice_id=consent.notice_id,
        notice_version=consent.notice_version,
        notice_sha256=consent.notice_sha256,
        language=consent.language,
        indicated_by=consent.indicated_by,
        actor=actor,
        expires_at=consent.expires_at,
        jurisdiction=consent.jurisdiction,
        proof=consent.proof.model_dump(exclude_none=True) if consent.proof else None,
        dedup_id=dedup_id,
        source_record_id=source_record_id,
    ) is not None
