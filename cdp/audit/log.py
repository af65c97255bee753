"""Appending to the hash-chained audit log and verifying the chain.

hash_n = SHA-256(prev_hash || JCS(entry_n)), JCS being RFC 8785 canonical JSON, so the hashes survive
code and library changes. Entries carry ids, counts and field names only: never personal data.
"""

import datetime as dt
import hashlib
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import rfc8785
from sqlalchemy import insert, text
from sqlalchemy.orm import Session
from sqlmodel import col, select

from cdp.audit.models import AuditEntry
from cdp.db import utcnow

GENESIS = "0" * 64
_LOCK_KEY = 0x63647061  # "cdpa": one advisory lock serialises appends to the chain on PostgreSQL
_EMAIL_LIKE = re.compile(r"[^@\s]+@[^@\s]+")


@dataclass(frozen=True)
class Actor:
    id: str
    role: str


SYSTEM = Actor("system", "system")


def _hashable(entry: AuditEntry) -> dict[str, Any]:
    return {
        "seq": entry.seq,
        "at": entry.at.astimezone(dt.UTC).isoformat(timespec="microseconds"),
        "actor": {"id": entry.actor_id, "role": entry.actor_role},
        "action": entry.action,
        "resource": {"type": entry.resource_type, "id": entry.resource_id},
        "outcome": entry.outcome,
        "details": entry.details,
        "prev_hash": entry.prev_hash,
    }


def entry_hash(entry: AuditEntry) -> str:
    return hashlib.sha256(entry.prev_hash.encode() + rfc8785.dumps(_hashable(entry))).hexdigest()


def _check_no_personal_data(details: Mapping[str, Any]) -> None:
    for key, value in details.items():
        values = value if isinstance(value, list | tuple) else [value]
        for item in values:
            if isinstance(item, str) and _EMAIL_LIKE.search(item):
                raise ValueError(f"audit detail {key!r} looks like personal data; audit entries hold ids only")
            if not isinstance(item, str | int | bool | float | type(None)):
                raise TypeError(f"audit detail {key!r} must be a scalar or a list of scalars")


def append(
    session: Session,
    *,
    actor: Actor,
    action: str,
    resource_type: str,
    resource_id: object = None,
    outcome: str = "ok",
    details: Mapping[str, Any] | None = None,
    at: dt.datetime | None = None,
) -> AuditEntry:
    details = dict(details or {})
    _check_no_personal_data(details)
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
    head = session.execute(
        select(AuditEntry.seq, AuditEntry.hash).order_by(col(AuditEntry.seq).desc()).limit(1)
    ).first()
    entry = AuditEntry(
        seq=(head[0] + 1) if head else 1,
        at=at or utcnow(),
        actor_id=actor.id,
        actor_role=actor.role,
        action=action,
        resource_type=resource_type,
        resource_id=None if resource_id is None else str(resource_id),
        outcome=outcome,
        details=details,
        prev_hash=head[1] if head else GENESIS,
        hash="",
    )
    entry.hash = entry_hash(entry)
    session.add(entry)
    session.flush()
    return entry


@dataclass(frozen=True)
class Pending:
    """One entry of `append_many`: what `append` takes, minus the session."""

    actor: Actor
    action: str
    resource_type: str
    resource_id: object = None
    details: Mapping[str, Any] | None = None
    outcome: str = "ok"


def append_many(session: Session, entries: Sequence[Pending], *, at: dt.datetime | None = None) -> None:
    """Chain many entries with one read of the head and one executemany (a bulk import writes one per record)."""
    if not entries:
        return
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
    session.flush()
    head = session.execute(
        select(AuditEntry.seq, AuditEntry.hash).order_by(col(AuditEntry.seq).desc()).limit(1)
    ).first()
    seq, prev = (head[0], head[1]) if head else (0, GENESIS)
    when = at or utcnow()
    rows: list[dict[str, Any]] = []
    stamp = when.astimezone(dt.UTC).isoformat(timespec="microseconds")
    for pending in entries:
        details = dict(pending.details or {})
        _check_no_personal_data(details)
        seq += 1
        row = {
            "seq": seq,
            "at": when,
            "actor_id": pending.actor.id,
            "actor_role": pending.actor.role,
            "action": pending.action,
            "resource_type": pending.resource_type,
            "resource_id": None if pending.resource_id is None else str(pending.resource_id),
            "outcome": pending.outcome,
            "details": details,
            "prev_hash": prev,
        }
        hashable: dict[str, Any] = {
            "seq": seq,
            "at": stamp,
            "actor": {"id": row["actor_id"], "role": row["actor_role"]},
            "action": row["action"],
            "resource": {"type": row["resource_type"], "id": row["resource_id"]},
            "outcome": row["outcome"],
            "details": details,
            "prev_hash": prev,
        }
        row["hash"] = prev = hashlib.sha256(prev.encode() + rfc8785.dumps(hashable)).hexdigest()
        rows.append(row)
    session.execute(insert(AuditEntry.__table__), rows)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    entries: int
    head_hash: str
    broken_at: int | None = None
    problem: str | None = None


def _walk(session: Session) -> Iterator[AuditEntry]:
    yield from session.scalars(select(AuditEntry).order_by(col(AuditEntry.seq)).execution_options(yield_per=1000))


def verify_chain(session: Session, *, expected_head: str | None = None) -> ChainReport:
    """Walk the chain; report the first entry that was modified, or the first gap left by a deletion.

    A deleted *tail* leaves a valid shorter chain, so pass a head hash recorded earlier
    (`cdp audit head`) as `expected_head` to detect truncation.
    """
    prev, count, expected_seq, seen_expected = GENESIS, 0, 1, expected_head is None
    for entry in _walk(session):
        if entry.seq != expected_seq:
            return ChainReport(False, count, prev, entry.seq, f"entries {expected_seq}..{entry.seq - 1} are missing")
        if entry.prev_hash != prev:
            return ChainReport(False, count, prev, entry.seq, "prev_hash does not match the entry before it")
        if entry_hash(entry) != entry.hash:
            return ChainReport(False, count, prev, entry.seq, "entry content does not match its hash")
        prev, count, expected_seq = entry.hash, count + 1, expected_seq + 1
        seen_expected = seen_expected or entry.hash == expected_head
    if not seen_expected:
        return ChainReport(False, count, prev, None, "the expected head hash is not in the chain: entries were removed")
    return ChainReport(True, count, prev)


def list_entries(session: Session, *, after_seq: int, limit: int) -> list[AuditEntry]:
    return list(
        session.scalars(select(AuditEntry).where(AuditEntry.seq > after_seq).order_by(col(AuditEntry.seq)).limit(limit))
    )
