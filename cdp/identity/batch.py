"""Resolve a batch of new records in memory, against the store and against each other, in input order.

Record-at-a-time resolution reads and writes the store ~20 times per record. Here the candidates of the whole
batch are fetched with a few IN queries up front (identity blind indexes and blocking keys, exactly what
`resolve` probes), and every record is then resolved in input order against those stored profiles and the
profiles the batch itself builds, with the same blocking, candidate cap, shared-identifier rule, scoring and
tie-break as `resolve`. So a batch decides as the same records sent one by one would, and the caller can
write the outcome with set-based statements.
"""

import dataclasses
import datetime as dt
import heapq
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import Row
from sqlalchemy import select as sa_select  # sqlmodel's select types at most four columns
from sqlalchemy.orm import Session
from sqlmodel import col, select

from cdp.crypto.envelope import Vault, vault
from cdp.identity.merge import identity_policy
from cdp.identity.models import MatchKey
from cdp.identity.resolve import (
    EMAIL,
    MAX_CANDIDATES,
    PHONE,
    _hashed,
    _probe_keys,
    blocking_keys,
    fields_from_golden,
    model_for,
)
from cdp.identity.scoring import MatchFields, Score, score
from cdp.identity.survivorship import Observation, compute_golden
from cdp.profiles import store
from cdp.profiles.models import Identity, Profile, SourceRecord

_T = TypeVar("_T")
_IN_CHUNK = 900  # bound parameters per IN list, far below SQLite's and PostgreSQL's limits
_MAX_KEY_OWNERS = MAX_CANDIDATES * 4  # `resolve` reads at most this many blocking-key rows per record


@dataclass(frozen=True)
class Incoming:
    index: int
    fields: MatchFields
    identifiers: Sequence[tuple[str, str, str]]  # (kind, normalized value, trust), as record_identities gives
    observation: Observation


@dataclass
class IdentityDraft:
    kind: str
    blind_index: str
    value: str
    source: str
    trust: str
    first_seen: dt.datetime
    last_seen: dt.datetime
    stored_id: uuid.UUID | None = None  # the row, when the identity is already stored
    stored_on: uuid.UUID | None = None  # the profile holding that row
    dirty: bool = False  # a stored row whose first_seen/last_seen moved

    def seen(self, at: dt.datetime) -> None:
        if at < self.first_seen or at > self.last_seen:
            self.first_seen, self.last_seen = min(self.first_seen, at), max(self.last_seen, at)
            self.dirty = True


@dataclass
class Joined:
    incoming: Incoming
    evidence: dict[str, Any]
    outcome: str  # created | merged


@dataclass
class Draft:
    """A profile as the batch sees it: a stored one (loaded) or one the batch creates."""

    id: uuid.UUID
    stored: bool
    order: tuple[dt.datetime, str]
    last_activity: dt.datetime | None
    golden: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    stage: str | None = None
    identities: dict[str, IdentityDraft] = field(default_factory=dict)  # by blind index
    observations: list[Observation] | None = None  # stored drafts: loaded on first join
    joined: list[Joined] = field(default_factory=list)
    merged_into: uuid.UUID | None = None
    keys: set[tuple[str, str]] | None = None  # hashed blocking keys; stored drafts: computed when first needed
    fields: MatchFields = field(default_factory=MatchFields)
    # Stored profiles folded into this one; the writer merges them with `merge_profiles` (evidence, audit).
    absorbed: list[tuple[uuid.UUID, Score]] = field(default_factory=list)

    @property
    def touched(self) -> bool:
        return bool(self.joined or self.absorbed)


@dataclass
class BatchPlan:
    drafts: dict[uuid.UUID, Draft]
    assignment: dict[int, uuid.UUID]  # incoming index -> final draft id

    def live(self) -> list[Draft]:
        return [d for d in self.drafts.values() if d.merged_into is None and d.touched]

    def final(self, draft_id: uuid.UUID) -> Draft:
        draft = self.drafts[draft_id]
        while draft.merged_into is not None:
            draft = self.drafts[draft.merged_into]
        return draft


def _chunks(items: Sequence[_T]) -> Iterable[Sequence[_T]]:
    for start in range(0, len(items), _IN_CHUNK):
        yield items[start : start + _IN_CHUNK]


