"""Appending to the consent ledger: validate against the catalog, append, re-fold the subject.

Objections to direct marketing fan out to every direct-marketing purpose and contact point of the profile;
a GPC signal refuses every sale/share and profiling purpose. Changes made by people or signals (the API,
forms) also write a `consent_changed` timeline event and an audit entry with ids only.

A `soft_opt_in` grant (PECR reg. 22(3)) must link to a timeline event of the same profile whose type is one of
SALE_EVENT_TYPES (the sale, or negotiations for a sale, the contact details were obtained in) and that happened
no later than the grant. Connectors and CRM syncs should write their orders and deals with these types.
"""

import datetime as dt
import uuid
from typing import Any

from sqlalchemy.orm import Session
from sqlmodel import col, select

from cdp.audit.log import SYSTEM, Actor, append
from cdp.consent.catalog import Checked, channel_covered, check_consent, purposes_of
from cdp.consent.errors import ContactPointNotFound, InvalidConsent
from cdp.consent.models import SCHEMA_VERSION, ConsentEvent
from cdp.consent.state import refold_subject, states_of
from cdp.crypto.envelope import vault
from cdp.policies import Purpose
from cdp.profiles import store
from cdp.profiles.models import Event, Identity, Profile

PROOF = "consent_event.proof"
# Timeline event types that count as "a sale or negotiations for the sale" (PECR reg. 22(3)(a)).
SALE_EVENT_TYPES = frozenset({"purchase_completed", "order_completed", "sale_negotiated", "deal_opened"})
CONTACT_KINDS = ("email", "phone")
__all__ = [
    "PROOF",
    "change_consent",
    "record_consent",
    "record_consent_events",
    "record_gpc_signal",
    "states_of",
]


def _channel(session: Session, identity_id: uuid.UUID | None) -> str:
    if identity_id is None:
        return "any"
    identity = session.get(Identity, identity_id)
    return identity.kind if identity is not None and identity.kind in CONTACT_KINDS else "any"


def _record_id(session: Session, profile_id: uuid.UUID, identity_id: uuid.UUID | None, purpose: str) -> uuid.UUID:
    """The subject's record id if it has one already (the fold unifies any stragglers), else a new UUIDv4."""
    existing = session.scalars(
        select(ConsentEvent.record_id)
        .where(
            ConsentEvent.profile_id == profile_id,
            col(ConsentEvent.identity_id).is_not_distinct_from(identity_id),
            ConsentEvent.purpose == purpose,
        )
        .order_by(col(ConsentEvent.occurred_at))
        .limit(1)
    ).first()
    return existing or uuid.uuid4()


def record_consent_events(
    session: Session,
    *,
    profile_id: uuid.UUID,
    identity_id: uuid.UUID | None,
    purpose: str,
    status: str,
    occurred_at: dt.datetime,
    source: str,
    method: str,
    channel: str | None = None,
    consent_type: str | None = None,
    lawful_basis: str | None = None,
    notice_id: str | None = None,
    notice_version: str | None = None,
    notice_sha256: str | None = None,
    language: str | None = None,
    indicated_by: str | None = None,
    actor: str = SYSTEM.id,
    expires_at: dt.datetime | None = None,
    jurisdiction: str | None = None,
    proof: dict[str, Any] | None = None,
    dedup_id: str | None = None,
    source_record_id: uuid.UUID | None = None,
    linked_event_id: uuid.UUID | None = None,
    notice_required: bool = False,
) -> list[ConsentEvent]:
    """Append one consent event (and an objection's fan-out); [] when this source already recorded it.

    Raises InvalidConsent when the purpose catalog does not allow the event. `channel` is the contact
    point's kind; it is looked up from `identity_id` when not given.
    """
    purposes = purposes_of(session)
    checked = check_consent(
        purposes,
        purpose=purpose,
        status=status,
        channel=channel or _channel(session, identity_id),
        method=method,
        occurred_at=occurred_at,
        consent_type=consent_type,
        notice_id=notice_id,
        notice_version=notice_version,
        notice_sha256=notice_sha256,
        linked_event_id=linked_event_id,
        opt_out_offered=proof is not None and proof.get("opt_out_offered") is True,
        notice_required=notice_required,
    )
    if linked_event_id is not None:
        _check_sale_link(session, profile_id, linked_event_id, occurred_at)
    if lawful_basis is not None and lawful_basis != checked.purpose.lawful_basis:
        raise InvalidConsent(
            f"purpose {purpose!r} rests on {checked.purpose.lawful_basis}, not {lawful_basis}",
            code="lawful_basis_mismatch",
            field="lawful_basis",
        )
    v = vault(session)
    dedup_key = v.blind_index(f"consent:{source}", dedup_id) if dedup_id else None
    if dedup_key is not None:
        seen = session.scalars(
            select(ConsentEvent.id).where(ConsentEvent.source == source, ConsentEvent.dedup_key == dedup_key)
        ).first()
        if seen is not None:
            return []
    event = _append(
        session,
        checked,
        profile_id=profile_id,
        identity_id=identity_id,
        status=status,
        occurred_at=occurred_at,
        source=source,
        method=method,
        consent_type=consent_type,
        notice_sha256=notice_sha256,
        language=language,
        indicated_by=indicated_by,
        actor=actor,
        expires_at=expires_at,
        jurisdiction=jurisdiction,
        proof=proof,
        dedup_key=dedup_key,
        source_record_id=source_record_id,
        linked_event_id=linked_event_id,
    )
    events = [event]
    if status == "objected" and checked.purpose.direct_marketing:
        events += _fan_out_objection(session, event, purposes.values(), proof=proof)
    return events


