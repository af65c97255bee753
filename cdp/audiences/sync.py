"""`sync`: the one way out. Diff an audience's members against the snapshot of what its destination last
received, push removals then additions and changes in batches, and commit each batch with its snapshot rows.

Each batch is one unit of work: the destination call, then the snapshot rows of the members it confirmed. A
sync that crashes or is throttled resumes from the snapshot, so members already confirmed are not pushed
again; at most the batch in flight is sent twice, which the destinations' upserts absorb. Consent is checked
again inside every batch, right before the push, so a withdrawal that lands mid-sync is honoured.
"""

import dataclasses
import datetime as dt
import json
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from sqlalchemy import delete, or_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlmodel import col, select

from cdp.audiences.definitions import InvalidAudience, get_audience_or_raise
from cdp.audiences.membership import Contact, candidates, read_contacts
from cdp.audiences.models import Audience, AudienceMembershipSnapshot
from cdp.audiences.removals import open_ref, seal_ref
from cdp.audiences.unsubscribe import unsubscribe_token, unsubscribe_url
from cdp.audit.log import Actor, append
from cdp.connectors.base import ConnectorConfig, Destination, Member
from cdp.connectors.config import connector_config
from cdp.connectors.http import HttpClient
from cdp.connectors.registry import get_destination
from cdp.crypto.envelope import vault
from cdp.db import Stores, unit_of_work, utcnow
from cdp.errors import CdpError, Conflict
from cdp.ingest.models import ConnectorState
from cdp.settings import Settings

log = logging.getLogger(__name__)

OpenClient = Callable[[Destination, ConnectorConfig], HttpClient]
BatchHook = Callable[[str, int], None]
"""Called after each committed batch with ("remove" | "upsert", batch number); tests use it to crash."""


LEASE = dt.timedelta(minutes=15)
"""A sync holds its audience's lease (a `connector_state` row), renewed by every batch; a crashed sync's lease
lapses after this long."""


class SyncRunning(Conflict):
    slug = "audience-sync-running"
    title = "Audience sync already running"


def _lease_key(audience_id: uuid.UUID) -> str:
    return f"audience:{audience_id.hex}"


def _acquire(stores: Stores, audience_id: uuid.UUID) -> None:
    key = _lease_key(audience_id)
    with unit_of_work(stores) as session:
        get_audience_or_raise(session, audience_id)
        if session.get(ConnectorState, key) is None:
            try:
                with session.begin_nested():
                    session.add(ConnectorState(connector=key, status="idle"))
            except IntegrityError:
                pass  # another sync created it first; the compare-and-set below decides
        now = utcnow()
        taken = session.execute(
            update(ConnectorState)
            .where(
                col(ConnectorState.connector) == key,
                or_(col(ConnectorState.status) != "running", col(ConnectorState.updated_at) < now - LEASE),
            )
            .values(status="running", updated_at=now, last_error=None)
        )
        if int(getattr(taken, "rowcount", 0) or 0) != 1:
            raise SyncRunning(
                "another sync of this audience is running; try again when it has finished",
                audience_id=str(audience_id),
            )


def _renew(session: Session, audience_id: uuid.UUID) -> None:
    session.execute(
        update(ConnectorState)
        .where(col(ConnectorState.connector) == _lease_key(audience_id))
        .values(updated_at=utcnow())
    )


def _release(stores: Stores, audience_id: uuid.UUID, error: str | None) -> None:
    with unit_of_work(stores) as session:
        session.execute(
            update(ConnectorState)
            .where(col(ConnectorState.connector) == _lease_key(audience_id))
            .values(status="failed" if error else "idle", last_error=error, updated_at=utcnow())
        )


