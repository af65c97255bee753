"""Incremental resolution of one incoming record: block, score candidates, decide.

Blocking finds a handful of candidate profiles through blind indexes of the record's identifiers and of
name/company keys (`match_key`), never by scanning the store. Each candidate is scored with the
Fellegi-Sunter model in `scoring.py`; shared identifiers (role addresses, household phones, placeholders)
count as evidence only.
"""

import hashlib
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, text
from sqlalchemy.orm import Session
from sqlmodel import col, select

from cdp.crypto.envelope import Vault, vault
from cdp.identity.merge import identity_policy
from cdp.identity.models import MatchKey, MergeVeto
from cdp.identity.normalize import (
    email_domain,
    first_name_keys,
    is_free_mail_domain,
    is_placeholder_email,
    is_role_email,
    normalize_company,
    normalize_name,
    soundex,
)
from cdp.identity.scoring import DEFAULT_MODEL, MatchFields, Score, ScoringModel, score
from cdp.profiles import store
from cdp.profiles.models import Identity, Profile, SourceRecord

MAX_CANDIDATES = 25
EMAIL, PHONE = "email", "phone"


@dataclass(frozen=True)
class Candidate:
    profile: Profile
    score: Score


@dataclass
class Resolution:
    profile: Profile | None
    merge_with: list[Candidate] = field(default_factory=list)
    review: list[Candidate] = field(default_factory=list)
    best: Candidate | None = None
    candidates: int = 0

    def evidence(self) -> dict[str, Any]:
        out: dict[str, Any] = {"candidates": self.candidates}
        if self.best is not None:
            out |= {
                "matched_profile": str(self.best.profile.id),
                "weight": round(self.best.score.weight, 3),
                "probability": round(self.best.score.probability, 6),
                "levels": self.best.score.levels,
                "decision": self.best.score.decision,
            }
            if self.best.score.guard:
                out["guard"] = self.best.score.guard
        if self.review:
            out["review"] = [str(c.profile.id) for c in self.review]
        return out


def model_for(session: Session) -> ScoringModel:
    policy = identity_policy(session)
    if policy.merge_threshold is None and policy.review_threshold is None:
        return DEFAULT_MODEL
    return ScoringModel(
        levels=DEFAULT_MODEL.levels,
        prior=DEFAULT_MODEL.prior,
        merge_threshold=policy.merge_threshold if policy.merge_threshold is not None else DEFAULT_MODEL.merge_threshold,
        review_threshold=policy.review_threshold
        if policy.review_threshold is not None
        else DEFAULT_MODEL.review_threshold,
    )


def _is_weak_email(email: str) -> bool:
    return is_role_email(email) or is_placeholder_email(email)


def fields_from_values(
    *,
    emails: Iterable[str],
    phones: Iterable[str],
    first_name: str | None,
    last_name: str | None,
    company: str | None,
    city: str | None,
    country: str | None,
    shared_emails: Iterable[str] = (),
    shared_phones: Iterable[str] = (),
) -> MatchFields:
    emails = frozenset(emails)
    first = normalize_name(first_name)
    return MatchFields(
        emails=emails,
        phones=frozenset(phones),
        first_name=first,
        first_name_keys=first_name_keys(first),
        last_name=normalize_name(last_name),
        company=normalize_company(company),
        city=normalize_name(city),
        country=country.upper() if country else None,
        shared_emails=frozenset(e for e in emails if _is_weak_email(e)) | frozenset(shared_emails),
        shared_phones=frozenset(shared_phones),
    )


def fields_from_golden(
    golden: Mapping[str, Any],
    *,
    emails: Iterable[str],
    phones: Iterable[str],
    shared_emails: Iterable[str] = (),
    shared_phones: Iterable[str] = (),
) -> MatchFields:
    """The comparison view of a profile: its contact points plus the names and places of its golden record."""
    return fields_from_values(
        emails=emails,
        phones=phones,
        first_name=golden.get("first_name"),
        last_name=golden.get("last_name"),
        company=golden.get("company"),
        city=golden.get("city"),
        country=golden.get("country"),
        shared_emails=shared_emails,
        shared_phones=shared_phones,
    )


def blocking_keys(fields: MatchFields) -> set[tuple[str, str]]:
    """Name and company keys; identifiers block through their own blind indexes."""
    keys: set[tuple[str, str]] = set()
    last, first = fields.last_name, fields.first_name
    first_keys = fields.first_name_keys or ({first} if first else set())
    if last:
        sound = soundex(last)
        for key in first_keys:
            keys.add(("fl", f"{last}|{key}"))
            if sound:
                keys.add(("fs", f"{sound}|{key}"))
        if fields.company:
            keys.add(("lc", f"{last}|{fields.company}"))
        for email in fields.emails - fields.shared_emails:
            domain = email_domain(email)
            if not is_free_mail_domain(domain):
                keys.add(("ld", f"{last}|{domain}"))
    for email in fields.emails - fields.shared_emails:
        # The mailbox name alone: "j.kowalski@" at work and at home, or at a mistyped domain ("gmial.com").
        local = email.rpartition("@")[0]
        if len(local) >= 6:
            keys.add(("lp", local))
    if first and last and (sounds := _sound_key(first, last)):
        # Both names by sound: a typo in the first name as well as in the last ("benjamni camens").
        keys.add(("ss", sounds))
    if fields.company:
        for key in first_keys:
            keys.add(("fc", f"{key}|{fields.company}"))
    if first and last:
        keys.add(
            ("lf", f"{first}|{last}")
        )  # the swapped-name probe: stored as (first, last), looked up as (last, first)
    return keys


