"""Consent receipts: an authoritative copy of one consent record for the person or another party.

Two shapes of the same record (COMPLIANCE 2.1-2.3, acceptance criterion 8):

* `receipt_27560`: ISO/IEC TS 27560 via DPV-27560 (header, processing, parties, events), our schema
  `cdp-27560/1` in `docs/schemas/cdp-27560-receipt.schema.json`. Vocabulary terms are DPV IRIs.
* `kantara_view`: the Kantara Consent Receipt v1.1 snapshot of that document
  (`docs/schemas/kantara-consent-receipt-v1_1.schema.json`); it has no events.

A receipt names the person by profile id only (pseudonymous, as DPV advises), never an email, phone or name,
and says whether each event has proof without carrying the proof. Each issuance gets a new receipt id.
"""

import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session
from sqlmodel import col, select

from cdp.consent.catalog import purposes_of
from cdp.consent.errors import ConsentRecordNotFound
from cdp.consent.fold import effective_status
from cdp.consent.models import SCHEMA_VERSION, ConsentEvent, ConsentState
from cdp.policies import Notice, Purpose
from cdp.profiles.models import Identity

DPV = "https://w3id.org/dpv#"
PD = "https://w3id.org/dpv/pd#"
GDPR = "https://w3id.org/dpv/legal/eu/gdpr#"
CONFORMS_TO = "https://w3id.org/dpv/guides/consent-27560#record-eu-gdpr"
KANTARA_VERSION = "KI-CR-v1.1.0"

# cdp status -> DPV ConsentStatus. `objected` (GDPR Art. 21(2)) is the person ending the processing, which
# DPV has no separate status for: ConsentWithdrawn, with the cdp state kept beside it.
STATUS_IRI = {
    "granted": DPV + "ConsentGiven",
    "withdrawn": DPV + "ConsentWithdrawn",
    "denied": DPV + "ConsentRefused",
    "expired": DPV + "ConsentExpired",
    "objected": DPV + "ConsentWithdrawn",
}
RENEWED_IRI = DPV + "RenewedConsentGiven"
# 27560 event type. A soft opt-in is not consent (PECR reg. 22(3)): no DPV consent type.
CONSENT_TYPE_IRI = {
    "expressed": DPV + "ExpressedConsent",
    "explicitly_expressed": DPV + "ExplicitlyExpressedConsent",
    "implied": DPV + "ImpliedConsent",
}
KANTARA_CONSENT_TYPE = {
    "expressed": "EXPRESSED",
    "explicitly_expressed": "EXPLICIT",
    "implied": "IMPLICIT",
}
LAWFUL_BASIS_IRIS = {
    "consent": (DPV + "Consent", GDPR + "A6-1-a"),
    "contract": (DPV + "Contract", GDPR + "A6-1-b"),
    "legal_obligation": (DPV + "LegalObligation", GDPR + "A6-1-c"),
    "legitimate_interest": (DPV + "LegitimateInterest", GDPR + "A6-1-f"),
}
# The catalog ids of policies/purposes.yaml mapped onto the DPV purpose taxonomy; others go by their flags.
PURPOSE_IRI = {
    "email_marketing": DPV + "DirectMarketing",
    "sms_marketing": DPV + "DirectMarketing",
    "sales_outreach": DPV + "CustomerRelationshipManagement",
    "customer_service": DPV + "CustomerCare",
    "analytics": DPV + "ServiceUsageAnalytics",
    "profiling": DPV + "Personalisation",
    "ad_audience_sharing": DPV + "TargetedAdvertising",
}
DATA_CATEGORY_IRI = {
    "email_address": PD + "EmailAddress",
    "phone_number": PD + "TelephoneNumber",
    "name": PD + "Name",
    "company": PD + "Employer",
    "online_identifier": PD + "OnlineIdentifier",
    "engagement": PD + "BrowsingBehaviour",
}


@dataclass(frozen=True)
class Controller:
    """The PII controller a receipt names (27560 parties; Kantara `piiControllers`): an organisation."""

    name: str
    contact: str = "Data Protection Officer"
    email: str = ""
    phone: str = ""
    address: str = ""
    url: str = ""
    jurisdiction: str = "EU"


DEFAULT_CONTROLLER = Controller(name="Data controller (set CDP_CONTROLLER_NAME)")