class _Batch:
    def __init__(self, session: Session, now: dt.datetime) -> None:
        self.session = session
        self.v: Vault = vault(session)
        self.policy = identity_policy(session)
        self.model = model_for(session)
        self.now = now
        self.drafts: dict[uuid.UUID, Draft] = {}
        self.owners: dict[str, set[uuid.UUID]] = {}  # email/phone blind index -> live drafts holding it
        self.key_owners: dict[tuple[str, str], set[uuid.UUID]] = {}
        self.created = 0
        self.probes: dict[int, set[tuple[str, str]]] = {}  # hashed probe keys per incoming record

    # -- loading -----------------------------------------------------------------------------------------

    def preload(self, items: Sequence[Incoming]) -> None:
        contact = sorted(
            {
                self.v.blind_index(kind, value)
                for item in items
                for kind, value, _ in item.identifiers
                if kind in (EMAIL, PHONE)
            }
        )
        for part in _chunks(contact):
            rows = self.session.execute(
                select(Identity.blind_index, Identity.profile_id)
                .join(Profile, col(Profile.id) == col(Identity.profile_id))
                # kind first: the index is (kind, blind_index)
                .where(
                    col(Identity.kind).in_([EMAIL, PHONE]),
                    col(Identity.blind_index).in_(part),
                    col(Profile.merged_into).is_(None),
                )
            )
            for bidx, profile_id in rows:
                self.owners.setdefault(bidx, set()).add(profile_id)
        for item in items:
            self.probes[item.index] = _hashed(self.v, _probe_keys(item.fields))
        probe_pairs = set().union(*self.probes.values()) if self.probes else set()
        probes = sorted({key for _, key in probe_pairs})
        for part in _chunks(probes):
            key_rows = self.session.execute(
                select(MatchKey.kind, MatchKey.key, MatchKey.profile_id).where(
                    col(MatchKey.kind).in_(sorted({kind for kind, _ in probe_pairs})), col(MatchKey.key).in_(part)
                )
            )
            for kind, key, profile_id in key_rows:
                owners = self.key_owners.setdefault((kind, key), set())
                if len(owners) < _MAX_KEY_OWNERS:
                    owners.add(profile_id)
        # Load only the candidates `resolve` would score: at most MAX_CANDIDATES per record, ranked the same way.
        found = (
            set().union(*self.owners.values(), *self.key_owners.values()) if self.owners or self.key_owners else set()
        )
        activity: dict[uuid.UUID, dt.datetime | None] = {}
        for found_part in _chunks(sorted(found, key=str)):
            live_rows = self.session.execute(
                sa_select(col(Profile.id), col(Profile.last_activity_at)).where(
                    col(Profile.id).in_(found_part), col(Profile.merged_into).is_(None)
                )
            )
            for pid, at in live_rows:
                activity[pid] = at
        # Ids that are gone (merged away since) must not count; stored ones not loaded still count as holders.
        for owners in [*self.owners.values(), *self.key_owners.values()]:
            owners &= activity.keys()
        wanted: set[uuid.UUID] = set()
        for item in items:
            by_identifier: set[uuid.UUID] = set()
            for kind, value, _ in item.identifiers:
                if kind in (EMAIL, PHONE):
                    by_identifier |= self.owners.get(self.v.blind_index(kind, value), set())
            by_key: set[uuid.UUID] = set()
            for probe in self.probes[item.index]:
                by_key |= self.key_owners.get(probe, set())
            wanted |= _capped(by_identifier & activity.keys(), (by_key - by_identifier) & activity.keys(), activity)
        self._load(wanted)

    def _load(self, profile_ids: set[uuid.UUID]) -> None:
        # Core rows, not ORM objects: a batch reads thousands of candidates and writes back only the few it joins.
        ids = sorted(profile_ids, key=str)
        profiles: list[Row[Any]] = []
        for wanted in _chunks(ids):
            profiles += self.session.execute(
                sa_select(
                    col(Profile.id),
                    col(Profile.golden),
                    col(Profile.created_at),
                    col(Profile.last_activity_at),
                    col(Profile.field_provenance),
                    col(Profile.lifecycle_stage),
                ).where(col(Profile.id).in_(wanted), col(Profile.merged_into).is_(None))
            ).all()
        self.v.load_keys({p.id for p in profiles})
        for profile in profiles:
            self.drafts[profile.id] = Draft(
                id=profile.id,
                stored=True,
                order=(profile.created_at, str(profile.id)),
                last_activity=profile.last_activity_at,
                golden=self.v.decrypt_json(profile.id, profile.golden, context=store.GOLDEN),
                provenance=dict(profile.field_provenance),
                stage=profile.lifecycle_stage,
            )
        live = {p.id for p in profiles}
        for part in _chunks(sorted(live, key=str)):
            rows = self.session.execute(
                sa_select(
                    col(Identity.id),
                    col(Identity.profile_id),
                    col(Identity.kind),
                    col(Identity.blind_index),
                    col(Identity.value),
                    col(Identity.source),
                    col(Identity.trust),
                    col(Identity.first_seen),
                    col(Identity.last_seen),
                ).where(col(Identity.profile_id).in_(part))
            )
            for row in rows:
                self.drafts[row.profile_id].identities[row.blind_index] = IdentityDraft(
                    kind=row.kind,
                    blind_index=row.blind_index,
                    value=self.v.decrypt(row.profile_id, row.value, context=store.IDENTITY_VALUE).decode(),
                    source=row.source,
                    trust=row.trust,
                    first_seen=row.first_seen,
                    last_seen=row.last_seen,
                    stored_id=row.id,
                    stored_on=row.profile_id,
                )
        for pid in live:
            draft = self.drafts[pid]
            draft.fields = self._fields(draft)

    def _observations(self, draft: Draft) -> list[Observation]:
        if draft.observations is None:
            draft.observations = []
            if draft.stored:
                rows = self.session.execute(
                    select(
                        SourceRecord.source,
                        SourceRecord.source_updated_at,
                        SourceRecord.received_at,
                        SourceRecord.payload,
                    ).where(SourceRecord.profile_id == draft.id)
                )
                for source, updated_at, received_at, blob in rows:
                    if store.is_minimised(blob):
                        continue  # minimised by retention: nothing left to observe
                    payload = self.v.decrypt_json(draft.id, blob, context=store.SOURCE_PAYLOAD)
                    draft.observations.append(Observation(source, updated_at or received_at, payload))
        return draft.observations

    # -- the comparison view -----------------------------------------------------------------------------

    def _fields(self, draft: Draft) -> MatchFields:
        emails: set[str] = set()
        phones: set[str] = set()
        weak_e: set[str] = set()
        weak_p: set[str] = set()
        for identity in draft.identities.values():
            if identity.kind not in (EMAIL, PHONE):
                continue
            (emails if identity.kind == EMAIL else phones).add(identity.value)
            if identity.trust == "low":
                (weak_e if identity.kind == EMAIL else weak_p).add(identity.value)
        return fields_from_golden(
            draft.golden, emails=emails, phones=phones, shared_emails=weak_e, shared_phones=weak_p
        )

    def _with_shared(self, draft: Draft, multi: set[str]) -> MatchFields:
        if not multi:
            return draft.fields
        shared_e = {i.value for b, i in draft.identities.items() if b in multi and i.kind == EMAIL}
        shared_p = {i.value for b, i in draft.identities.items() if b in multi and i.kind == PHONE}
        if not shared_e and not shared_p:
            return draft.fields
        return dataclasses.replace(
            draft.fields,
            shared_emails=draft.fields.shared_emails | shared_e,
            shared_phones=draft.fields.shared_phones | shared_p,
        )

    def _index(self, draft: Draft, *, remove: bool = False) -> None:
        for bidx, identity in draft.identities.items():
            if identity.kind in (EMAIL, PHONE):
                owners = self.owners.setdefault(bidx, set())
                owners.discard(draft.id) if remove else owners.add(draft.id)
        if draft.keys is None:
            draft.keys = _hashed(self.v, blocking_keys(draft.fields))
        for key in draft.keys:
            owners = self.key_owners.setdefault(key, set())
            owners.discard(draft.id) if remove else owners.add(draft.id)

    def _refresh(self, draft: Draft) -> None:
        self._index(draft, remove=True)
        golden, provenance, stage = compute_golden(self._observations(draft), self.policy)
        draft.golden, draft.provenance = golden, provenance
        draft.stage = stage or draft.stage
        draft.fields = self._fields(draft)
        draft.keys = _hashed(self.v, blocking_keys(draft.fields))
        self._index(draft)

    # -- resolution --------------------------------------------------------------------------------------

    def _candidates(self, item: Incoming, contact: list[str]) -> list[Draft]:
        by_identifier: set[uuid.UUID] = set()
        for bidx in contact:
            by_identifier |= self.owners.get(bidx, set())
        by_key: set[uuid.UUID] = set()
        for key in self.probes[item.index]:
            by_key |= self.key_owners.get(key, set())
        live = {pid for pid in by_identifier | by_key if pid in self.drafts and self.drafts[pid].merged_into is None}
        activity = {pid: self.drafts[pid].last_activity for pid in live}
        ids = _capped(by_identifier & live, by_key & live, activity)
        return [self.drafts[pid] for pid in ids]

    def resolve(self, item: Incoming) -> tuple[Draft, dict[str, Any], str]:
        contact = [self.v.blind_index(kind, value) for kind, value, _ in item.identifiers if kind in (EMAIL, PHONE)]
        candidates = self._candidates(item, contact)
        multi = {b for b in contact if len(self.owners.get(b, ())) > 1}
        values = {
            b: value
            for (kind, value, _), b in zip(
                [i for i in item.identifiers if i[0] in (EMAIL, PHONE)], contact, strict=True
            )
        }
        shared_here = {values[b] for b in multi}
        incoming = dataclasses.replace(
            item.fields,
            shared_emails=item.fields.shared_emails | (shared_here & item.fields.emails),
            shared_phones=item.fields.shared_phones | (shared_here & item.fields.phones),
        )
        scored = [(d, score(incoming, self._with_shared(d, multi), self.model)) for d in candidates]
        scored.sort(key=lambda c: (-c[1].weight, c[0].order))
        evidence: dict[str, Any] = {"method": "scored", "candidates": len(candidates)}
        if scored:
            best, best_score = scored[0]
            evidence |= {
                "matched_profile": str(best.id),
                "weight": round(best_score.weight, 3),
                "probability": round(best_score.probability, 6),
                "levels": best_score.levels,
                "decision": best_score.decision,
            }
            if best_score.guard:
                evidence["guard"] = best_score.guard
        review = [str(d.id) for d, s in scored if s.decision == "review"]
        if review:
            evidence["review"] = review
        merges = [(d, s) for d, s in scored if s.decision == "merge"]
        if not merges:
            evidence["method"] = "new"
            self.created += 1
            draft = Draft(
                id=uuid.uuid4(),
                stored=False,
                # Strictly increasing, so ties between profiles of one batch go to the first created.
                order=(self.now + dt.timedelta(microseconds=self.created), ""),
                last_activity=self.now,
                observations=[],
            )
            self.drafts[draft.id] = draft
            return draft, evidence, "created"
        target = merges[0][0]
        for other, other_score in merges[1:]:
            self._fold(other, target, other_score)
        return target, evidence, "merged"

    def _fold(self, other: Draft, target: Draft, why: Score) -> None:
        self._index(other, remove=True)
        other.merged_into = target.id
        self._observations(target).extend(self._observations(other))
        for bidx, identity in other.identities.items():
            mine = target.identities.get(bidx)
            if mine is None:
                target.identities[bidx] = identity
            else:
                mine.seen(identity.first_seen)
                mine.seen(identity.last_seen)
        target.joined += other.joined
        other.joined = []
        if other.stored:
            target.absorbed.append((other.id, why))
        target.absorbed += other.absorbed
        other.absorbed = []
        self._refresh(target)

    def join(self, draft: Draft, item: Incoming, evidence: dict[str, Any], outcome: str) -> None:
        self._observations(draft).append(item.observation)
        seen = item.observation.observed_at
        for kind, value, trust in item.identifiers:
            bidx = self.v.blind_index(kind, value)
            mine = draft.identities.get(bidx)
            if mine is None:
                draft.identities[bidx] = IdentityDraft(kind, bidx, value, item.observation.source, trust, seen, seen)
            else:
                mine.seen(seen)
        draft.joined.append(Joined(item, evidence, outcome))
        draft.last_activity = max(draft.last_activity or seen, seen)
        self._refresh(draft)


