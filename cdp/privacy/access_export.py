"""The access and portability bundle (GDPR Art. 15 and 20; COMPLIANCE 5.1): one zip per request.

Everything cdp holds about the person's profile, and nothing about anyone else (Art. 15(4)): every query is
keyed by the subject's profile id, so a household phone shared with another profile brings only this profile's
rows. JSON (machine-readable) and CSV for each dataset, `sources/` with each record as received, a
`processing.json` and README answering Art. 15(1)(a)-(h) from the policies, and a manifest with each file's
SHA-256.
"""

import csv
import datetime as dt
import hashlib
import html
import io
import json
import uuid
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session
from sqlmodel import col, or_, select

from cdp.audiences.models import AudienceMembershipSnapshot
from cdp.consent.fold import effective_status
from cdp.consent.ledger import PROOF
from cdp.consent.models import ConsentEvent, ConsentState
from cdp.crypto.envelope import vault
from cdp.identity.models import MergeEvent
from cdp.policies import Policies, Purpose
from cdp.profiles import store
from cdp.profiles.models import Event, Profile

SCHEMA_VERSION = "cdp-dsar/1"
# Portability (Art. 20) covers data the person provided or that was observed, under consent or contract.
PORTABLE_BASES = ("consent", "contract")
PORTABLE_FIELDS = (
    "external_id",
    "email",
    "phone",
    "first_name",
    "last_name",
    "company",
    "job_title",
    "country",
    "city",
)
# Rows counted per table in the manifest: the completeness check compares them with the database.
TABLES = ("profile", "identity", "source_record", "event", "consent_event", "consent_state", "merge_event")


@dataclass(frozen=True)
class Bundle:
    content: bytes
    sha256: str
    manifest: dict[str, Any]


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.astimezone(dt.UTC).isoformat()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    return str(value)


def _csv(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in columns])
    return out.getvalue().encode()


def _json(value: Any) -> bytes:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str).encode()


class _Files:
    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.rows: dict[str, int] = {}

    def dataset(
        self, name: str, rows: list[dict[str, Any]], columns: Sequence[str], *, table: str | None = None
    ) -> None:
        self.files[f"{name}.json"] = _json(rows)
        self.files[f"{name}.csv"] = _csv(rows, columns)
        self.rows[table or name] = len(rows)


def _profile(session: Session, profile: Profile) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    golden = store.read_golden(session, profile) if profile.golden else {}
    provenance: dict[str, dict[str, Any]] = {
        name: {k: v for k, v in p.items() if k != "pinned"}
        for name, p in (profile.field_provenance or {}).items()
        if isinstance(p, dict)
    }
    record = {
        "id": str(profile.id),
        "status": profile.status,
        "lifecycle_stage": profile.lifecycle_stage,
        "created_at": _iso(profile.created_at),
        "updated_at": _iso(profile.updated_at),
        "last_activity_at": _iso(profile.last_activity_at),
        "golden": golden,
        "field_provenance": provenance,
    }
    fields = [
        {
            "field": name,
            "value": value,
            "source": provenance.get(name, {}).get("source"),
            "observed_at": provenance.get(name, {}).get("observed_at"),
            "rule": provenance.get(name, {}).get("rule"),
        }
        for name, value in golden.items()
    ]
    return record, fields


def _identities(session: Session, profile_id: uuid.UUID) -> list[dict[str, Any]]:
    return [
        {
            "id": str(i.id),
            "kind": i.kind,
            "value": store.identity_value(session, i),
            "source": i.source,
            "trust": i.trust,
            "first_seen": _iso(i.first_seen),
            "last_seen": _iso(i.last_seen),
        }
        for i in store.identities_of(session, profile_id)
    ]


def _sources(session: Session, profile_id: uuid.UUID) -> list[dict[str, Any]]:
    return [
        {
            "id": str(r.id),
            "source": r.source,
            "received_at": _iso(r.received_at),
            "first_received_at": _iso(r.created_at),
            "source_updated_at": _iso(r.source_updated_at),
            "minimised": store.is_minimised(r.payload),
            "payload": store.source_payload(session, r),
        }
        for r in store.source_records_of(session, profile_id)
    ]


