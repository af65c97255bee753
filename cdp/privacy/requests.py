"""The privacy-request lifecycle (GDPR Art. 12-21; COMPLIANCE 6.6): receive, approve, carry out, close.

received -> (awaiting_approval ->) in_progress -> completed | rejected (with a reason code). A request is carried
out at once unless policy holds it: a legal hold rejects an erasure, and `policies/requests.yaml` names the types
that need a second approver (a different API key). Deadlines follow the jurisdiction's rule (cdp.privacy.deadlines).

Privacy requests raised inside a tool (HubSpot `contact.privacyDeletion`, Salesforce `ShouldForget`) open through
`open_from_signal`: status `received`, for the DPO's queue; they are not carried out unseen. The tool's signal id,
as a blind index, makes a redelivered signal a no-op.

The subject's identifiers, the notes and any corrected values are kept encrypted under the person's data key (so
they read as nothing once the person is erased); the log itself holds ids, codes and times only.
"""

import datetime as dt
import re
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Uuid as SaUuid
from sqlalchemy import and_, column, func, or_, table
from sqlalchemy.orm import Session
from sqlmodel import col, select

from cdp.audiences.models import DestinationRemoval
from cdp.audit.log import SYSTEM, Actor, append
from cdp.connectors.base import SourceSignal
from cdp.crypto.envelope import vault
from cdp.db import UTCDateTime, compliance_session, utcnow
from cdp.errors import InvalidInput
from cdp.identity.normalize import NormalizationError, normalize_email, normalize_phone
from cdp.policies import REQUEST_TYPES, Jurisdiction, Policies, RequestsPolicy
from cdp.privacy.access_export import build_bundle
from cdp.privacy.deadlines import deadlines_for
from cdp.privacy.erasure import ErasureResult, erase_subject
from cdp.privacy.errors import (
    AmbiguousSubject,
    InvalidRequest,
    RequestNotFound,
    RequestStateConflict,
    SecondApproverRequired,
)
from cdp.privacy.models import PrivacyRequest
from cdp.privacy.objection import object_to_direct_marketing
from cdp.privacy.rectification import normalize_fields, rectify_profile
from cdp.privacy.restriction import lift_restriction, restrict_profile
from cdp.profiles import store
from cdp.profiles.models import Profile

OPEN = ("received", "awaiting_approval", "in_progress", "awaiting_recipients")
CLOSED = ("completed", "rejected")
SUBJECT_KINDS = ("email", "phone", "profile_id")
# With no data held, an access request is answered ("we hold nothing") and an erasure is already done (a second
# erasure of the same person is a no-op that completes); the other types have nothing to act on and are rejected.
NOTHING_TO_DO_IS_DONE = ("access", "erasure")
EXPORT_CONTEXT = "privacy_request.export"
_EMAIL_LIKE = re.compile(r"[^@\s]+@[^@\s]+")
# Legal holds belong to retention (a higher layer); read through a table clause so the import graph stays acyclic.
_HOLDS = table("legal_hold", column("profile_id", SaUuid()), column("released_at", UTCDateTime()))


def _payload_context(request_id: uuid.UUID) -> str:
    return f"privacy_request:{request_id}"


def one_month_after(received: dt.datetime) -> dt.datetime:
    """GDPR Art. 12(3) as COMPLIANCE.md §1.4 counts it, with the default calendar (no holidays)."""
    return deadlines_for(received, Jurisdiction("EU")).due_at