_FLOOR = dt.datetime.min.replace(tzinfo=dt.UTC)


def _capped(
    by_identifier: set[uuid.UUID], by_key: set[uuid.UUID], activity: dict[uuid.UUID, dt.datetime | None]
) -> set[uuid.UUID]:
    """As `resolve`: candidates sharing an identifier first, then the most recently active, at most MAX_CANDIDATES."""
    ids = by_identifier | by_key
    if len(ids) <= MAX_CANDIDATES:
        return ids
    # A common blocking key (a frequent surname) can bring hundreds: pick the few without sorting them all.
    # `pid.int` orders like `str(pid)` at a fraction of the cost.
    return set(
        heapq.nsmallest(
            MAX_CANDIDATES,
            ids,
            key=lambda pid: (pid not in by_identifier, -(activity.get(pid) or _FLOOR).timestamp(), pid.int),
        )
    )


def plan_batch(session: Session, items: Sequence[Incoming], *, now: dt.datetime) -> BatchPlan:
    """Decide, in input order, which profile each incoming record joins; nothing is written."""
    batch = _Batch(session, now)
    batch.preload(items)
    assignment: dict[int, uuid.UUID] = {}
    for item in items:
        draft, evidence, outcome = batch.resolve(item)
        batch.join(draft, item, evidence, outcome)
        assignment[item.index] = draft.id
    plan = BatchPlan(batch.drafts, {})
    plan.assignment = {index: plan.final(pid).id for index, pid in assignment.items()}
    return plan


def stored_source_records(session: Session, source: str, external_indexes: Sequence[str]) -> dict[str, SourceRecord]:
    """Existing source records of one source by external-id blind index, with one query per chunk."""
    out: dict[str, SourceRecord] = {}
    for part in _chunks(list(external_indexes)):
        for row in session.scalars(
            select(SourceRecord).where(SourceRecord.source == source, col(SourceRecord.external_id_index).in_(part))
        ):
            out[row.external_id_index] = row
    return out