def _timeline(session: Session, profile_id: uuid.UUID) -> list[dict[str, Any]]:
    v = vault(session)
    events = session.scalars(
        select(Event).where(Event.profile_id == profile_id).order_by(col(Event.occurred_at), col(Event.id))
    )
    return [
        {
            "id": str(e.id),
            "type": e.type,
            "occurred_at": _iso(e.occurred_at),
            "recorded_at": _iso(e.recorded_at),
            "source": e.source,
            "source_record_id": str(e.source_record_id) if e.source_record_id else None,
            "properties": v.decrypt_json(profile_id, e.properties, context=store.EVENT_PROPERTIES)
            if e.properties
            else None,
        }
        for e in events
    ]


CONSENT_COLUMNS = (
    "id", "record_id", "schema_version", "identity_id", "purpose", "status", "consent_type", "lawful_basis",
    "notice_id", "notice_version", "notice_sha256", "language", "method", "source", "indicated_by", "actor",
    "occurred_at", "recorded_at", "expires_at", "jurisdiction", "ignored_reason", "linked_event_id", "proof",
)  # fmt: skip


def _consents(session: Session, profile_id: uuid.UUID) -> list[dict[str, Any]]:
    v = vault(session)
    events = session.scalars(
        select(ConsentEvent)
        .where(ConsentEvent.profile_id == profile_id)
        .order_by(col(ConsentEvent.occurred_at), col(ConsentEvent.id))
    )
    out = []
    for e in events:
        row: dict[str, Any] = {}
        for name in CONSENT_COLUMNS:
            value = getattr(e, name, None)
            row[name] = (
                _iso(value) if isinstance(value, dt.datetime) else str(value) if isinstance(value, uuid.UUID) else value
            )
        row["proof"] = v.decrypt_json(profile_id, e.proof, context=PROOF) if e.proof else None
        out.append(row)
    return out


def _consent_states(session: Session, profile_id: uuid.UUID, now: dt.datetime) -> list[dict[str, Any]]:
    states = session.scalars(select(ConsentState).where(ConsentState.profile_id == profile_id))
    return [
        {
            "record_id": str(s.record_id),
            "identity_id": str(s.identity_id) if s.identity_id else None,
            "purpose": s.purpose,
            "status": effective_status(s.status, s.expires_at, now),
            "since": _iso(s.occurred_at),
            "expires_at": _iso(s.expires_at),
        }
        for s in sorted(states, key=lambda s: (s.purpose, str(s.identity_id)))
    ]


def _merges(session: Session, profile_id: uuid.UUID) -> list[dict[str, Any]]:
    """Merge and split history naming this profile; the other side is shown only when it is a former id of this
    person (merged into them), never when it is someone else's live profile (Art. 15(4))."""
    own_records = {str(r.id) for r in store.source_records_of(session, profile_id)}
    rows = session.scalars(
        select(MergeEvent)
        .where(or_(col(MergeEvent.survivor_id) == profile_id, col(MergeEvent.merged_id) == profile_id))
        .order_by(col(MergeEvent.created_at), col(MergeEvent.id))
    )
    out = []
    for m in rows:
        other = m.merged_id if m.survivor_id == profile_id else m.survivor_id
        other_profile = session.get(Profile, other)
        former_self = other_profile is not None and other_profile.merged_into == profile_id
        out.append(
            {
                "id": str(m.id),
                "kind": m.kind,
                "role": "survivor" if m.survivor_id == profile_id else "merged",
                "other_profile_id": str(other) if former_self else None,
                "source_record_ids": [r for r in m.source_record_ids if r in own_records],
                "weight": m.weight,
                "levels": m.levels,
                "created_at": _iso(m.created_at),
                "undone_at": _iso(m.undone_at),
            }
        )
    return out


def _recipients(session: Session, profile_id: uuid.UUID) -> list[dict[str, Any]]:
    snapshots = session.scalars(
        select(AudienceMembershipSnapshot).where(AudienceMembershipSnapshot.profile_id == profile_id)
    )
    by_destination: dict[str, list[dt.datetime]] = {}
    for s in snapshots:
        by_destination.setdefault(s.destination, []).append(s.synced_at)
    return [
        {
            "destination": d,
            "first_synced_at": _iso(min(times)),
            "last_synced_at": _iso(max(times)),
            "entries": len(times),
        }
        for d, times in sorted(by_destination.items())
    ]