def open_from_signal(session: Session, signal: SourceSignal, actor: Actor) -> PrivacyRequest | None:
    """Open a request for the person behind `(signal.source, signal.external_id)`; None if already opened."""
    compliance = compliance_session(session)
    v = vault(session)
    signal_index = v.blind_index(f"signal:{signal.source}", signal.signal_id)
    seen = compliance.scalars(select(PrivacyRequest).where(col(PrivacyRequest.subject_index) == signal_index)).first()
    if seen is not None:
        return None
    record = store.find_source_record(session, signal.source, signal.external_id)
    profile_id = record.profile_id if record is not None else None
    if profile_id is not None:
        survivor = store.survivor_of(session, profile_id)
        profile_id = survivor.id if survivor is not None else profile_id
    now = utcnow()
    request_id = uuid.uuid4()
    subject = {"source": signal.source, "external_id": signal.external_id}
    # Encrypted under the person's key where there is one; with none, only the source and a blind index.
    subject_ref = (
        v.encrypt_json(profile_id, subject, context=f"privacy_request:{request_id}")
        if profile_id is not None
        else signal.source.encode()
    )
    request = PrivacyRequest(
        id=request_id,
        type=signal.type,
        status="received",
        subject_ref=subject_ref,
        subject_index=signal_index,
        profile_ids=[str(profile_id)] if profile_id is not None else [],
        requested_by=f"connector:{signal.source}",
        received_at=now,
        due_at=one_month_after(now),
        max_due_at=deadlines_for(now, Jurisdiction("EU")).max_due_at,
        history=[{"status": "received", "at": now.isoformat(), "actor": actor.id}],
        result={"origin": "source_signal", "source": signal.source, "subject_found": profile_id is not None},
    )
    compliance.add(request)
    compliance.flush()
    append(
        session,
        actor=actor,
        action="privacy_request.received",
        resource_type="privacy_request",
        resource_id=request.id,
        details={"type": signal.type, "origin": signal.source, "subject_found": profile_id is not None},
    )
    return request


@dataclass(frozen=True)
class Subject:
    kind: str  # email | phone | profile_id
    value: str  # normalized


def parse_subject(subject: dict[str, Any], *, country: str | None = None) -> Subject:
    given = {k: v for k, v in subject.items() if v not in (None, "")}
    if len(given) != 1 or next(iter(given)) not in SUBJECT_KINDS:
        raise InvalidRequest("`subject` takes exactly one of email, phone or profile_id", field="subject")
    kind, raw = next(iter(given.items()))
    if not isinstance(raw, str) or len(raw) > 320:
        raise InvalidRequest(f"subject.{kind} must be a string of at most 320 characters", field=f"subject.{kind}")
    try:
        if kind == "email":
            return Subject(kind, normalize_email(raw))
        if kind == "phone":
            return Subject(kind, normalize_phone(raw, country))
        return Subject(kind, str(uuid.UUID(raw)))
    except (NormalizationError, ValueError) as exc:
        raise InvalidRequest(
            f"subject.{kind} is not a valid {kind.replace('_', ' ')}", field=f"subject.{kind}"
        ) from exc


def resolve_subject(session: Session, subject: Subject) -> list[uuid.UUID]:
    """The live (active or restricted) profiles the subject names; merged ids resolve to their survivor."""
    if subject.kind == "profile_id":
        survivor = store.survivor_of(session, uuid.UUID(subject.value))
        return [survivor.id] if survivor is not None and survivor.status != "erased" else []
    bidx = vault(session).blind_index(subject.kind, subject.value)
    ids = store.find_profile_ids_by_identity(session, subject.kind, bidx, limit=10)
    live = [p for p in ids if (profile := session.get(Profile, p)) is not None and profile.status != "erased"]
    return sorted(live)


def held_profiles(session: Session, profile_ids: list[uuid.UUID]) -> list[uuid.UUID]:
    if not profile_ids:
        return []
    rows = session.execute(
        select(_HOLDS.c.profile_id).where(_HOLDS.c.profile_id.in_(profile_ids), _HOLDS.c.released_at.is_(None))
    )
    return sorted({r[0] for r in rows})


def _text(value: str | None, name: str, *, limit: int = 2000) -> str | None:
    if value is None:
        return None
    if len(value) > limit:
        raise InvalidRequest(f"`{name}` is at most {limit} characters", field=name)
    return value


def _transition(
    session: Session, request: PrivacyRequest, status: str, actor: Actor, *, reason: str | None = None
) -> None:
    now = utcnow()
    request.status = status
    entry: dict[str, Any] = {"status": status, "at": now.isoformat(), "actor": actor.id}
    if reason is not None:
        entry["reason"] = reason
    request.history = [*request.history, entry]
    if status in CLOSED:
        request.completed_at = now
    compliance_session(session).add(request)
    compliance_session(session).flush()
    details: dict[str, Any] = {"type": request.type, "status": status}
    if reason is not None:
        details["reason"] = reason
    append(
        session,
        actor=actor,
        action=f"privacy_request.{status}",
        resource_type="privacy_request",
        resource_id=request.id,
        details=details,
    )


