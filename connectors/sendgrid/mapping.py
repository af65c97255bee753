"""SendGrid events -> ContactRecords (one per address), keyed by `sg_event_id` so duplicates record once.

SendGrid has no contact id, so a record's external id is the SHA-256 of the lower-cased address (no address
in ids, audit entries or logs).

- delivered / open / click / bounce / dropped / deferred / processed: timeline events `email.<event>`;
  a `bounce` of type `bounce` (not the transient `blocked`) also adds `email.undeliverable`.
- unsubscribe, spamreport: `withdrawn` for the marketing purpose (a spam report is also an objection);
  group_unsubscribe / group_resubscribe: `withdrawn` / `granted` for the purpose mapped to `asm_group_id`
  (the marketing purpose when unmapped; a resubscribe for an unmapped group records nothing).
"""

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from typing import Any

SOURCE = "sendgrid"
TIMELINE = frozenset({"processed", "delivered", "deferred", "open", "click", "bounce", "dropped"})
PROPERTIES = ("sg_message_id", "category", "asm_group_id", "marketing_campaign_id", "type", "status", "reason")
PROPERTIES_BY_EVENT = {"open": ("sg_machine_open",), "click": ("url",), "bounce": ("bounce_classification",)}


@dataclass(frozen=True)
class EventMap:
    marketing_purpose: str = "email_marketing"
    group_purposes: dict[int, str] = field(default_factory=dict)  # asm_group_id -> purpose id


def _iso(epoch: Any) -> str:
    if isinstance(epoch, bool) or not isinstance(epoch, int | float):
        raise ValueError("SendGrid `timestamp` must be epoch seconds")
    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat()


def _consent(event: dict[str, Any], purpose: str, status: str, suffix: str = "") -> dict[str, Any]:
    return {
        "purpose": purpose,
        "status": status,
        "occurred_at": _iso(event["timestamp"]),
        "channel": "email",
        "method": "email_tool",
        "indicated_by": "data_subject",
        "external_id": f"sendgrid:{event['sg_event_id']}{suffix}",
        "proof": {
            "ip": event.get("ip") if isinstance(event.get("ip"), str) else None,
            "user_agent": event.get("useragent") if isinstance(event.get("useragent"), str) else None,
        },
    }


def _event(event: dict[str, Any], type_: str, suffix: str = "") -> dict[str, Any]:
    kind = str(event["event"])
    keys = PROPERTIES + PROPERTIES_BY_EVENT.get(kind, ())
    return {
        "type": type_,
        "occurred_at": _iso(event["timestamp"]),
        "external_id": f"sendgrid:{event['sg_event_id']}{suffix}",
        "properties": {k: event[k] for k in keys if k in event},
    }


# DESIGN.md's timeline vocabulary (email_delivered, email_opened, ...), shared with the other email tools and
# with the retention rules.
EVENT_TYPES = {
    "processed": "email_processed",
    "deferred": "email_deferred",
    "delivered": "email_delivered",
    "open": "email_opened",
    "click": "email_clicked",
    "bounce": "email_bounced",
    "dropped": "email_dropped",
    "unsubscribe": "email_unsubscribed",
    "spamreport": "email_spam_reported",
    "group_unsubscribe": "email_group_unsubscribed",
    "group_resubscribe": "email_group_resubscribed",
}


def map_events(events: list[dict[str, Any]], event_map: EventMap) -> list[dict[str, Any]]:
    by_email: dict[str, dict[str, Any]] = {}
    for event in events:
        email, kind, event_id = event.get("email"), event.get("event"), event.get("sg_event_id")
        if not isinstance(email, str) or not isinstance(kind, str) or not isinstance(event_id, str):
            continue  # without an address or an id it cannot be attributed or deduplicated
        events_out: list[dict[str, Any]] = []
        consents: list[dict[str, Any]] = []
        if kind in TIMELINE:
            events_out.append(_event(event, EVENT_TYPES[kind]))
            if kind == "bounce" and event.get("type", "bounce") == "bounce":
                events_out.append(_event(event, "email_undeliverable", ":undeliverable"))
        elif kind == "unsubscribe":
            consents.append(_consent(event, event_map.marketing_purpose, "withdrawn"))
        elif kind == "spamreport":
            consents.append(_consent(event, event_map.marketing_purpose, "withdrawn"))
            consents.append(_consent(event, event_map.marketing_purpose, "objected", ":objected"))
        elif kind in ("group_unsubscribe", "group_resubscribe"):
            group = event.get("asm_group_id")
            mapped = event_map.group_purposes.get(group) if isinstance(group, int) else None
            if kind == "group_unsubscribe":
                consents.append(_consent(event, mapped or event_map.marketing_purpose, "withdrawn"))
            elif mapped is not None:
                consents.append(_consent(event, mapped, "granted"))
        else:
            continue
        if kind in ("unsubscribe", "spamreport", "group_unsubscribe", "group_resubscribe"):
            events_out.append(_event(event, EVENT_TYPES[kind]))
        record = by_email.setdefault(
            email.lower(),
            {
                "source": SOURCE,
                "external_id": "email-sha256:" + hashlib.sha256(email.lower().encode()).hexdigest(),
                "observed_at": _iso(event["timestamp"]),
                "email": email,
                "events": [],
                "consents": [],
            },
        )
        record["observed_at"] = max(record["observed_at"], _iso(event["timestamp"]))
        record["events"].extend(events_out)
        record["consents"].extend(consents)
    return list(by_email.values())