def _sound_key(first: str, last: str) -> str | None:
    first_code, last_code = soundex(first), soundex(last)
    return f"{first_code}|{last_code}" if first_code and last_code else None


def _hashed(v: Vault, keys: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
    return {(kind, v.blind_index(f"block:{kind}", value)) for kind, value in keys}


def _probe_keys(fields: MatchFields) -> set[tuple[str, str]]:
    keys = blocking_keys(fields)
    if fields.first_name and fields.last_name:
        for key in first_name_keys(fields.last_name) or {fields.last_name}:
            keys.add(("fl", f"{fields.first_name}|{key}"))
        keys.add(("lf", f"{fields.last_name}|{fields.first_name}"))
        if sounds := _sound_key(fields.last_name, fields.first_name):
            keys.add(("ss", sounds))
    return keys


def replace_match_keys(session: Session, profile_id: uuid.UUID, fields: MatchFields, *, new: bool = False) -> None:
    wanted = _hashed(vault(session), blocking_keys(fields))
    current = (
        {}
        if new
        else {(k.kind, k.key): k for k in session.scalars(select(MatchKey).where(MatchKey.profile_id == profile_id))}
    )
    for pair, row in current.items():
        if pair not in wanted:
            session.delete(row)
    for kind, key in sorted(wanted - set(current)):
        session.add(MatchKey(profile_id=profile_id, kind=kind, key=key))
    session.flush()


def _identity_hits(session: Session, pairs: list[tuple[str, str]]) -> dict[tuple[str, str], set[uuid.UUID]]:
    """Live profiles holding each (kind, blind index)."""
    if not pairs:
        return {}
    rows = session.execute(
        select(Identity.kind, Identity.blind_index, Identity.profile_id)
        .join(Profile, col(Profile.id) == col(Identity.profile_id))
        .where(
            col(Identity.kind).in_(sorted({k for k, _ in pairs})),  # the index is (kind, blind_index)
            col(Identity.blind_index).in_([b for _, b in pairs]),
            col(Profile.merged_into).is_(None),
        )
    )
    hits: dict[tuple[str, str], set[uuid.UUID]] = {}
    for kind, bidx, profile_id in rows:
        if (kind, bidx) in pairs:
            hits.setdefault((kind, bidx), set()).add(profile_id)
    return hits


def profile_fields(
    session: Session,
    profile: Profile,
    *,
    multi_profile: set[str] | None = None,
    identities: list[Identity] | None = None,
) -> MatchFields:
    golden = store.read_golden(session, profile)
    emails: set[str] = set()
    phones: set[str] = set()
    shared_e: set[str] = set()
    shared_p: set[str] = set()
    for identity in store.identities_of(session, profile.id) if identities is None else identities:
        if identity.kind not in (EMAIL, PHONE):
            continue
        value = store.identity_value(session, identity)
        (emails if identity.kind == EMAIL else phones).add(value)
        if identity.trust == "low" or (multi_profile and identity.blind_index in multi_profile):
            (shared_e if identity.kind == EMAIL else shared_p).add(value)
    return fields_from_golden(golden, emails=emails, phones=phones, shared_emails=shared_e, shared_phones=shared_p)


def _contact_identities(session: Session, profile_ids: set[uuid.UUID]) -> dict[uuid.UUID, list[Identity]]:
    """Email and phone identities of many profiles in one query (scoring reads every candidate's)."""
    out: dict[uuid.UUID, list[Identity]] = {pid: [] for pid in profile_ids}
    if profile_ids:
        rows = session.scalars(
            select(Identity).where(col(Identity.profile_id).in_(profile_ids), col(Identity.kind).in_([EMAIL, PHONE]))
        )
        for identity in rows:
            out[identity.profile_id].append(identity)
    return out


def _vetoed_profiles(session: Session, record_id: uuid.UUID, profile_ids: set[uuid.UUID]) -> set[uuid.UUID]:
    vetoed_records = set(session.scalars(select(MergeVeto.record_b).where(MergeVeto.record_a == record_id))) | set(
        session.scalars(select(MergeVeto.record_a).where(MergeVeto.record_b == record_id))
    )
    if not vetoed_records:
        return set()
    return set(
        session.scalars(
            select(SourceRecord.profile_id).where(
                col(SourceRecord.id).in_(vetoed_records), col(SourceRecord.profile_id).in_(profile_ids)
            )
        )
    )


LOCK_NAMESPACE = 0x63647069  # "cdpi": the first key of the two-key advisory locks resolution takes
LOCK_BUCKETS = 1024


def lock_keys(session: Session, keys: Iterable[str]) -> None:
    """Serialise concurrent resolution of the same identifiers on PostgreSQL (SQLite's writer lock already does).

    Keys hash into a fixed number of buckets: a bulk batch then holds at most LOCK_BUCKETS locks instead of
    one per identifier, which overflowed PostgreSQL's shared lock table (`out of shared memory`) at 2,000
    records. Two batches sharing a bucket only wait for each other. Buckets are locked in ascending order,
    in one statement, so two batches cannot deadlock.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    buckets = sorted(
        {int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big") % LOCK_BUCKETS for key in keys}
    )
    if not buckets:
        return
    session.execute(
        text(
            "SELECT count(pg_advisory_xact_lock(:ns, b)) "
            "FROM (SELECT unnest(CAST(:buckets AS integer[])) AS b ORDER BY 1) AS ordered"
        ),
        {"ns": LOCK_NAMESPACE, "buckets": buckets},
    )


def record_lock_keys(v: Vault, fields: MatchFields, external: tuple[str, str]) -> list[str]:
    keys = [v.blind_index(*external)]
    keys += [v.blind_index(EMAIL, e) for e in fields.emails]
    keys += [v.blind_index(PHONE, p) for p in fields.phones]
    keys += [k for _, k in _hashed(v, blocking_keys(fields))]
    return keys


def resolve(
    session: Session, fields: MatchFields, *, record_id: uuid.UUID | None = None, exclude: set[uuid.UUID] | None = None
) -> Resolution:
    v = vault(session)
    identifier_keys = [(EMAIL, v.blind_index(EMAIL, e)) for e in fields.emails]
    identifier_keys += [(PHONE, v.blind_index(PHONE, p)) for p in fields.phones]
    hits = {k: owners - (exclude or set()) for k, owners in _identity_hits(session, identifier_keys).items()}
    hits = {k: owners for k, owners in hits.items() if owners}
    multi = {bidx for (_, bidx), owners in hits.items() if len(owners) > 1}
    candidate_ids: set[uuid.UUID] = set().union(*hits.values()) if hits else set()
    probes = _hashed(v, _probe_keys(fields))
    if probes:
        rows = session.execute(
            select(MatchKey.profile_id, MatchKey.kind, MatchKey.key)
            .where(
                col(MatchKey.kind).in_(sorted({k for k, _ in probes})), col(MatchKey.key).in_([k for _, k in probes])
            )
            .limit(MAX_CANDIDATES * 4)
        )
        candidate_ids |= {pid for pid, kind, key in rows if (kind, key) in probes}
    candidate_ids -= exclude or set()
    if len(candidate_ids) > MAX_CANDIDATES:
        # Prefer candidates that share an identifier, then the most recently active.
        by_identifier = set().union(*hits.values()) if hits else set()
        ranked = session.execute(
            select(Profile.id).where(col(Profile.id).in_(candidate_ids)).order_by(col(Profile.last_activity_at).desc())
        ).scalars()
        ordered = sorted(ranked, key=lambda pid: pid not in by_identifier)
        candidate_ids = set(ordered[:MAX_CANDIDATES])
    shared_here = {
        value
        for kind, values in ((EMAIL, fields.emails), (PHONE, fields.phones))
        for value in values
        if v.blind_index(kind, value) in multi
    }
    incoming = MatchFields(
        emails=fields.emails,
        phones=fields.phones,
        first_name=fields.first_name,
        first_name_keys=fields.first_name_keys,
        last_name=fields.last_name,
        company=fields.company,
        city=fields.city,
        country=fields.country,
        shared_emails=fields.shared_emails | (shared_here & fields.emails),
        shared_phones=fields.shared_phones | (shared_here & fields.phones),
    )
    model = model_for(session)
    resolution = Resolution(profile=None, candidates=len(candidate_ids))
    if not candidate_ids:
        return resolution
    profiles = list(
        session.scalars(select(Profile).where(col(Profile.id).in_(candidate_ids), col(Profile.merged_into).is_(None)))
    )
    ids = {p.id for p in profiles}
    v.load_keys(ids)
    identities = _contact_identities(session, ids)
    skip = _vetoed_profiles(session, record_id, ids) if record_id is not None else set()
    scored: list[Candidate] = []
    for profile in profiles:
        if profile.id in skip:
            continue
        fields_b = profile_fields(session, profile, multi_profile=multi, identities=identities[profile.id])
        scored.append(Candidate(profile, score(incoming, fields_b, model)))
    # Ties go to the oldest profile, so a replay in the same order (a rebuild) decides the same way.
    scored.sort(key=lambda c: (-c.score.weight, c.profile.created_at, str(c.profile.id)))
    merges = [c for c in scored if c.score.decision == "merge"]
    resolution.review = [c for c in scored if c.score.decision == "review"]
    resolution.best = scored[0] if scored else None
    if merges:
        resolution.profile = merges[0].profile
        resolution.merge_with = merges[1:]
    return resolution


def count_live_profiles(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(Profile).where(col(Profile.merged_into).is_(None))) or 0)