def _check_sale_link(
    session: Session, profile_id: uuid.UUID, linked_event_id: uuid.UUID, occurred_at: dt.datetime
) -> None:
    """The soft opt-in's sale or negotiation: a timeline event of this profile, of a sale type, not later."""
    linked = session.get(Event, linked_event_id)
    if linked is None or linked.profile_id != profile_id:
        raise InvalidConsent(
            "linked_event_id is not a timeline event of this profile",
            code="soft_opt_in_sale_not_found",
            field="linked_event_id",
        )
    if linked.type not in SALE_EVENT_TYPES:
        raise InvalidConsent(
            f"a soft opt-in must link to a sale or negotiation event ({', '.join(sorted(SALE_EVENT_TYPES))}), "
            f"not {linked.type}",
            code="soft_opt_in_not_a_sale",
            field="linked_event_id",
        )
    if linked.occurred_at > occurred_at:
        raise InvalidConsent(
            "the linked sale or negotiation happened after the soft opt-in's occurred_at",
            code="soft_opt_in_sale_later",
            field="linked_event_id",
        )


def record_consent(session: Session, **kwargs: Any) -> ConsentEvent | None:
    """`record_consent_events`, returning the event itself (None when it was a duplicate)."""
    events = record_consent_events(session, **kwargs)
    return events[0] if events else None


def _append(
    session: Session,
    checked: Checked,
    *,
    profile_id: uuid.UUID,
    identity_id: uuid.UUID | None,
    status: str,
    occurred_at: dt.datetime,
    source: str,
    method: str,
    consent_type: str | None,
    notice_sha256: str | None,
    language: str | None,
    indicated_by: str | None,
    actor: str,
    expires_at: dt.datetime | None,
    jurisdiction: str | None,
    proof: dict[str, Any] | None,
    dedup_key: str | None = None,
    source_record_id: uuid.UUID | None = None,
    linked_event_id: uuid.UUID | None = None,
) -> ConsentEvent:
    notice, purpose = checked.notice, checked.purpose
    event = ConsentEvent(
        record_id=_record_id(session, profile_id, identity_id, purpose.id),
        schema_version=SCHEMA_VERSION,
        profile_id=profile_id,
        identity_id=identity_id,
        purpose=purpose.id,
        status=status,
        consent_type=consent_type,
        lawful_basis=purpose.lawful_basis,
        notice_id=notice.id if notice else None,
        notice_version=notice.version if notice else None,
        notice_sha256=notice_sha256 or (notice.sha256 if notice else None),
        language=language or (notice.language if notice else None),
        method=method,
        source=source,
        indicated_by=indicated_by,
        actor=actor,
        occurred_at=occurred_at,
        expires_at=expires_at,
        jurisdiction=jurisdiction,
        has_proof=bool(proof),
        proof=vault(session).encrypt_json(profile_id, proof, context=PROOF) if proof else None,
        dedup_key=dedup_key,
        source_record_id=source_record_id,
        linked_event_id=linked_event_id,
    )
    session.add(event)
    session.flush()
    refold_subject(session, (profile_id, identity_id, purpose.id))
    return event