@dataclass
class SyncReport:
    audience_id: uuid.UUID
    destination: str
    dry_run: bool = False
    status: Literal["completed", "stopped"] = "completed"
    to_add: int = 0
    to_update: int = 0
    to_remove: int = 0
    unchanged: int = 0
    added: int = 0
    updated: int = 0
    removed: int = 0
    failed: int = 0
    batches: int = 0
    failures: dict[str, int] = field(default_factory=dict)  # the tool's reason code -> members
    error: str | None = None


@dataclass
class Plan:
    adds: list[uuid.UUID] = field(default_factory=list)
    updates: list[uuid.UUID] = field(default_factory=list)
    removes: list[uuid.UUID] = field(default_factory=list)
    unchanged: int = 0


def cdp_ref(session: Session, identity_id: uuid.UUID) -> str:
    """cdp's own opaque key for a contact point, for destinations without one (SendGrid external_id, webhooks)."""
    return "cdp-" + vault(session).blind_index("audience-member-ref", identity_id.hex)[:32]


def build_member(
    session: Session, contact: Contact, audience: Audience, destination: Destination, base_url: str | None
) -> Member:
    c = contact.candidate
    member = Member(
        ref=cdp_ref(session, c.identity_id),
        email=contact.value if c.kind == "email" else None,
        phone=contact.value if c.kind == "phone" else None,
        first_name=contact.first_name,
        last_name=contact.last_name,
        purpose=audience.purpose,
        consented_at=c.consented_at,
        consent_ip=contact.consent_ip,
        unsubscribe_url=unsubscribe_url(base_url, unsubscribe_token(session, c.identity_id, audience.purpose)),
    )
    return dataclasses.replace(member, ref=destination.member_ref(member))


def checksum(session: Session, member: Member, destination: str) -> str:
    """A keyed hash of what the destination holds for the member: an unchanged member is not pushed again."""
    fields = dataclasses.asdict(member)
    fields["consented_at"] = member.consented_at.isoformat() if member.consented_at else None
    payload = json.dumps([destination, fields], sort_keys=True, separators=(",", ":"))
    return vault(session).blind_index("audience-member-checksum", payload)


def _snapshot(session: Session, audience: Audience, destination: str) -> dict[uuid.UUID, AudienceMembershipSnapshot]:
    rows = session.scalars(
        select(AudienceMembershipSnapshot).where(
            AudienceMembershipSnapshot.audience_id == audience.id,
            AudienceMembershipSnapshot.destination == destination,
        )
    )
    return {r.identity_id: r for r in rows}


def _members(
    session: Session,
    audience: Audience,
    destination: Destination,
    base_url: str | None,
    identity_ids: Sequence[uuid.UUID] | None = None,
    now: dt.datetime | None = None,
) -> list[tuple[Contact, Member]]:
    out: list[tuple[Contact, Member]] = []
    after: uuid.UUID | None = None
    while True:
        page = candidates(session, audience, now=now, identity_ids=identity_ids, after=after, limit=1000)
        if not page:
            return out
        out += [(c, build_member(session, c, audience, destination, base_url)) for c in read_contacts(session, page)]
        after = page[-1].identity_id


def plan_sync(
    session: Session,
    audience: Audience,
    destination: Destination,
    *,
    base_url: str | None,
    now: dt.datetime | None = None,
) -> Plan:
    """Who the destination must gain, change or lose (identity ids); reads, never writes."""
    snapshot = _snapshot(session, audience, destination.name)
    plan = Plan()
    wanted: set[uuid.UUID] = set()
    for contact, member in _members(session, audience, destination, base_url, now=now):
        identity_id = contact.candidate.identity_id
        wanted.add(identity_id)
        row = snapshot.get(identity_id)
        if row is None:
            plan.adds.append(identity_id)
        elif row.checksum != checksum(session, member, destination.name):
            plan.updates.append(identity_id)
        else:
            plan.unchanged += 1
    plan.removes = sorted(set(snapshot) - wanted)
    return plan


def _chunks(ids: list[uuid.UUID], size: int) -> list[list[uuid.UUID]]:
    return [ids[i : i + size] for i in range(0, len(ids), size)]


