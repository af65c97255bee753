"""Mailchimp webhook bodies (form-encoded, `data[...]` keys) -> ContactRecords (CONNECTORS.md §1.3, §4.3).

Mailchimp sends no event id, so every event and consent is keyed by the SHA-256 of the raw body: a redelivered
webhook is recorded once. A record's external id is the member id (`data[id]`, `data[new_id]` for `upemail`)
when present, else the SHA-256 of the lower-cased address (no address in ids, audit entries or logs).

- subscribe: names from the merge fields; `granted` for the marketing purpose (proof: the body's SHA-256 and
  `ip_opt`); event `email_subscribed`.
- unsubscribe (`action=unsub`): `withdrawn`, an `abuse` reason is also an objection; event `email_unsubscribed`.
- unsubscribe with `action=delete`: an admin removed the member; event `email_list_removed`, no consent change
  (CONNECTORS.md §1.3: removal at the destination is not the person withdrawing).
- profile: the merge fields only (no consent change, no event).
- upemail: a record for the new address and an event `email_address_changed`; the old address appears only as
  its SHA-256 (consent belongs to the contact point and is not copied).
- cleaned: event `email_undeliverable` with the reason; an `abuse` reason is also an objection.
- campaign and unknown types: nothing.
"""

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from connectors.mailchimp.members import external_id

SOURCE = "mailchimp"
NAME_MERGES = {"FNAME": "first_name", "LNAME": "last_name"}
SKIPPED_MERGES = frozenset({"EMAIL", *NAME_MERGES})
PROPERTIES = ("list_id", "campaign_id", "reason", "action")


@dataclass(frozen=True)
class EventMap:
    marketing_purpose: str = "email_marketing"


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def parse_form(raw_body: bytes) -> tuple[dict[str, str], dict[str, str]]:
    """(top-level fields, `data[...]` fields with the outer `data[` `]` removed, e.g. `merges][FNAME`)."""
    top: dict[str, str] = {}
    data: dict[str, str] = {}
    for key, value in parse_qsl(raw_body.decode("utf-8"), keep_blank_values=True, strict_parsing=True):
        if key.startswith("data[") and key.endswith("]"):
            data[key[5:-1]] = value
        else:
            top[key] = value
    return top, data


def _fired_at(value: str | None) -> str:
    if not value:
        raise ValueError("a Mailchimp webhook has a `fired_at`")
    # "2026-11-20 09:20:02", no zone: Mailchimp's clock is UTC.
    return dt.datetime.strptime(value, "%Y-%m-%d %H:%M:%S").replace(tzinfo=dt.UTC).isoformat()


def _merges(data: dict[str, str]) -> dict[str, str]:
    return {k[len("merges][") :]: v for k, v in data.items() if k.startswith("merges][")}


def map_webhook(raw_body: bytes, event_map: EventMap) -> list[dict[str, Any]]:
    if not raw_body.strip():
        return []  # Mailchimp's URL check can be an empty POST: nothing to record, and it must get a 2xx
    top, data = parse_form(raw_body)
    kind = top.get("type")
    if not kind:
        raise ValueError("a Mailchimp webhook has a `type`")
    if kind not in ("subscribe", "unsubscribe", "profile", "upemail", "cleaned"):
        return []  # campaign (and any future type): nothing about a contact
    occurred_at = _fired_at(top.get("fired_at"))
    key = "mailchimp:" + hashlib.sha256(raw_body).hexdigest()
    properties = {p: data[p] for p in PROPERTIES if data.get(p)}

    def event(type_: str, suffix: str = "", **extra: str) -> dict[str, Any]:
        return {
            "type": type_,
            "occurred_at": occurred_at,
            "external_id": key + suffix,
            "properties": {**properties, **extra},
        }

    def consent(status: str, suffix: str, indicated_by: str = "data_subject") -> dict[str, Any]:
        ip = data.get("ip_opt") or None
        return {
            "purpose": event_map.marketing_purpose,
            "status": status,
            "occurred_at": occurred_at,
            "channel": "email",
            "method": "email_tool",
            "consent_type": "expressed",
            "indicated_by": indicated_by,
            "external_id": key + suffix,
            "proof": {"payload_sha256": key.removeprefix("mailchimp:"), "ip": ip},
        }

    if kind == "upemail":
        new_email, old_email = data.get("new_email"), data.get("old_email")
        if not new_email:
            raise ValueError("a Mailchimp `upemail` webhook has `data[new_email]`")
        extra = {"old_email_sha256": sha256(old_email.lower())} if old_email else {}
        return [
            {
                "source": SOURCE,
                "external_id": external_id(data.get("new_id"), new_email),
                "observed_at": occurred_at,
                "email": new_email,
                "events": [event("email_address_changed", **extra)],
                "consents": [],
            }
        ]

    email = data.get("email")
    if not email:
        raise ValueError(f"a Mailchimp `{kind}` webhook has `data[email]`")
    record: dict[str, Any] = {
        "source": SOURCE,
        "external_id": external_id(data.get("id"), email),
        "observed_at": occurred_at,
        "email": email,
        "events": [],
        "consents": [],
    }
    merges = _merges(data)
    if kind in ("subscribe", "profile"):
        for merge, field in NAME_MERGES.items():
            if merges.get(merge):
                record[field] = merges[merge]
        record["attributes"] = {
            f"mailchimp_{k.lower()}": v for k, v in merges.items() if k not in SKIPPED_MERGES and "][" not in k
        }
    abuse = data.get("reason") == "abuse"
    if kind == "subscribe":
        record["consents"].append(consent("granted", ":granted"))
        record["events"].append(event("email_subscribed"))
    elif kind == "unsubscribe" and data.get("action") == "delete":
        # An admin deleted or archived the member: the list changed, the person said nothing (§1.3).
        record["events"].append(event("email_list_removed"))
    elif kind == "unsubscribe":
        record["consents"].append(consent("withdrawn", ":withdrawn"))
        if abuse:
            record["consents"].append(consent("objected", ":objected"))
        record["events"].append(event("email_unsubscribed"))
    elif kind == "cleaned":
        if abuse:
            record["consents"].append(consent("objected", ":objected"))
        record["events"].append(event("email_undeliverable"))
    return [record]