def purpose_iri(purpose: Purpose) -> str:
    known = PURPOSE_IRI.get(purpose.id)
    if known is not None:
        return known
    if purpose.sale_or_share:
        return DPV + "TargetedAdvertising"
    if purpose.profiling:
        return DPV + "Personalisation"
    if purpose.direct_marketing:
        return DPV + "DirectMarketing"
    if purpose.lawful_basis == "contract":
        return DPV + "ServiceProvision"
    return DPV + "Purpose"


def _category_iri(category: str) -> str:
    return DATA_CATEGORY_IRI.get(category, f"urn:cdp:data-category:{category}")


def _iso(when: dt.datetime | None) -> str | None:
    return None if when is None else when.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _catalog_notice(purpose: Purpose | None, notice_id: str | None, version: str | None) -> Notice | None:
    if purpose is None or notice_id is None:
        return None
    return next((n for n in purpose.notices if n.id == notice_id and n.version == version), None)


def _notice(purpose: Purpose | None, event: ConsentEvent) -> dict[str, Any] | None:
    if event.notice_id is None:
        return None
    found = _catalog_notice(purpose, event.notice_id, event.notice_version)
    return {
        "id": event.notice_id,
        "version": event.notice_version,
        "sha256": event.notice_sha256 or (found.sha256 if found else None),
        "url": found.url if found else None,
        "language": event.language or (found.language if found else None),
    }


def _events_of(session: Session, record_id: uuid.UUID) -> list[ConsentEvent]:
    query = (
        select(ConsentEvent)
        .where(ConsentEvent.record_id == record_id)
        .order_by(col(ConsentEvent.occurred_at), col(ConsentEvent.recorded_at), col(ConsentEvent.id))
    )
    return list(session.scalars(query))


def _event_entries(events: list[ConsentEvent], purpose: Purpose | None) -> list[dict[str, Any]]:
    entries = []
    previous: str | None = None  # the last status that counted, to tell a renewal from a first grant
    for seq, event in enumerate(events, start=1):
        status_iri = STATUS_IRI.get(event.status, f"urn:cdp:consent-status:{event.status}")
        if event.status == "granted" and previous == "granted" and event.ignored_reason is None:
            status_iri = RENEWED_IRI
        if event.ignored_reason is None:
            previous = event.status
        entries.append(
            {
                "event_id": str(event.id),
                "seq": seq,
                "time": _iso(event.occurred_at),
                "recorded_at": _iso(event.recorded_at),
                "state": event.status,
                "status_iri": status_iri,
                "consent_type": event.consent_type,
                "consent_type_iri": CONSENT_TYPE_IRI.get(event.consent_type or ""),
                "indicated_by": event.indicated_by or "data_subject",
                "method": event.method,
                "source": event.source,
                "notice": _notice(purpose, event),
                "language": event.language,
                "jurisdiction": event.jurisdiction,
                "valid_until": _iso(event.expires_at),
                "has_proof": event.has_proof,
                "ignored_reason": event.ignored_reason,
            }
        )
    return entries


