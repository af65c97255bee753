"""Erasing one person: crypto-shred their data key, delete every row that is about them, keep a tombstone.

The tombstone (status `erased`, golden and provenance emptied) keeps the id answering "gone" and keeps the
audit log's references meaningful; ids merged into it stay redirects to it. Callers decide *whether* a
person may be erased (legal holds, restriction, statutory retention) and whether to suppress their
identifiers afterwards: retention erasure does not suppress, an erasure request will. This function only
erases, and never commits.
"""

import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import Engine, String, and_, cast, delete, func, or_, update
from sqlalchemy.orm import Session
from sqlmodel import col, select

from cdp.audiences.models import AudienceMembershipSnapshot, DestinationRemoval
from cdp.audiences.removals import queue_removals
from cdp.audit.log import Actor, append
from cdp.consent.models import ConsentEvent, ConsentState
from cdp.crypto.envelope import _VAULT_INFO_KEY, vault
from cdp.crypto.models import DataKey
from cdp.db import compliance_session, utcnow
from cdp.errors import NotFound
from cdp.identity.models import MatchKey, MergeEvent, MergeVeto
from cdp.ingest.models import Quarantine
from cdp.ingest.quarantine import QUARANTINE_PAYLOAD, raw_identifiers
from cdp.profiles import store
from cdp.profiles.errors import ProfileMerged, ProfileNotFound
from cdp.profiles.models import Event, Identity, Profile, SourceRecord
from cdp.suppression.check import _EMPTY_FLAG as _SUPPRESSION_EMPTY_FLAG
from cdp.suppression.check import add_suppression

ERASED = "erased"


@dataclass(frozen=True)
class ErasureReport:
    profile_id: uuid.UUID
    counts: dict[str, int] = field(default_factory=dict)  # table -> rows deleted; "data_key" -> keys destroyed
    already_erased: bool = False

    @property
    def rows(self) -> int:
        return sum(n for table, n in self.counts.items() if table != "data_key")


def _deleted(session: Session, statement: object) -> int:
    result = session.execute(statement)  # type: ignore[call-overload]
    return int(getattr(result, "rowcount", 0) or 0)


def erase_profile(
    session: Session,
    profile_id: uuid.UUID,
    *,
    actor: Actor,
    reason: str,
    keep_counts: bool = False,
) -> ErasureReport:
    """Erase a live (active or restricted) profile; erasing an erased one again is a no-op.

    `keep_counts` is anonymisation: the tombstone keeps its lifecycle stage and creation time, so
    aggregate counts ("leads created in 2024") survive, and nothing else. `reason` is an id or a rule
    name (it goes to the audit log), never free text about the person.
    """
    profile = session.get(Profile, profile_id)
    if profile is None:
        raise ProfileNotFound(profile_id)
    if profile.status == ERASED:
        return ErasureReport(profile_id, already_erased=True)
    if profile.merged_into is not None:
        raise ProfileMerged(profile_id, profile.merged_into)
    now = utcnow()

    records = list(session.scalars(select(SourceRecord.id).where(SourceRecord.profile_id == profile_id)))
    identities = list(session.scalars(select(Identity.id).where(Identity.profile_id == profile_id)))
    counts: dict[str, int] = {}

    # Dependents first, so every foreign key is satisfied on PostgreSQL and on SQLite with foreign_keys=ON.
    counts["consent_state"] = _deleted(session, delete(ConsentState).where(col(ConsentState.profile_id) == profile_id))
    snapshot_match = col(AudienceMembershipSnapshot.profile_id) == profile_id
    if identities:
        snapshot_match = or_(snapshot_match, col(AudienceMembershipSnapshot.identity_id).in_(identities))
    counts["audience_membership_snapshot"] = _deleted(session, delete(AudienceMembershipSnapshot).where(snapshot_match))
    counts["merge_event"], counts["merge_veto"] = _delete_merge_evidence(session, profile_id, records)
    counts["event"] = _deleted(session, delete(Event).where(col(Event.profile_id) == profile_id))
    counts["consent_event"] = _deleted(session, delete(ConsentEvent).where(col(ConsentEvent.profile_id) == profile_id))
    # Another profile's ledger may still point at one of these contact points (see identity.merge); the
    # pointer goes, the other person's consent stays.
    if identities:
        for ledger in (ConsentEvent, ConsentState):
            session.execute(update(ledger).where(col(ledger.identity_id).in_(identities)).values(identity_id=None))
    if records:
        for model in (Event, ConsentEvent):
            session.execute(update(model).where(col(model.source_record_id).in_(records)).values(source_record_id=None))
    counts["identity"] = _deleted(session, delete(Identity).where(col(Identity.profile_id) == profile_id))
    counts["source_record"] = _deleted(session, delete(SourceRecord).where(col(SourceRecord.profile_id) == profile_id))
    counts["match_key"] = _deleted(session, delete(MatchKey).where(col(MatchKey.profile_id) == profile_id))
    counts["data_key"] = int(vault(session).destroy_key(profile_id))

    profile.status = ERASED
    profile.golden = b""
    profile.field_provenance = {}
    profile.last_activity_at = None
    profile.updated_at = now
    if not keep_counts:
        profile.lifecycle_stage = None
        profile.created_at = now
    session.add(profile)
    session.flush()

    append(
        session,
        actor=actor,
        action="profile.anonymized" if keep_counts else "profile.erased",
        resource_type="profile",
        resource_id=profile_id,
        details={"reason": reason, **{k: v for k, v in counts.items() if v}},
    )
    return ErasureReport(profile_id, counts)