def _profile_ids(request: PrivacyRequest) -> list[uuid.UUID]:
    return [uuid.UUID(p) for p in request.profile_ids]


def read_payload(session: Session, request: PrivacyRequest) -> dict[str, Any]:
    """The encrypted part of the request (subject, notes, corrected fields); {} once the person is erased."""
    ids = _profile_ids(request)
    if not ids or not request.subject_ref:
        return {}
    v = vault(session)
    if not v.has_key(ids[0]):
        return {}
    value: dict[str, Any] = v.decrypt_json(ids[0], request.subject_ref, context=_payload_context(request.id))
    return value


def submit_request(
    session: Session,
    *,
    type: str,
    subject: dict[str, Any],
    actor: Actor,
    policies: Policies,
    requested_by: str | None = None,
    notes: str | None = None,
    jurisdiction: str | None = None,
    fields: dict[str, Any] | None = None,
    lift: bool = False,
    subject_informed_at: dt.datetime | None = None,
    country: str | None = None,
) -> PrivacyRequest:
    """Record a request and, unless policy holds it, carry it out in the same unit of work."""
    if type not in REQUEST_TYPES:
        raise InvalidRequest(f"unknown request type {type!r}; types are {', '.join(REQUEST_TYPES)}", field="type")
    rules: RequestsPolicy = policies.requests
    found = rules.jurisdiction(jurisdiction)
    if found is None:
        raise InvalidRequest(
            f"unknown jurisdiction; jurisdictions are {', '.join(sorted(rules.jurisdictions))}", field="jurisdiction"
        )
    parsed = parse_subject(subject, country=country)
    corrected = normalize_fields(fields or {}) if type == "rectification" else None
    if type != "rectification" and fields:
        raise InvalidRequest("`fields` belongs to rectification requests only", field="fields")
    if lift and type != "restriction":
        raise InvalidRequest("`lift` belongs to restriction requests only", field="lift")
    if lift and subject_informed_at is None:
        raise InvalidRequest(
            "lifting a restriction needs subject_informed_at: the person must be told first (Art. 18(3))",
            field="subject_informed_at",
        )
    profiles = resolve_subject(session, parsed)
    if len(profiles) > 1:
        raise AmbiguousSubject(
            f"the {parsed.kind} matches {len(profiles)} profiles; file the request by subject.profile_id",
            profile_ids=",".join(str(p) for p in profiles),
        )
    now = utcnow()
    request_id = uuid.uuid4()
    deadlines = deadlines_for(now, found)
    payload = {
        "subject": {parsed.kind: parsed.value},
        "requested_by": _text(requested_by, "requested_by", limit=200),
        "notes": _text(notes, "notes"),
        "fields": corrected,
        "lift": lift,
        "subject_informed_at": subject_informed_at.isoformat() if subject_informed_at else None,
    }
    v = vault(session)
    request = PrivacyRequest(
        id=request_id,
        type=type,
        status="received",
        subject_ref=v.encrypt_json(profiles[0], payload, context=_payload_context(request_id)) if profiles else b"",
        subject_index=v.blind_index(f"privacy_subject:{parsed.kind}", parsed.value),
        profile_ids=[str(p) for p in profiles],
        requested_by=actor.id,
        received_at=now,
        due_at=deadlines.due_at,
        max_due_at=deadlines.max_due_at,
        ack_by=deadlines.ack_by,
        jurisdiction=found.id,
        history=[{"status": "received", "at": now.isoformat(), "actor": actor.id}],
        result={"origin": "api"},
    )
    compliance = compliance_session(session)
    compliance.add(request)
    compliance.flush()
    append(
        session,
        actor=actor,
        action="privacy_request.received",
        resource_type="privacy_request",
        resource_id=request.id,
        details={"type": type, "jurisdiction": found.id, "subject_kind": parsed.kind, "profiles": len(profiles)},
    )
    if not profiles and type not in NOTHING_TO_DO_IS_DONE:
        reject(session, request, reason="no_personal_data_held", actor=actor)
        return request
    if type == "erasure" and (held := held_profiles(session, profiles)):
        # GDPR Art. 17(3)(e): data needed for legal claims is kept; the DPO restricts it instead.
        request.result = {**request.result, "held_profiles": [str(p) for p in held]}
        reject(session, request, reason="LegalClaimDefenceImpaired", actor=actor)
        return request
    if type in rules.approval_required:
        _transition(session, request, "awaiting_approval", actor)
        return request
    carry_out(session, request, actor=actor, policies=policies, payload=payload)
    return request


