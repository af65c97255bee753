"""HubSpot CRM v3 contacts -> ContactRecords (CONNECTORS.md §1.3, §2.1, §2.5).

- Properties: email, phone (else mobilephone), names, company, job title, city, a two-letter country,
  `lifecyclestage` (HubSpot's stage names mapped to cdp's); `hs_legal_basis` and configured extra properties are
  kept as `hubspot_*` attributes.
- Events: `crm_created` (createdate) and `crm_updated` (lastmodifieddate), keyed by the contact id and that
  time, so a re-read of an unchanged contact adds nothing.
- `hs_email_optout = "true"` (unsubscribed from all email): `withdrawn` for every configured email marketing
  purpose, keyed per contact so re-reads and later edits do not repeat it. `"false"` is not a grant.
- Archived contacts (`archived=true`): only the contact id and a `crm_deleted` event. HubSpot's deletion is a
  restorable archive, not an erasure (§1.3); `contact.privacyDeletion` webhooks are the erasure signal.
- Communication-preference statuses (§2.5), when a subscription id is mapped to a purpose: `NOT_SUBSCRIBED`
  is `withdrawn`; `SUBSCRIBED` is `granted` only on a consent legal basis (`CONSENT_WITH_NOTICE`,
  `CONSENT_WITH_NOTICE_AND_OPT_IN`...); other bases record nothing.
"""

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

SOURCE = "hubspot"
BASE_PROPERTIES = (
    "email",
    "firstname",
    "lastname",
    "phone",
    "mobilephone",
    "company",
    "jobtitle",
    "city",
    "country",
    "lifecyclestage",
    "hs_email_optout",
    "hs_legal_basis",
    "createdate",
    "lastmodifieddate",
    "hs_object_id",
)
LIFECYCLE = {
    "subscriber": "subscriber",
    "lead": "lead",
    "marketingqualifiedlead": "marketing_qualified",
    "salesqualifiedlead": "sales_qualified",
    "opportunity": "opportunity",
    "customer": "customer",
    "evangelist": "customer",
}
FIELDS = {"firstname": "first_name", "lastname": "last_name", "company": "company", "jobtitle": "job_title"}


@dataclass(frozen=True)
class ContactMap:
    optout_purposes: tuple[str, ...] = ("email_marketing",)
    extra_properties: tuple[str, ...] = ()
    subscription_purposes: Mapping[str, str] = field(default_factory=dict)
    """HubSpot subscription type id -> cdp purpose (unmapped subscription types are ignored)."""

    @property
    def properties(self) -> list[str]:
        return [*BASE_PROPERTIES, *(p for p in self.extra_properties if p not in BASE_PROPERTIES)]


def parse_time(value: object) -> dt.datetime:
    """HubSpot objects carry ISO-8601 `…Z`; webhooks and some search values carry epoch milliseconds."""
    if isinstance(value, int | float) or (isinstance(value, str) and value.isdigit()):
        return dt.datetime.fromtimestamp(int(value) / 1000, dt.UTC)
    if not isinstance(value, str) or not value:
        raise ValueError("a HubSpot timestamp is an ISO-8601 string or epoch milliseconds")
    parsed = dt.datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError("a HubSpot timestamp carries a time zone")
    return parsed.astimezone(dt.UTC)


def to_ms(at: dt.datetime) -> int:
    return int(at.timestamp() * 1000)


def modified_at(contact: Mapping[str, Any]) -> dt.datetime:
    props = contact.get("properties") or {}
    return parse_time(props.get("lastmodifieddate") or contact.get("updatedAt"))


def _text(value: object) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def map_deleted(contact: Mapping[str, Any]) -> dict[str, Any]:
    contact_id = str(contact["id"])
    at = parse_time(contact.get("archivedAt") or contact.get("updatedAt"))
    return {
        "source": SOURCE,
        "external_id": contact_id,
        "observed_at": at.isoformat(),
        "events": [
            {
                "type": "crm_deleted",
                "occurred_at": at.isoformat(),
                "external_id": f"hubspot:contact:{contact_id}:archived:{to_ms(at)}",
                "properties": {"via": "archived"},
            }
        ],
    }