def _processing(
    policies: Policies, purposes_held: Iterable[str], sources: list[str], recipients: list[str]
) -> list[dict[str, Any]]:
    """Art. 15(1)(a)-(h) per purpose: the purposes in the person's ledger, and every purpose not resting on
    consent (those apply without the person having said anything)."""
    catalog = policies.purposes
    held = set(purposes_held)
    out = []
    for purpose in sorted(catalog.values(), key=lambda p: p.id):
        if purpose.id not in held and (purpose.lawful_basis == "consent" or purpose.consent_required):
            continue
        out.append(_purpose_entry(policies, purpose, sources, recipients))
    for unknown in sorted(held - set(catalog)):
        out.append({"purpose": unknown, "note": "no longer in the purpose catalog"})
    return out


def _purpose_entry(policies: Policies, purpose: Purpose, sources: list[str], recipients: list[str]) -> dict[str, Any]:
    rule = policies.retention.rule(purpose.retention) if purpose.retention else None
    return {
        "purpose": purpose.id,
        "title": purpose.title,
        "lawful_basis": purpose.lawful_basis,
        "direct_marketing": purpose.direct_marketing,
        "data_categories": list(purpose.data_categories),
        "recipients_declared": list(purpose.recipients),
        "recipients_disclosed": sorted(set(purpose.recipients) & set(recipients)),
        "retention": None
        if rule is None
        else {"rule": rule.id, "keep_for": rule.keep_for.text, "counted_from": rule.trigger, "action": rule.action},
        "sources": sources,
        "automated_decision_making": "none",
        "transfers": "none declared",
    }


def _portability(sources: list[dict[str, Any]], consents: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], bool]:
    """Provided data (each source record's contact fields), when the person has a consent or contract purpose."""
    applies = any(c["lawful_basis"] in PORTABLE_BASES for c in consents)
    if not applies:
        return [], False
    rows = []
    for record in sources:
        payload = record["payload"]
        if not payload:
            continue
        row = {name: payload.get(name) for name in PORTABLE_FIELDS}
        row["external_id"] = f"{record['source']}:{payload.get('external_id')}"
        rows.append(row)
    return rows, True


def _readme(
    request_id: uuid.UUID,
    now: dt.datetime,
    processing: list[dict[str, Any]],
    recipients: list[dict[str, Any]],
    sources: list[str],
    rows: dict[str, int],
) -> str:
    def esc(value: object) -> str:
        return html.escape(str(value))

    purposes = "".join(
        f"<tr><td>{esc(p.get('title', p['purpose']))}</td><td>{esc(p.get('lawful_basis', '-'))}</td>"
        f"<td>{esc(', '.join(p.get('data_categories') or []) or '-')}</td>"
        f"<td>{esc((p.get('retention') or {}).get('keep_for', '-'))} "
        f"{esc((p.get('retention') or {}).get('counted_from', ''))}</td></tr>"
        for p in processing
    )
    recipient_rows = (
        "".join(
            f"<li>{esc(r['destination'])}: first {esc(r['first_synced_at'])}, last {esc(r['last_synced_at'])}</li>"
            for r in recipients
        )
        or "<li>none: your data has not been sent to any other organisation's system</li>"
    )
    counts = "".join(f"<li>{esc(k)}: {v}</li>" for k, v in sorted(rows.items()))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Your personal data</title></head><body>