def reject(session: Session, request: PrivacyRequest, *, reason: str, actor: Actor) -> None:
    request.rejection_reason = reason
    _transition(session, request, "rejected", actor, reason=reason)


def get_request_or_raise(session: Session, request_id: uuid.UUID) -> PrivacyRequest:
    request = compliance_session(session).get(PrivacyRequest, request_id)
    if request is None:
        raise RequestNotFound(request_id)
    return request


def approve_request(
    session: Session,
    request_id: uuid.UUID,
    *,
    actor: Actor,
    policies: Policies,
) -> PrivacyRequest:
    """The second pair of eyes: a key other than the one that filed the request carries it out."""
    request = get_request_or_raise(session, request_id)
    if request.status not in ("awaiting_approval", "received"):
        raise RequestStateConflict(
            f"request {request.id} is {request.status}; only a request awaiting approval can be approved",
            request_status=request.status,
        )
    if actor.id == request.requested_by or actor.id in request.approvals:
        raise SecondApproverRequired(
            "the key that filed this request cannot approve it; a second compliance key must",
            request_id=str(request.id),
        )
    request.approvals = [*request.approvals, actor.id]
    append(
        session,
        actor=actor,
        action="privacy_request.approved",
        resource_type="privacy_request",
        resource_id=request.id,
        details={"type": request.type},
    )
    profiles = _profile_ids(request)
    if request.type == "erasure" and (held := held_profiles(session, profiles)):
        request.result = {**request.result, "held_profiles": [str(p) for p in held]}
        reject(session, request, reason="LegalClaimDefenceImpaired", actor=actor)
        return request
    if not profiles and request.type not in NOTHING_TO_DO_IS_DONE:
        reject(session, request, reason="no_personal_data_held", actor=actor)
        return request
    carry_out(session, request, actor=actor, policies=policies, payload=read_payload(session, request))
    return request


def carry_out(
    session: Session,
    request: PrivacyRequest,
    *,
    actor: Actor,
    policies: Policies,
    payload: dict[str, Any],
) -> None:
    _transition(session, request, "in_progress", actor)
    profiles = _profile_ids(request)
    result: dict[str, Any] = dict(request.result)
    if request.type == "access":
        result.update(_access(session, request, profiles, actor=actor, policies=policies))
    elif request.type == "restriction":
        if payload.get("lift"):
            informed = payload.get("subject_informed_at")
            for pid in profiles:
                lift_restriction(
                    session,
                    pid,
                    subject_informed_at=dt.datetime.fromisoformat(informed) if informed else None,
                    request_id=request.id,
                    actor=actor,
                )
            result["lifted"] = len(profiles)
        else:
            placed = [restrict_profile(session, p, request_id=request.id, actor=actor) for p in profiles]
            result["restricted"] = sum(p is not None for p in placed)
            result["destinations_notified"] = sorted({d for p in placed for d in p or ()})
    elif request.type == "rectification":
        fields = payload.get("fields") or {}
        result["fields"] = sorted(
            {f for p in profiles for f in rectify_profile(session, p, fields, request_id=request.id, actor=actor)}
        )
    elif request.type == "objection":
        events = [
            e for p in profiles for e in object_to_direct_marketing(session, p, request_id=request.id, actor=actor)
        ]
        result["objected"] = {"consent_events": len(events), "purposes": sorted({e.purpose for e in events})}
    elif request.type == "erasure":
        if profiles:
            result["erasure"] = erase_subject(session, profiles, actor=actor, request_id=request.id).to_json()
        else:
            result["data_held"] = False
    request.result = result
    notified = result.get("destinations_notified") or (result.get("erasure") or {}).get("destinations_notified")
    # Art. 19: the request closes once every destination has confirmed the removal (or it failed for good).
    _transition(session, request, "awaiting_recipients" if notified else "completed", actor)