def _resolve(session: Session, audience: Audience) -> Destination:
    if audience.destination is None:
        raise InvalidAudience("this audience has no destination to sync to", field="destination")
    destination = get_destination(audience.destination)
    if destination is None:
        raise InvalidAudience("the audience's destination connector is not registered", field="destination")
    return destination


def _push_removals(
    session: Session,
    audience: Audience,
    destination: Destination,
    http: HttpClient,
    config: ConnectorConfig,
    ids: list[uuid.UUID],
    report: SyncReport,
) -> None:
    rows = [r for i, r in _snapshot(session, audience, destination.name).items() if i in set(ids)]
    by_ref: dict[str, list[AudienceMembershipSnapshot]] = {}
    for row in rows:
        if row.member_ref is not None:
            by_ref.setdefault(open_ref(session, row.profile_id, row.member_ref), []).append(row)
    result = destination.remove(http, config, sorted(by_ref), erase=False) if by_ref else None
    done = set(result.done) if result else set()
    for ref, matched in by_ref.items():
        if ref in done:
            for row in matched:
                session.delete(row)
            report.removed += 1
    for row in rows:
        if row.member_ref is None:  # nothing the destination could be told: forget it
            session.delete(row)
    if result is not None:
        _count_failures(report, result.failed)


def _count_failures(report: SyncReport, failed: dict[str, str]) -> None:
    report.failed += len(failed)
    for code in failed.values():
        report.failures[code] = report.failures.get(code, 0) + 1


def _push_upserts(
    session: Session,
    audience: Audience,
    destination: Destination,
    http: HttpClient,
    config: ConnectorConfig,
    ids: list[uuid.UUID],
    base_url: str | None,
    report: SyncReport,
) -> None:
    # Membership again, inside this unit of work: a withdrawal since the plan keeps the member out.
    pairs = _members(session, audience, destination, base_url, identity_ids=ids)
    if not pairs:
        return
    snapshot = _snapshot(session, audience, destination.name)
    result = destination.upsert(http, config, [m for _, m in pairs])
    done = set(result.done)
    now = utcnow()
    with session.no_autoflush:
        _record_pushed(session, audience, destination.name, pairs, done, snapshot, now, report)
    _count_failures(report, result.failed)


def _record_pushed(
    session: Session,
    audience: Audience,
    destination: str,
    pairs: list[tuple[Contact, Member]],
    done: set[str],
    snapshot: dict[uuid.UUID, AudienceMembershipSnapshot],
    now: dt.datetime,
    report: SyncReport,
) -> None:
    for contact, member in pairs:
        if member.ref not in done:
            continue
        c = contact.candidate
        row = snapshot.get(c.identity_id)
        if row is None:
            row = AudienceMembershipSnapshot(
                audience_id=audience.id,
                destination=destination,
                profile_id=c.profile_id,
                identity_id=c.identity_id,
            )
            report.added += 1
        else:
            report.updated += 1
        row.profile_id = c.profile_id
        row.member_ref = seal_ref(session, c.profile_id, member.ref)
        row.checksum = checksum(session, member, destination)
        row.synced_at = now
        session.add(row)


def _default_client(destination: Destination, config: ConnectorConfig) -> HttpClient:
    return destination.client(config)


def sync(
    stores: Stores,
    audience_id: uuid.UUID,
    *,
    settings: Settings,
    actor: Actor,
    dry_run: bool = False,
    batch_size: int | None = None,
    open_client: OpenClient = _default_client,
    after_batch: BatchHook | None = None,
) -> SyncReport:
    """Bring the audience's destination in line with its consented members (see the module docstring).

    `dry_run` only counts what would be added, changed and removed. Raises the connector's error (with every
    batch before it committed) when the destination keeps failing or asks cdp to wait.
    """
    if not dry_run:
        _acquire(stores, audience_id)
    try:
        report = _sync(stores, audience_id, settings, actor, dry_run, batch_size, open_client, after_batch)
    except CdpError as exc:
        if not dry_run:
            _release(stores, audience_id, exc.slug)
        raise
    except BaseException:
        if not dry_run:
            _release(stores, audience_id, "interrupted")
        raise
    if not dry_run:
        _release(stores, audience_id, None)
    return report


