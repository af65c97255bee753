"""HubSpot webhooks: signature v3 over the request (CONNECTORS.md §2.3-2.4), events -> ContactRecords, and
`contact.privacyDeletion` -> an erasure request.

v3 signs `method + uri + raw body + timestamp` with HMAC-SHA256 under the app's client secret, base64, sent in
`X-HubSpot-Signature-v3`; `X-HubSpot-Request-Timestamp` is epoch milliseconds and is refused outside 300 s
(HubSpot's SDK). The URI is the one HubSpot called: set `CDP_CONNECTOR_HUBSPOT__WEBHOOK_URL` to the URL in the
app settings when cdp runs behind a proxy. The legacy v1/v2 signatures (no timestamp, no replay protection) are
not accepted.

HubSpot's events name the contact but carry no contact data (the pull brings it), so each becomes a record with
the contact id and one timeline event: `crm_created`, `crm_property_changed` (the property's name; the value only
for `lifecyclestage` and `hs_email_optout`, never a contact point), `crm_deleted`, `crm_restored`, `crm_merged`
(on the surviving contact, with the merged ids; identities are not re-pointed). `eventId` is "not guaranteed to
be unique", so each event is keyed by the SHA-256 of the event without `attemptNumber`: a redelivery is recorded
once (creation, deletion and the opt-out use the pull's keys instead, so the two paths agree). `hs_email_optout`
changed to `true` is also a withdrawal for the opt-out purposes, covering the email cdp holds for that contact.
Events about a contact cdp has not stored yet are dropped by ingestion (a withdrawal is quarantined); the pull
brings the contact and its opt-out.

`contact.privacyDeletion` is a GDPR deletion in HubSpot: it opens an erasure request (a signal) and stores
nothing; the `contact.deletion` HubSpot sends with it is the usual archive event.
"""

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from cdp.connectors import NO_QUERY, BadSignature, Headers, Query, SourceSignal, check_timestamp
from connectors.hubspot.mapping import SOURCE, ContactMap, optout_consent, parse_time

SIGNATURE_HEADER = "X-HubSpot-Signature-v3"
TIMESTAMP_HEADER = "X-HubSpot-Request-Timestamp"
# HubSpot decodes exactly these in the URI's query before signing (request-validation docs).
_DECODED = {
    "%3A": ":",
    "%2F": "/",
    "%3F": "?",
    "%40": "@",
    "%21": "!",
    "%24": "$",
    "%27": "'",
    "%28": "(",
    "%29": ")",
    "%2A": "*",
    "%2C": ",",
    "%3B": ";",
}
EVENT_TYPES = {
    "contact.creation": "crm_created",
    "contact.propertyChange": "crm_property_changed",
    "contact.deletion": "crm_deleted",
    "contact.restore": "crm_restored",
    "contact.merge": "crm_merged",
}
VALUE_KEPT = frozenset({"lifecyclestage", "hs_email_optout"})
ERASURE_TYPES = frozenset({"contact.privacyDeletion"})


def signed_uri(uri: str) -> str:
    parts = urlsplit(uri)
    query = parts.query
    for encoded, char in _DECODED.items():
        query = query.replace(encoded, char).replace(encoded.lower(), char)
    return urlunsplit(parts._replace(query=query))


def sign_v3(secret: str, method: str, uri: str, raw_body: bytes, timestamp: str) -> str:
    message = method.upper().encode() + signed_uri(uri).encode() + raw_body + timestamp.encode()
    return base64.b64encode(hmac.new(secret.encode(), message, hashlib.sha256).digest()).decode()


def verify_v3(
    headers: Headers, raw_body: bytes, now: dt.datetime, *, secret: str | None, method: str, url: str
) -> None:
    if not secret:
        raise BadSignature("no client secret is configured for this connector")
    signature, timestamp = headers.get(SIGNATURE_HEADER), headers.get(TIMESTAMP_HEADER)
    if not signature or not timestamp:
        raise BadSignature(f"missing {SIGNATURE_HEADER} or {TIMESTAMP_HEADER} header")
    if not timestamp.isdigit() or len(timestamp) > 15:
        raise BadSignature(f"malformed {TIMESTAMP_HEADER} header")
    try:
        given = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BadSignature(f"malformed {SIGNATURE_HEADER} header") from exc
    expected = base64.b64decode(sign_v3(secret, method, url, raw_body, timestamp))
    if not hmac.compare_digest(given, expected):
        raise BadSignature("the webhook signature does not match the request")
    check_timestamp(dt.datetime.fromtimestamp(int(timestamp) / 1000, dt.UTC), now)