def close_all_answered(session: Session) -> int:
    waiting = compliance_session(session).scalars(
        select(PrivacyRequest).where(PrivacyRequest.status == "awaiting_recipients")
    )
    return sum(close_answered(session, r) for r in list(waiting))


def removal_reason(request: PrivacyRequest) -> str:
    """The reason the erasure and restriction pipelines give their destination removal tasks."""
    return f"{request.type}:{request.id}"


def close_answered(session: Session, request: PrivacyRequest, *, actor: Actor = SYSTEM) -> bool:
    """Close a request awaiting its recipients once no removal task of it is pending; True if it closed."""
    if request.status != "awaiting_recipients":
        return False
    tasks = list(
        session.scalars(select(DestinationRemoval).where(DestinationRemoval.reason == removal_reason(request)))
    )
    if any(t.status == "pending" for t in tasks):
        return False
    request.result = {**request.result, "recipients": {t.destination: t.status for t in tasks}}
    _transition(session, request, "completed", actor)
    return True


def _access(
    session: Session, request: PrivacyRequest, profiles: list[uuid.UUID], *, actor: Actor, policies: Policies
) -> dict[str, Any]:
    if not profiles:
        return {"data_held": False}
    bundle = build_bundle(session, profiles[0], request_id=request.id, policies=policies, now=utcnow())
    request.export = vault(session).encrypt(profiles[0], bundle.content, context=EXPORT_CONTEXT)
    append(
        session,
        actor=actor,
        action="privacy_request.export_generated",
        resource_type="privacy_request",
        resource_id=request.id,
        details={"sha256": bundle.sha256, "files": len(bundle.manifest["files"]), "bytes": len(bundle.content)},
    )
    return {
        "data_held": True,
        "export": {"sha256": bundle.sha256, "rows": bundle.manifest["rows"], "bytes": len(bundle.content)},
    }


def download_export(session: Session, request_id: uuid.UUID, *, actor: Actor) -> bytes:
    """The access bundle; every download is audited."""
    request = get_request_or_raise(session, request_id)
    profiles = _profile_ids(request)
    if request.type != "access" or request.status != "completed" or request.export is None or not profiles:
        raise RequestStateConflict(
            f"request {request.id} has no access bundle (type {request.type}, status {request.status})",
            request_status=request.status,
        )
    v = vault(session)
    if not v.has_key(profiles[0]):
        raise RequestStateConflict(
            f"the bundle of request {request.id} was destroyed with the person's data", request_status="erased"
        )
    content = v.decrypt(profiles[0], request.export, context=EXPORT_CONTEXT)
    append(
        session,
        actor=actor,
        action="privacy_request.export_downloaded",
        resource_type="privacy_request",
        resource_id=request.id,
        details={"bytes": len(content)},
    )
    return content


def lift_request_restriction(
    session: Session, request_id: uuid.UUID, *, subject_informed_at: dt.datetime | None, actor: Actor
) -> PrivacyRequest:
    """Lift the restriction a completed restriction request placed."""
    request = get_request_or_raise(session, request_id)
    placed = request.status in ("completed", "awaiting_recipients") and request.result.get("restricted")
    if request.type != "restriction" or not placed or request.result.get("lifted_at") is not None:
        raise RequestStateConflict(
            f"request {request.id} did not place a restriction that is still in force", request_status=request.status
        )
    for pid in _profile_ids(request):
        lift_restriction(session, pid, subject_informed_at=subject_informed_at, request_id=request.id, actor=actor)
    request.result = {**request.result, "lifted_at": utcnow().isoformat(), "lifted_by": actor.id}
    compliance_session(session).add(request)
    compliance_session(session).flush()
    return request