def _delete_merge_evidence(session: Session, profile_id: uuid.UUID, records: list[uuid.UUID]) -> tuple[int, int]:
    """Merge and split evidence naming this profile or one of its records goes, with every veto on its
    records; the redirect rows of profiles merged into it stay. Returns (merge events, vetoes) deleted."""
    vetoes = 0
    if records:
        vetoes += _deleted(
            session,
            delete(MergeVeto).where(or_(col(MergeVeto.record_a).in_(records), col(MergeVeto.record_b).in_(records))),
        )
    # source_record_ids is a JSON list of UUID strings; a text match finds the rows that name a record.
    names = [cast(MergeEvent.source_record_ids, String).contains(str(r)) for r in records]
    ids = list(
        session.scalars(
            select(MergeEvent.id).where(
                or_(col(MergeEvent.survivor_id) == profile_id, col(MergeEvent.merged_id) == profile_id, *names)
            )
        )
    )
    if ids:
        vetoes += _deleted(session, delete(MergeVeto).where(col(MergeVeto.merge_event_id).in_(ids)))
        session.execute(delete(MergeEvent).where(col(MergeEvent.id).in_(ids)))
    return len(ids), vetoes


# --- Erasure of a data subject (Art. 17), the entry point privacy requests call --------------------------

ERASURE_REASON = "erasure"
DROP_RECORD, STRIP_IDENTIFIER = "drop_record", "strip_identifier"


@dataclass(frozen=True)
class ErasureResult:
    """What one erasure did, in counts and names only: it goes into the request log and the audit log."""

    request_id: uuid.UUID
    profile_ids: tuple[uuid.UUID, ...]
    counts: dict[str, int]  # table -> rows deleted
    destroyed_key_ids: tuple[uuid.UUID, ...]  # data keys destroyed: the profiles' and quarantined rows'
    suppressed: dict[str, int]  # identifier family (email, phone, external) -> entries written or re-armed
    shared_identifiers: int  # of those, entries in strip_identifier mode (shared with a live profile, or low trust)
    destinations: tuple[str, ...]  # Art. 19: destinations the person was synced to, removal queued
    already_erased: tuple[uuid.UUID, ...] = ()
    unrecoverable_destinations: tuple[str, ...] = ()  # see _queue_destination_removals
    dry_run: bool = False

    @property
    def data_keys_destroyed(self) -> int:
        return len(self.destroyed_key_ids)

    @property
    def identifiers_suppressed(self) -> int:
        return sum(self.suppressed.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "request_id": str(self.request_id),
            "profile_ids": [str(p) for p in self.profile_ids],
            "already_erased": [str(p) for p in self.already_erased],
            "rows_deleted": dict(sorted(self.counts.items())),
            "data_keys_destroyed": self.data_keys_destroyed,
            "destroyed_key_ids": [str(k) for k in self.destroyed_key_ids],
            "identifiers_suppressed": dict(sorted(self.suppressed.items())),
            "shared_identifiers": self.shared_identifiers,
            "destinations_notified": list(self.destinations),
            "destinations_without_member_refs": list(self.unrecoverable_destinations),
            "dry_run": self.dry_run,
        }