def map_contact(contact: Mapping[str, Any], cmap: ContactMap) -> dict[str, Any]:
    if contact.get("archived"):
        return map_deleted(contact)
    contact_id = str(contact["id"])
    props: Mapping[str, Any] = contact.get("properties") or {}
    updated = modified_at(contact)
    created = parse_time(props.get("createdate") or contact.get("createdAt") or updated.isoformat())
    record: dict[str, Any] = {"source": SOURCE, "external_id": contact_id, "observed_at": updated.isoformat()}
    email = _text(props.get("email"))
    record["email"] = email
    record["phone"] = _text(props.get("phone")) or _text(props.get("mobilephone"))
    for prop, name in FIELDS.items():
        record[name] = _text(props.get(prop))
    record["city"] = _text(props.get("city"))
    attributes: dict[str, Any] = {}
    country = _text(props.get("country"))
    if country and len(country) == 2 and country.isalpha():
        record["country"] = country.upper()
    elif country:
        attributes["hubspot_country"] = country  # free text ("United Kingdom"): not an ISO code
    stage = _text(props.get("lifecyclestage"))
    record["lifecycle_stage"] = LIFECYCLE.get(stage.lower()) if stage else None
    if stage:
        attributes["hubspot_lifecyclestage"] = stage
    if _text(props.get("hs_legal_basis")):
        attributes["hubspot_legal_basis"] = props["hs_legal_basis"]
    for prop in cmap.extra_properties:
        if prop not in BASE_PROPERTIES and props.get(prop) is not None:
            attributes[f"hubspot_{prop}"] = props[prop]
    record["attributes"] = attributes
    events = [
        {
            "type": "crm_created",
            "occurred_at": created.isoformat(),
            "external_id": f"hubspot:contact:{contact_id}:created",
            "properties": {"object": "contact"},
        }
    ]
    if updated > created:
        events.append(
            {
                "type": "crm_updated",
                "occurred_at": updated.isoformat(),
                "external_id": f"hubspot:contact:{contact_id}:updated:{to_ms(updated)}",
                "properties": {"object": "contact", **({"lifecyclestage": stage} if stage else {})},
            }
        )
    record["events"] = events
    consents: list[dict[str, Any]] = []
    if email and str(props.get("hs_email_optout", "")).lower() == "true":
        consents += [optout_consent(contact_id, purpose, updated.isoformat()) for purpose in cmap.optout_purposes]
    record["consents"] = consents
    return {k: v for k, v in record.items() if v is not None}


def optout_consent(contact_id: str, purpose: str, occurred_at: str) -> dict[str, Any]:
    return {
        "purpose": purpose,
        "status": "withdrawn",
        "occurred_at": occurred_at,
        "channel": "email",
        "method": "crm_sync",
        "indicated_by": "data_subject",
        # Keyed per contact: recorded when first seen (webhook or pull), not again on every later edit.
        "external_id": f"hubspot:contact:{contact_id}:hs_email_optout:{purpose}",
    }


def map_subscription_statuses(
    contact_id: str, statuses: Sequence[Mapping[str, Any]], cmap: ContactMap, at: dt.datetime
) -> list[dict[str, Any]]:
    """Consents from `GET /communication-preferences/v3/status/email/{email}` for the mapped subscription types."""
    consents: list[dict[str, Any]] = []
    for status in statuses:
        purpose = cmap.subscription_purposes.get(str(status.get("id")))
        if purpose is None:
            continue
        state, basis = status.get("status"), str(status.get("legalBasis") or "")
        if state == "NOT_SUBSCRIBED":
            cdp_status, consent_type = "withdrawn", None
        elif state == "SUBSCRIBED" and basis.startswith("CONSENT"):
            cdp_status, consent_type = "granted", "expressed"
        else:
            continue  # a legitimate-interest or unknown basis is no consent event (§1.3)
        consents.append(
            {
                "purpose": purpose,
                "status": cdp_status,
                "occurred_at": at.isoformat(),
                "channel": "email",
                "method": "crm_sync",
                **({"consent_type": consent_type} if consent_type else {}),
                "external_id": f"hubspot:contact:{contact_id}:subscription:{status.get('id')}:{state}:{basis}",
            }
        )
    return consents