def extend_request(
    session: Session, request_id: uuid.UUID, *, reason: str, actor: Actor, notified_at: dt.datetime | None = None
) -> PrivacyRequest:
    """Art. 12(3): two further months (CCPA: up to 90 days), notified to the person inside the original period."""
    request = get_request_or_raise(session, request_id)
    now = utcnow()
    notified = notified_at or now
    reason = reason.strip()
    if not 3 <= len(reason) <= 200 or _EMAIL_LIKE.search(reason):
        raise InvalidInput("an extension reason is 3 to 200 characters and names no person", field="reason")
    if request.status not in OPEN:
        raise RequestStateConflict(f"request {request.id} is {request.status}", request_status=request.status)
    if request.extended_to is not None:
        raise RequestStateConflict(f"request {request.id} was already extended", request_status=request.status)
    if now > request.due_at or notified > request.due_at:
        raise RequestStateConflict(
            "an extension must be notified before the original due date has passed", request_status=request.status
        )
    request.extended_to = request.max_due_at
    request.extension_reason = reason
    request.extension_notified_at = notified
    request.history = [*request.history, {"status": "extended", "at": now.isoformat(), "actor": actor.id}]
    compliance_session(session).add(request)
    compliance_session(session).flush()
    append(
        session,
        actor=actor,
        action="privacy_request.extended",
        resource_type="privacy_request",
        resource_id=request.id,
        details={"extended_to": request.extended_to.isoformat() if request.extended_to else None},
    )
    return request


def effective_due(request: PrivacyRequest) -> dt.datetime:
    return request.extended_to or request.due_at


def list_requests(
    session: Session,
    *,
    status: str | None = None,
    type: str | None = None,
    due_before: dt.datetime | None = None,
    after: tuple[dt.datetime, uuid.UUID] | None = None,
    limit: int = 50,
) -> list[PrivacyRequest]:
    """Requests by effective due date (extension included), then id; `status` is a status, `open` or `closed`."""
    due = func.coalesce(col(PrivacyRequest.extended_to), col(PrivacyRequest.due_at))
    query = select(PrivacyRequest)
    if status == "open":
        query = query.where(col(PrivacyRequest.status).in_(OPEN))
    elif status == "closed":
        query = query.where(col(PrivacyRequest.status).in_(CLOSED))
    elif status is not None:
        query = query.where(PrivacyRequest.status == status)
    if type is not None:
        query = query.where(PrivacyRequest.type == type)
    if due_before is not None:
        query = query.where(due < due_before)
    if after is not None:
        when, last = after
        query = query.where(or_(due > when, and_(due == when, col(PrivacyRequest.id) > last)))
    query = query.order_by(due, col(PrivacyRequest.id)).limit(limit)
    return list(compliance_session(session).scalars(query))


@dataclass(frozen=True)
class TypeMetrics:
    type: str
    received: int
    complied: int
    denied: int
    open: int
    median_days: float | None
    mean_days: float | None


def yearly_metrics(session: Session, year: int) -> list[TypeMetrics]:
    """CCPA 11 CCR 7102 figures per request type for requests received in `year` (UTC)."""
    start = dt.datetime(year, 1, 1, tzinfo=dt.UTC)
    end = dt.datetime(year + 1, 1, 1, tzinfo=dt.UTC)
    rows = compliance_session(session).scalars(
        select(PrivacyRequest).where(col(PrivacyRequest.received_at) >= start, col(PrivacyRequest.received_at) < end)
    )
    by_type: dict[str, list[PrivacyRequest]] = {}
    for r in rows:
        by_type.setdefault(r.type, []).append(r)
    out = []
    for kind in sorted(by_type):
        requests = by_type[kind]
        days = sorted(
            (r.completed_at - r.received_at).total_seconds() / 86400
            for r in requests
            if r.completed_at is not None and r.status in CLOSED
        )
        median = None
        if days:
            mid = len(days) // 2
            median = days[mid] if len(days) % 2 else (days[mid - 1] + days[mid]) / 2
        out.append(
            TypeMetrics(
                type=kind,
                received=len(requests),
                complied=sum(r.status == "completed" for r in requests),
                denied=sum(r.status == "rejected" for r in requests),
                open=sum(r.status in OPEN for r in requests),
                median_days=None if median is None else round(median, 2),
                mean_days=round(sum(days) / len(days), 2) if days else None,
            )
        )
    return out


def preview_erasure(session: Session, *, subject: dict[str, Any], country: str | None = None) -> ErasureResult:
    """What an erasure request for this subject would do, rolled back: nothing is recorded or changed."""
    profiles = resolve_subject(session, parse_subject(subject, country=country))
    if len(profiles) > 1:
        raise AmbiguousSubject(
            f"the subject matches {len(profiles)} profiles; name one by profile_id",
            profile_ids=",".join(str(p) for p in profiles),
        )
    return erase_subject(session, profiles, actor=SYSTEM, request_id=uuid.uuid4(), dry_run=True)