<h1>Your personal data</h1>
<p>This is a copy of the personal data we hold about you, in answer to request {esc(request_id)}
(GDPR Articles 15 and 20). Generated {esc(_iso(now))}; the data is as of that time.</p>
<h2>Why we use your data (purposes, lawful bases, how long we keep it)</h2>
<table border="1"><tr><th>Purpose</th><th>Lawful basis</th><th>Categories of data</th><th>Kept for</th></tr>
{purposes}</table>
<h2>Where it came from</h2><p>{esc(", ".join(sources) or "no source records")}</p>
<h2>Who received it</h2><ul>{recipient_rows}</ul>
<p>No automated decisions with legal or similar effects are made about you. No transfers outside the
jurisdictions named in our privacy notice are declared.</p>
<h2>Your rights</h2>
<p>You may ask us to correct (Art. 16), erase (Art. 17) or restrict (Art. 18) your data, object to its use
(Art. 21, and at any time to direct marketing), and complain to your data protection supervisory authority.</p>
<h2>The files</h2>
<ul>
<li><code>profile.json/.csv</code>: your consolidated record, with where each field came from</li>
<li><code>identities.json/.csv</code>: your email addresses, phone numbers and ids in other systems</li>
<li><code>source_records.json/.csv</code> and <code>sources/</code>: each record exactly as its source sent it</li>
<li><code>timeline.json/.csv</code>: every event we recorded</li>
<li><code>consents.json/.csv</code> and <code>consent_states.json/.csv</code>: your consent history with its proof</li>
<li><code>merges.json/.csv</code>: when records of yours were joined or split</li>
<li><code>recipients.json/.csv</code>, <code>processing.json</code>: recipients and purposes</li>
<li><code>portability/</code>: the data you provided, in a form another service can import</li>
<li><code>manifest.json</code>: each file's SHA-256 and row counts</li>
</ul>
<h2>Rows per dataset</h2><ul>{counts}</ul>
</body></html>
"""


def build_bundle(
    session: Session, profile_id: uuid.UUID, *, request_id: uuid.UUID, policies: Policies, now: dt.datetime
) -> Bundle:
    profile = session.get(Profile, profile_id)
    if profile is None:
        raise ValueError(f"no profile {profile_id}")
    files = _Files()
    record, fields = _profile(session, profile)
    files.files["profile.json"] = _json(record)
    files.files["profile.csv"] = _csv(fields, ("field", "value", "source", "observed_at", "rule"))
    files.rows["profile"] = 1
    files.dataset(
        "identities",
        _identities(session, profile_id),
        ("id", "kind", "value", "source", "trust", "first_seen", "last_seen"),
        table="identity",
    )
    sources = _sources(session, profile_id)
    files.dataset(
        "source_records",
        sources,
        ("id", "source", "received_at", "first_received_at", "source_updated_at", "minimised", "payload"),
        table="source_record",
    )
    for s in sources:
        files.files[f"sources/{s['source']}/{s['id']}.json"] = _json(s["payload"])
    files.dataset(
        "timeline",
        _timeline(session, profile_id),
        ("id", "type", "occurred_at", "recorded_at", "source", "source_record_id", "properties"),
        table="event",
    )
    consents = _consents(session, profile_id)
    files.dataset("consents", consents, CONSENT_COLUMNS, table="consent_event")
    files.dataset(
        "consent_states",
        _consent_states(session, profile_id, now),
        ("record_id", "identity_id", "purpose", "status", "since", "expires_at"),
        table="consent_state",
    )
    files.dataset(
        "merges",
        _merges(session, profile_id),
        ("id", "kind", "role", "other_profile_id", "source_record_ids", "weight", "levels", "created_at", "undone_at"),
        table="merge_event",
    )
    recipients = _recipients(session, profile_id)
    files.dataset("recipients", recipients, ("destination", "first_synced_at", "last_synced_at", "entries"))
    source_names = sorted({s["source"] for s in sources})
    processing = _processing(
        policies, {c["purpose"] for c in consents}, source_names, [r["destination"] for r in recipients]
    )
    files.files["processing.json"] = _json(processing)
    portable, applies = _portability(sources, consents)
    if applies:
        files.files["portability/contacts.json"] = _json(portable)
        files.files["portability/contacts.csv"] = _csv(portable, PORTABLE_FIELDS)
    readme = _readme(request_id, now, processing, recipients, source_names, files.rows)
    files.files["README.html"] = readme.encode()
    manifest = {
        "schema_version": SCHEMA_VERSION,
        "request_id": str(request_id),
        "profile_id": str(profile_id),
        "generated_at": _iso(now),
        "rows": files.rows,
        "portability": applies,
        "files": {name: hashlib.sha256(data).hexdigest() for name, data in sorted(files.files.items())},
    }
    files.files["manifest.json"] = _json(manifest)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in sorted(files.files.items()):
            info = zipfile.ZipInfo(name, date_time=now.astimezone(dt.UTC).timetuple()[:6])
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    content = buffer.getvalue()
    return Bundle(content, hashlib.sha256(content).hexdigest(), manifest)