def _fan_out_objection(
    session: Session, objection: ConsentEvent, purposes: Any, *, proof: dict[str, Any] | None
) -> list[ConsentEvent]:
    """Art. 21(2)-(3): an objection to direct marketing covers every direct-marketing purpose and contact point."""
    contact_points = [i for i in store.identities_of(session, objection.profile_id) if i.kind in CONTACT_KINDS]
    out: list[ConsentEvent] = []
    for purpose in sorted(purposes, key=lambda p: p.id):
        if not purpose.direct_marketing:
            continue
        targets: list[uuid.UUID | None] = [i.id for i in contact_points if channel_covered(purpose, i.kind)]
        if "any" in purpose.channels:
            targets.append(None)
        for identity_id in targets:
            if (identity_id, purpose.id) == (objection.identity_id, objection.purpose):
                continue
            out.append(
                _append(
                    session,
                    Checked(purpose, None),
                    profile_id=objection.profile_id,
                    identity_id=identity_id,
                    status="objected",
                    occurred_at=objection.occurred_at,
                    source=objection.source,
                    method=objection.method,
                    consent_type=None,
                    notice_sha256=None,
                    language=None,
                    indicated_by=objection.indicated_by,
                    actor=objection.actor,
                    expires_at=None,
                    jurisdiction=objection.jurisdiction,
                    proof=proof,
                    source_record_id=objection.source_record_id,
                )
            )
    return out


def _gpc_purposes(purposes: Any, channel: str) -> list[Purpose]:
    return [
        p
        for p in sorted(purposes, key=lambda p: p.id)
        if (p.sale_or_share or p.profiling) and channel_covered(p, channel)
    ]


def record_gpc_signal(
    session: Session,
    profile_id: uuid.UUID,
    identity_id: uuid.UUID | None,
    occurred_at: dt.datetime,
    source: str,
    proof: dict[str, Any] | None,
    *,
    actor: Actor = SYSTEM,
) -> list[ConsentEvent]:
    """A `Sec-GPC: 1` signal: `denied` (method gpc_signal) for every sale/share or profiling purpose.

    11 CCR 7025(b) treats the signal as an opt-out of sale and sharing; cdp applies it to profiling too.
    """
    channel = _channel(session, identity_id)
    events = [
        _append(
            session,
            Checked(purpose, None),
            profile_id=profile_id,
            identity_id=identity_id,
            status="denied",
            occurred_at=occurred_at,
            source=source,
            method="gpc_signal",
            consent_type=None,
            notice_sha256=None,
            language=None,
            indicated_by="data_subject",
            actor=actor.id,
            expires_at=None,
            jurisdiction=None,
            proof=proof,
        )
        for purpose in _gpc_purposes(purposes_of(session).values(), channel)
    ]
    announce_changes(session, profile_id, events, actor=actor)
    return events


def change_consent(
    session: Session, profile_id: uuid.UUID, *, identity: Identity | None, actor: Actor, **fields: Any
) -> list[ConsentEvent]:
    """Record one event stated by a person or a tool through the API, with its timeline and audit entries."""
    events = record_consent_events(
        session,
        profile_id=profile_id,
        identity_id=identity.id if identity else None,
        channel=identity.kind if identity else "any",
        actor=actor.id,
        **fields,
    )
    announce_changes(session, profile_id, events, actor=actor)
    return events


def find_contact_point(session: Session, profile_id: uuid.UUID, kind: str, blind_index: str) -> Identity:
    identity = session.scalars(
        select(Identity).where(
            Identity.profile_id == profile_id, Identity.kind == kind, Identity.blind_index == blind_index
        )
    ).first()
    if identity is None:
        raise ContactPointNotFound(f"this profile has no such {kind} contact point", kind=kind)
    return identity


def announce_changes(session: Session, profile_id: uuid.UUID, events: list[ConsentEvent], *, actor: Actor) -> None:
    """One `consent_changed` timeline event per ledger event, and one audit entry (ids only) for the change."""
    profile = session.get(Profile, profile_id)
    if profile is None or not events:
        return
    for event in events:
        store.add_event(
            session,
            profile,
            type="consent_changed",
            occurred_at=event.occurred_at,
            source=event.source,
            dedup_id=None,
            properties={
                "consent_event_id": str(event.id),
                "record_id": str(event.record_id),
                "purpose": event.purpose,
                "status": event.status,
                "identity_id": str(event.identity_id) if event.identity_id else None,
                "method": event.method,
            },
        )
    first = events[0]
    append(
        session,
        actor=actor,
        action="consent.recorded",
        resource_type="profile",
        resource_id=profile_id,
        details={
            "consent_event_ids": [str(e.id) for e in events],
            "purposes": sorted({e.purpose for e in events}),
            "status": first.status,
            "method": first.method,
        },
    )
    session.flush()