def erase_subject(
    session: Session,
    profile_ids: list[uuid.UUID],
    *,
    actor: Actor,
    request_id: uuid.UUID,
    dry_run: bool = False,
) -> ErasureResult:
    """Erase one person, who may be several profiles, and make sure they stay erased.

    Order (COMPLIANCE §6.6): suppress every identifier; queue removals at every destination the person was
    synced to, which reads the audience snapshots, so before they are deleted; delete every row and destroy
    the data keys; one audit entry with counts and destination names only. Ids merged into another profile
    resolve to it; erasing an erased profile again is a no-op. `dry_run` does all of it inside savepoints
    of both stores and rolls them back: the result is the exact preview.

    The SQLite files still hold freed pages and the WAL until the caller has committed and run
    `scrub_residue` (a checkpoint cannot truncate the WAL inside this transaction).
    """
    compliance = compliance_session(session)
    if dry_run:
        data_sp, comp_sp = session.begin_nested(), compliance.begin_nested()
        try:
            result = _erase_subject(session, profile_ids, actor=actor, request_id=request_id)
        finally:
            comp_sp.rollback()
            data_sp.rollback()
            session.info.pop(_VAULT_INFO_KEY, None)  # its key cache forgot the keys destroyed above
            session.info.pop(_SUPPRESSION_EMPTY_FLAG, None)
        return replace(result, dry_run=True)
    return _erase_subject(session, profile_ids, actor=actor, request_id=request_id)


def _erase_subject(
    session: Session, profile_ids: list[uuid.UUID], *, actor: Actor, request_id: uuid.UUID
) -> ErasureResult:
    survivors: list[uuid.UUID] = []
    already: list[uuid.UUID] = []
    for pid in profile_ids:
        profile = store.survivor_of(session, pid)
        if profile is None:
            raise ProfileNotFound(pid)
        if profile.status == ERASED:
            already.append(profile.id)
        elif profile.id not in survivors:
            survivors.append(profile.id)

    identifiers: dict[tuple[str, str], str] = {}  # (kind, normalized value) -> match mode
    for pid in survivors:
        for kind, value, mode in _identifiers_of(session, pid, set(survivors)):
            if identifiers.get((kind, value)) != DROP_RECORD:
                identifiers[(kind, value)] = mode

    suppressed: Counter[str] = Counter()
    for (kind, value), mode in identifiers.items():
        add_suppression(session, kind=kind, value=value, reason=ERASURE_REASON, match_mode=mode, request_id=request_id)
        suppressed[_family(kind)] += 1

    counts: Counter[str] = Counter()
    destinations: set[str] = set()
    unrecoverable: set[str] = set()
    for pid in survivors:
        # queue_removals drops the snapshot rows it copied the refs from; they count as this erasure's.
        counts["audience_membership_snapshot"] += _snapshot_rows(session, pid)
        queued, lost = _queue_destination_removals(session, pid, request_id, actor)
        destinations.update(queued)
        unrecoverable.update(lost)

    keys: list[uuid.UUID] = []
    for pid in survivors:
        report = erase_profile(session, pid, actor=actor, reason=f"request:{request_id}")
        keys += [pid] if report.counts.get("data_key") else []
        counts.update({t: n for t, n in report.counts.items() if t != "data_key"})
    q_rows, q_keys = _erase_quarantine(session, identifiers)
    counts["quarantine"] += q_rows
    keys += q_keys

    result = ErasureResult(
        request_id=request_id,
        profile_ids=tuple(survivors),
        counts={t: n for t, n in counts.items() if n},
        destroyed_key_ids=tuple(keys),
        suppressed=dict(suppressed),
        shared_identifiers=sum(1 for mode in identifiers.values() if mode == STRIP_IDENTIFIER),
        destinations=tuple(sorted(destinations)),
        already_erased=tuple(already),
        unrecoverable_destinations=tuple(sorted(unrecoverable)),
    )
    append(
        session,
        actor=actor,
        action="privacy.erasure",
        resource_type="privacy_request",
        resource_id=request_id,
        details={
            "profiles": len(survivors),
            "already_erased": len(already),
            "rows_deleted": sum(result.counts.values()),
            "data_keys_destroyed": len(keys),
            "identifiers_suppressed": result.identifiers_suppressed,
            "shared_identifiers": result.shared_identifiers,
            "destinations": list(result.destinations),
            "destinations_without_member_refs": list(result.unrecoverable_destinations),
        },
    )
    return result