def receipt_27560(
    session: Session, record_id: uuid.UUID, *, now: dt.datetime, controller: Controller = DEFAULT_CONTROLLER
) -> dict[str, Any]:
    """The receipt of one consent record (every ledger event of it) as of `now`; raises ConsentRecordNotFound."""
    events = _events_of(session, record_id)
    if not events:
        raise ConsentRecordNotFound(record_id)
    last = events[-1]
    purpose = purposes_of(session).get(last.purpose)
    state = session.scalars(select(ConsentState).where(ConsentState.record_id == record_id)).first()
    in_force = next((e for e in events if state is not None and e.id == state.event_id), None)
    if in_force is None:  # no projection (every event ignored, or not folded yet): the last event counts
        in_force = next((e for e in reversed(events) if e.ignored_reason is None), last)
    folded = state.status if state is not None else in_force.status
    expires_at = state.expires_at if state is not None else in_force.expires_at
    status = effective_status(folded, expires_at, now)
    kind = None
    if last.identity_id is not None:
        identity = session.get(Identity, last.identity_id)
        kind = identity.kind if identity is not None else None
    lawful_basis = purpose.lawful_basis if purpose is not None else in_force.lawful_basis
    categories = purpose.data_categories if purpose is not None else ()
    jurisdictions = sorted(
        {e.jurisdiction for e in events if e.jurisdiction} | set(purpose.jurisdictions if purpose else ())
    ) or [controller.jurisdiction]
    notice = _notice(purpose, in_force)
    entries = _event_entries(events, purpose)
    return {
        "schema_version": SCHEMA_VERSION,
        "header": {
            "schema_version": SCHEMA_VERSION,
            "conforms_to": CONFORMS_TO,
            "receipt_id": str(uuid.uuid4()),
            "record_id": str(record_id),
            "issued_at": _iso(now),
            "pii_principal_id": str(last.profile_id),
            "pii_principal_id_type": "pseudonymous",
        },
        "processing": {
            "purpose": {
                "id": last.purpose,
                "title": purpose.title if purpose is not None else last.purpose,
                "purpose_iri": purpose_iri(purpose) if purpose is not None else DPV + "Purpose",
                "direct_marketing": purpose.direct_marketing if purpose is not None else False,
            },
            "lawful_basis": {"id": lawful_basis, "iris": list(LAWFUL_BASIS_IRIS.get(lawful_basis, ()))},
            "personal_data": [{"category": c, "iri": _category_iri(c)} for c in categories],
            "contact_point": {"id": str(last.identity_id), "kind": kind} if last.identity_id else None,
            "recipients": list(purpose.recipients if purpose is not None else ()),
            "jurisdictions": jurisdictions,
            "language": in_force.language or (notice or {}).get("language") or "en",
            "notice": notice,
            "consent_validity": str(purpose.consent_validity) if purpose and purpose.consent_validity else None,
            "retention": purpose.retention if purpose is not None else None,
            "sensitive": False,
            "special_categories": [],
        },
        "parties": [
            {
                "role": "controller",
                "role_iri": DPV + "DataController",
                "party_type": "legal_entity",
                "name": controller.name,
                "contact": controller.contact,
                "address": controller.address,
                "email": controller.email or None,
                "phone": controller.phone or None,
                "url": controller.url or None,
            }
        ],
        "status": {
            "state": status,
            "status_iri": STATUS_IRI.get(status, f"urn:cdp:consent-status:{status}"),
            "as_of": _iso(now),
            "event_id": str(in_force.id),
            "valid_until": _iso(expires_at),
        },
        "events": entries,
    }


def _termination(receipt: Mapping[str, Any]) -> str:
    validity = receipt["processing"]["consent_validity"]
    until = "withdrawal or objection by the person"
    return f"{until}, or {validity} after the grant unless renewed" if validity else until


def kantara_view(receipt: Mapping[str, Any]) -> dict[str, Any]:
    """The Kantara Consent Receipt v1.1 snapshot of a `receipt_27560` document (the event in force)."""
    header, processing, status = receipt["header"], receipt["processing"], receipt["status"]
    in_force = next(e for e in receipt["events"] if e["event_id"] == status["event_id"])
    when = dt.datetime.fromisoformat(in_force["time"])
    recipients = processing["recipients"]
    purpose = processing["purpose"]
    notice = processing["notice"] or {}
    entry: dict[str, Any] = {
        "purpose": purpose["title"],
        "purposeCategory": [purpose["purpose_iri"]],
        "consentType": KANTARA_CONSENT_TYPE.get(in_force["consent_type"] or "", "N/A"),
        "piiCategory": [c["iri"] for c in processing["personal_data"]],
        "primaryPurpose": True,
        "termination": _termination(receipt),
        "thirdPartyDisclosure": bool(recipients),
    }
    if recipients:
        entry["thirdPartyName"] = ", ".join(recipients)
    party = receipt["parties"][0]
    view: dict[str, Any] = {
        "version": KANTARA_VERSION,
        "jurisdiction": in_force["jurisdiction"] or ", ".join(processing["jurisdictions"]),
        "consentTimestamp": int(when.timestamp()),
        "collectionMethod": in_force["method"],
        "consentReceiptID": header["receipt_id"],
        "language": processing["language"],
        "piiPrincipalId": header["pii_principal_id"],
        "piiControllers": [
            {
                "piiController": party["name"],
                "onBehalf": False,
                "contact": party["contact"],
                "address": {"streetAddress": party["address"]} if party["address"] else {},
                "email": party["email"] or "",
                "phone": party["phone"] or "",
                **({"piiControllerUrl": party["url"]} if party["url"] else {}),
            }
        ],
        "policyUrl": notice.get("url") or party["url"] or "",
        "services": [{"service": purpose["id"], "purposes": [entry]}],
        "sensitive": processing["sensitive"],
        "spiCat": list(processing["special_categories"]),
    }
    return view