def _events(raw_body: bytes) -> list[dict[str, Any]]:
    events = json.loads(raw_body)
    if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
        raise ValueError("a HubSpot webhook body is a JSON array of events")
    for event in events:
        if "objectId" not in event or "occurredAt" not in event or "subscriptionType" not in event:
            raise ValueError("a HubSpot webhook event has objectId, occurredAt and subscriptionType")
    return events


def event_key(event: Mapping[str, Any]) -> str:
    """The event without `attemptNumber`, hashed: HubSpot's `eventId` alone is not guaranteed unique."""
    canonical = json.dumps({k: v for k, v in event.items() if k != "attemptNumber"}, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _event_id(kind: str, contact_id: str, event: Mapping[str, Any]) -> str:
    """Creation and deletion share the pull's keys (`mapping.py`), so whichever arrives first is the one kept."""
    if kind == "crm_created":
        return f"hubspot:contact:{contact_id}:created"
    if kind == "crm_deleted":
        return f"hubspot:contact:{contact_id}:archived:{int(event['occurredAt'])}"
    return "hubspot:webhook:" + event_key(event)


def map_events(events: list[dict[str, Any]], cmap: ContactMap | None = None) -> list[dict[str, Any]]:
    cmap = cmap or ContactMap()
    records = []
    for event in events:
        kind = EVENT_TYPES.get(str(event["subscriptionType"]))
        if kind is None:
            continue  # privacyDeletion is a signal; merges, associations and other objects: not mapped
        at = parse_time(event["occurredAt"]).isoformat()
        properties: dict[str, Any] = {"subscription_type": event["subscriptionType"]}
        for key, name in (("changeSource", "change_source"), ("changeFlag", "change_flag")):
            if event.get(key):
                properties[name] = str(event[key])
        prop = event.get("propertyName")
        if prop:
            properties["property"] = str(prop)
            if prop in VALUE_KEPT and event.get("propertyValue") is not None:
                properties["value"] = str(event["propertyValue"])
        contact_id = event["objectId"]
        if event.get("primaryObjectId") is not None:
            # A merge: the event belongs to the surviving contact; the merged ids stop existing in HubSpot.
            contact_id = event["primaryObjectId"]
            properties["merged_object_ids"] = [str(i) for i in event.get("mergedObjectIds") or []]
        consents = []
        if prop == "hs_email_optout" and str(event.get("propertyValue", "")).lower() == "true":
            # Unsubscribed from all email: withdrawn for the purposes the pull maps it to, under the pull's keys.
            consents = [optout_consent(str(contact_id), purpose, at) for purpose in cmap.optout_purposes]
        records.append(
            {
                "source": SOURCE,
                "external_id": str(contact_id),
                "observed_at": at,
                "consents": consents,
                "events": [
                    {
                        "type": kind,
                        "occurred_at": at,
                        "external_id": _event_id(kind, str(contact_id), event),
                        "properties": properties,
                    }
                ],
            }
        )
    return records


class HubSpotWebhook:
    name = SOURCE

    def __init__(self, contact_map: ContactMap | None = None) -> None:
        self.contact_map = contact_map or ContactMap()

    def verify(
        self, headers: Headers, raw_body: bytes, now: dt.datetime, *, secret: str | None, query: Query = NO_QUERY
    ) -> None:
        raise BadSignature("a HubSpot v3 signature covers the request URL; verify with verify_request")

    def verify_request(
        self,
        method: str,
        url: str,
        headers: Headers,
        raw_body: bytes,
        now: dt.datetime,
        *,
        secret: str | None,
    ) -> None:
        verify_v3(headers, raw_body, now, secret=secret, method=method, url=url)

    def parse(self, raw_body: bytes, headers: Headers) -> list[dict[str, Any]]:
        return map_events(_events(raw_body), self.contact_map)

    def signals(self, raw_body: bytes, headers: Headers) -> list[SourceSignal]:
        return [
            SourceSignal(
                type="erasure",
                source=SOURCE,
                external_id=str(event["objectId"]),
                occurred_at=parse_time(event["occurredAt"]),
                # A contact is GDPR-deleted once: one request per contact, however often HubSpot delivers it.
                signal_id=f"hubspot:privacyDeletion:{event['objectId']}",
                notes=f"HubSpot {event['subscriptionType']}",
            )
            for event in _events(raw_body)
            if event["subscriptionType"] in ERASURE_TYPES
        ]