def _snapshot_rows(session: Session, profile_id: uuid.UUID) -> int:
    query = select(func.count()).select_from(AudienceMembershipSnapshot)
    return int(session.scalar(query.where(col(AudienceMembershipSnapshot.profile_id) == profile_id)) or 0)


def _family(kind: str) -> str:
    return "external" if kind.startswith("external:") else kind


def _identifiers_of(session: Session, profile_id: uuid.UUID, erasing: set[uuid.UUID]) -> list[tuple[str, str, str]]:
    """(kind, normalized value, match mode) of every identifier the profile holds.

    COMPLIANCE §3.4: an identifier another live profile also holds (a household landline, info@), or one the
    identity model already trusts low (role and placeholder addresses), is suppressed in strip mode: it is
    dropped from incoming records but does not block the other person's records.
    """
    identities = store.identities_of(session, profile_id)
    if not identities or not vault(session).has_key(profile_id):
        # No key: an earlier run of this erasure committed the compliance store (suppressions and key
        # destruction are one transaction there) and not the data store. The identifiers are suppressed.
        return []
    shared = {
        (kind, index)
        for kind, index in session.execute(
            select(Identity.kind, Identity.blind_index)
            .join(Profile, col(Profile.id) == col(Identity.profile_id))
            .where(
                # OR of pairs, not a row-value IN: SQLite uses ix_identity_kind_blind_index only for this.
                or_(
                    *(
                        and_(col(Identity.kind) == i.kind, col(Identity.blind_index) == i.blind_index)
                        for i in identities
                    )
                ),
                col(Identity.profile_id).not_in(erasing),
                col(Profile.status) != ERASED,
                col(Profile.merged_into).is_(None),
            )
        )
    }
    out = []
    for identity in identities:
        personal = identity.kind.startswith("external:")  # a source's own id for this person is no one else's
        low = (identity.kind, identity.blind_index) in shared or identity.trust != "high"
        mode = STRIP_IDENTIFIER if low and not personal else DROP_RECORD
        out.append((identity.kind, store.identity_value(session, identity), mode))
    return out


def _queue_destination_removals(
    session: Session, profile_id: uuid.UUID, request_id: uuid.UUID, actor: Actor
) -> tuple[list[str], list[str]]:
    """Art. 19: one removal task (with erase) per destination that holds the person. It reads the member refs
    out of the audience snapshots under the person's key, so it runs before the key and the rows go.

    Returns (destinations queued, destinations whose member refs are lost). The second is only non-empty when
    a previous run destroyed the key but its data transaction failed: the task is recorded `failed` with
    that reason, so the request cannot close on it silently and a human removes the person there.
    """
    reason = f"{ERASURE_REASON}:{request_id}"
    if vault(session).has_key(profile_id):
        return queue_removals(session, profile_id, erase=True, reason=reason, actor=actor), []
    snapshot = col(AudienceMembershipSnapshot.profile_id) == profile_id
    lost = sorted(set(session.scalars(select(AudienceMembershipSnapshot.destination).where(snapshot))))
    now = utcnow()
    for destination in lost:
        session.add(
            DestinationRemoval(
                destination=destination,
                profile_id=profile_id,
                ref_count=0,
                erase=True,
                reason=reason,
                status="failed",
                last_error="member-ref-unrecoverable",
                created_at=now,
                updated_at=now,
            )
        )
    session.execute(delete(AudienceMembershipSnapshot).where(snapshot))
    return lost, lost