def _sync(
    stores: Stores,
    audience_id: uuid.UUID,
    settings: Settings,
    actor: Actor,
    dry_run: bool,
    batch_size: int | None,
    open_client: OpenClient,
    after_batch: BatchHook | None,
) -> SyncReport:
    size = batch_size or settings.audience_sync_batch
    base_url = settings.public_base_url
    with unit_of_work(stores) as session:
        audience = get_audience_or_raise(session, audience_id)
        destination = _resolve(session, audience)
        plan = plan_sync(session, audience, destination, base_url=base_url)
        report = SyncReport(
            audience_id=audience.id,
            destination=destination.name,
            dry_run=dry_run,
            to_add=len(plan.adds),
            to_update=len(plan.updates),
            to_remove=len(plan.removes),
            unchanged=plan.unchanged,
        )
        append(
            session,
            actor=actor,
            action="audience.sync_previewed" if dry_run else "audience.sync_started",
            resource_type="audience",
            resource_id=audience.id,
            details={
                "destination": destination.name,
                "to_add": report.to_add,
                "to_update": report.to_update,
                "to_remove": report.to_remove,
                "unchanged": report.unchanged,
            },
        )
    if dry_run or not (plan.adds or plan.updates or plan.removes):
        if not dry_run:
            _finish(stores, report, actor)
        return report
    config = connector_config(settings, destination.name)
    try:
        with open_client(destination, config) as http:
            for ids in _chunks(plan.removes, size):
                with unit_of_work(stores) as session:
                    audience = get_audience_or_raise(session, audience_id)
                    _push_removals(session, audience, destination, http, config, ids, report)
                    _renew(session, audience_id)
                report.batches += 1
                if after_batch is not None:
                    after_batch("remove", report.batches)
            for ids in _chunks(plan.adds + plan.updates, size):
                with unit_of_work(stores) as session:
                    audience = get_audience_or_raise(session, audience_id)
                    _push_upserts(session, audience, destination, http, config, ids, base_url, report)
                    _renew(session, audience_id)
                report.batches += 1
                if after_batch is not None:
                    after_batch("upsert", report.batches)
    except CdpError as exc:
        report.status = "stopped"
        report.error = exc.slug
        with unit_of_work(stores) as session:
            append(
                session,
                actor=actor,
                action="audience.sync_stopped",
                resource_type="audience",
                resource_id=audience_id,
                outcome="error",
                details={"destination": destination.name, "batches": report.batches, "error": exc.slug},
            )
        raise
    _finish(stores, report, actor)
    return report


def _finish(stores: Stores, report: SyncReport, actor: Actor) -> None:
    with unit_of_work(stores) as session:
        append(
            session,
            actor=actor,
            action="audience.sync_finished",
            resource_type="audience",
            resource_id=report.audience_id,
            details={
                "destination": report.destination,
                "added": report.added,
                "updated": report.updated,
                "removed": report.removed,
                "failed": report.failed,
                "batches": report.batches,
            },
        )
    log.info(
        "audience.sync_done",
        extra={
            "audience_id": str(report.audience_id),
            "destination": report.destination,
            "added": report.added,
            "updated": report.updated,
            "removed": report.removed,
            "failed": report.failed,
        },
    )


def forget_snapshot(session: Session, audience_id: uuid.UUID) -> int:
    """Drop an audience's snapshot (the next sync pushes everyone again)."""
    result = session.execute(
        delete(AudienceMembershipSnapshot).where(col(AudienceMembershipSnapshot.audience_id) == audience_id)
    )
    return int(getattr(result, "rowcount", 0) or 0)
