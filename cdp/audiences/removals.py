"""Removal tasks: tell each destination a person was synced to that they are gone (GDPR Art. 19).

`queue_removals` copies the destination's own member keys (a Mailchimp subscriber hash, an opaque cdp
reference) out of the snapshot into one task per destination and drops the snapshot rows, so an erasure can
delete everything about the person right after and the task still knows whom to remove. `process_removals`
pushes the tasks through each destination's `remove(refs, erase=)`, tracks attempts, and destroys the task's
key once the destination confirmed. Neither function commits.
"""

import datetime as dt
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import delete
from sqlalchemy.orm import Session
from sqlmodel import col, select

from cdp.audiences.models import AudienceMembershipSnapshot, DestinationRemoval
from cdp.audit.log import SYSTEM, Actor, append
from cdp.connectors.base import ConnectorConfig, Destination
from cdp.connectors.config import connector_config
from cdp.connectors.http import HttpClient
from cdp.connectors.registry import get_destination
from cdp.crypto.envelope import vault
from cdp.db import utcnow
from cdp.errors import CdpError
from cdp.settings import Settings

log = logging.getLogger(__name__)

REF_CONTEXT = "audience_member_ref"
TASK_REFS_CONTEXT = "destination_removal_refs"
MAX_ATTEMPTS = 8

OpenClient = Callable[[Destination, ConnectorConfig], HttpClient]


def seal_ref(session: Session, profile_id: uuid.UUID, ref: str) -> bytes:
    return vault(session).encrypt(profile_id, ref.encode(), context=REF_CONTEXT)


def open_ref(session: Session, profile_id: uuid.UUID, blob: bytes) -> str:
    return vault(session).decrypt(profile_id, blob, context=REF_CONTEXT).decode()


def seal_task_refs(session: Session, task: DestinationRemoval, refs: list[str]) -> None:
    v = vault(session)
    if not v.has_key(task.id):
        v.create_key(task.id)
    task.sealed_refs = v.encrypt_json(task.id, refs, context=TASK_REFS_CONTEXT)


def task_refs(session: Session, task: DestinationRemoval) -> list[str]:
    """The member keys still to remove; empty once the destination confirmed (the task's key is gone)."""
    if task.sealed_refs is None or not vault(session).has_key(task.id):
        return []
    return list(vault(session).decrypt_json(task.id, task.sealed_refs, context=TASK_REFS_CONTEXT))


def _close_refs(session: Session, task: DestinationRemoval) -> None:
    task.sealed_refs = None
    vault(session).destroy_key(task.id)


def queue_removals(
    session: Session,
    profile_id: uuid.UUID,
    *,
    erase: bool,
    reason: str,
    actor: Actor = SYSTEM,
) -> list[str]:
    """Queue one removal per destination the person was synced to; returns those destinations' names.

    Call it before erasing (it needs the person's data key to read the snapshot's refs). `reason` is an id or
    a rule name (`erasure`, `restriction`, a request id), never free text about the person.
    """
    rows = list(session.scalars(select(AudienceMembershipSnapshot).where(
        AudienceMembershipSnapshot.profile_id == profile_id
    )))  # fmt: skip
    refs: dict[str, list[str]] = {}
    for row in rows:
        if row.member_ref is None:
            continue
        ref = open_ref(session, profile_id, row.member_ref)
        wanted = refs.setdefault(row.destination, [])
        if ref not in wanted:
            wanted.append(ref)
    now = utcnow()
    for destination, wanted in sorted(refs.items()):
        task = DestinationRemoval(
            destination=destination,
            profile_id=profile_id,
            ref_count=len(wanted),
            erase=erase,
            reason=reason[:64],
            created_at=now,
            updated_at=now,
        )
        seal_task_refs(session, task, wanted)
        session.add(task)
    if rows:
        session.execute(
            delete(AudienceMembershipSnapshot).where(col(AudienceMembershipSnapshot.profile_id) == profile_id)
        )
    session.flush()
    names = sorted(refs)
    if names:
        append(
            session,
            actor=actor,
            action="audience.removals_queued",
            resource_type="profile",
            resource_id=profile_id,
            details={"destinations": names, "erase": erase, "reason": reason[:64]},
        )
    return names


@dataclass
class RemovalReport:
    done: int = 0
    retrying: int = 0
    failed: int = 0
    by_destination: dict[str, int] = field(default_factory=dict)


def removals_of(session: Session, profile_id: uuid.UUID) -> list[DestinationRemoval]:
    return list(
        session.scalars(
            select(DestinationRemoval)
            .where(DestinationRemoval.profile_id == profile_id)
            .order_by(col(DestinationRemoval.created_at))
        )
    )


def pending_removals(session: Session, *, limit: int = 100) -> list[DestinationRemoval]:
    return list(
        session.scalars(
            select(DestinationRemoval)
            .where(DestinationRemoval.status == "pending")
            .order_by(col(DestinationRemoval.created_at), col(DestinationRemoval.id))
            .limit(limit)
        )
    )


def _default_client(destination: Destination, config: ConnectorConfig) -> HttpClient:
    return destination.client(config)


def _fail(task: DestinationRemoval, error: str, max_attempts: int, report: RemovalReport) -> None:
    task.last_error = error[:200]
    if task.attempts >= max_attempts:
        task.status = "failed"
        report.failed += 1
    else:
        report.retrying += 1


def process_removals(
    session: Session,
    *,
    settings: Settings,
    limit: int = 100,
    max_attempts: int = MAX_ATTEMPTS,
    open_client: OpenClient = _default_client,
    actor: Actor = SYSTEM,
    now: dt.datetime | None = None,
) -> RemovalReport:
    """Push pending removal tasks to their destinations. A task stays `pending` (with `attempts` and
    `last_error`) until the destination confirms every ref, and becomes `failed` after `max_attempts`."""
    report = RemovalReport()
    for task in pending_removals(session, limit=limit):
        task.attempts += 1
        task.updated_at = now or utcnow()
        destination = get_destination(task.destination)
        if destination is None:
            _fail(task, "destination-not-registered", max_attempts, report)
            continue
        try:
            config = connector_config(settings, task.destination)
            with open_client(destination, config) as http:
                refs = task_refs(session, task)
                result = destination.remove(http, config, refs, erase=task.erase)
        except CdpError as exc:
            log.warning(
                "audience.removal_failed",
                extra={"destination": task.destination, "error": exc.slug, "attempt": task.attempts},
            )
            _fail(task, exc.slug, max_attempts, report)
            continue
        left = [r for r in refs if r not in set(result.done)]
        if left:
            seal_task_refs(session, task, left)
            codes = sorted(set(result.failed.values())) or ["not-confirmed"]
            _fail(task, ",".join(codes), max_attempts, report)
            continue
        _close_refs(session, task)
        task.status = "done"
        task.last_error = None
        task.completed_at = now or utcnow()
        report.done += 1
        report.by_destination[task.destination] = report.by_destination.get(task.destination, 0) + 1
        append(
            session,
            actor=actor,
            action="audience.removal_done",
            resource_type="destination_removal",
            resource_id=task.id,
            details={"destination": task.destination, "refs": task.ref_count, "erase": task.erase},
        )
    session.flush()
    return report