def _erase_quarantine(session: Session, identifiers: dict[tuple[str, str], str]) -> tuple[int, list[uuid.UUID]]:
    """Quarantined rows carrying one of the person's identifiers (not shared ones); returns (rows deleted,
    keys destroyed). Each row is encrypted under its own key, so finding them means decrypting each:
    quarantine is short-lived (retention P30D) and small. Rows whose key is already gone (an earlier run
    that failed after the compliance commit) are ciphertext nobody can read, and go too."""
    personal = {key for key, mode in identifiers.items() if mode == DROP_RECORD}
    entries = list(session.scalars(select(Quarantine)))
    if not entries:
        return 0, []
    v = vault(session)
    v.load_keys({e.id for e in entries})
    doomed: list[uuid.UUID] = []
    for entry in entries:
        try:
            row = v.decrypt_json(entry.id, entry.payload, context=QUARANTINE_PAYLOAD)
        except NotFound:
            doomed.append(entry.id)
            continue
        if personal & raw_identifiers(entry.source, row):
            doomed.append(entry.id)
    if not doomed:
        return 0, []
    rows = _deleted(session, delete(Quarantine).where(col(Quarantine.id).in_(doomed)))
    return rows, [q for q in doomed if v.destroy_key(q)]


@dataclass(frozen=True)
class ReapplyResult:
    profiles: tuple[uuid.UUID, ...]
    quarantine_rows: int

    def to_json(self) -> dict[str, Any]:
        return {"profiles_erased": [str(p) for p in self.profiles], "quarantine_rows": self.quarantine_rows}


def reapply_erasures(session: Session, *, actor: Actor, chunk: int = 1000) -> ReapplyResult:
    """After a data-store backup is restored: erase again everyone erased since it was taken.

    The compliance store (keys, suppressions, request log) is not restored with the data store, so "erased
    since the backup" is exactly "a live profile whose data key is gone" (a merged-away profile lost its key
    when it was merged and is skipped). Their rows are unreadable ciphertext already; this deletes them and
    makes the tombstones say so (COMPLIANCE §3.3 restore procedure, §7 item 28). Suppressions need no
    replay: they never left the compliance store.
    """
    compliance = compliance_session(session)
    live = select(Profile.id).where(col(Profile.status) != ERASED, col(Profile.merged_into).is_(None))
    ids = list(session.scalars(live.order_by(col(Profile.id))))
    erased: list[uuid.UUID] = []
    for start in range(0, len(ids), chunk):
        part = ids[start : start + chunk]
        have = set(compliance.scalars(select(DataKey.subject_id).where(col(DataKey.subject_id).in_(part))))
        for pid in part:
            if pid not in have:
                erase_profile(session, pid, actor=actor, reason="reapply")
                erased.append(pid)
    quarantine, _ = _erase_quarantine(session, {})
    append(
        session,
        actor=actor,
        action="privacy.erasures_reapplied",
        resource_type="store",
        resource_id="data",
        details={"profiles": len(erased), "quarantine_rows": quarantine},
    )
    return ReapplyResult(tuple(erased), quarantine)


def scrub_residue(engines: Sequence[Engine]) -> list[tuple[int, int, int]]:
    """After the erasure has committed: copy SQLite's WAL into the database file and truncate it.

    Every SQLite connection runs with `secure_delete=ON` (cdp.db), so cells and pages are zeroed as they are
    freed and VACUUM is not needed; but the WAL still holds the page images written before the deletion
    until a checkpoint copies the zeroed pages back and TRUNCATE empties it (COMPLIANCE §3.3). PostgreSQL
    keeps dead tuples and WAL until VACUUM and segment recycling: there only ciphertext whose key is gone
    remains, which is what crypto-shredding is for. Returns SQLite's (busy, wal frames, checkpointed) per
    SQLite engine; busy=1 means a reader held old frames, and the next automatic checkpoint finishes it.
    """
    out = []
    for engine in engines:
        if engine.dialect.name != "sqlite":
            continue
        raw = engine.raw_connection()  # autocommit at the driver level (cdp.db): no BEGIN around the pragma
        try:
            cursor = raw.cursor()
            row = cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            cursor.close()
            out.append((int(row[0]), int(row[1]), int(row[2])))
        finally:
            raw.close()
    return out
