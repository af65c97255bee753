"""Mailchimp list members (`GET /3.0/lists/{id}/members`) -> ContactRecords (CONNECTORS.md §1.3, §4.1).

A member's external id is `member:<unique_email_id>`, the id Mailchimp's webhooks send as `data[id]`, so the
pull, the webhooks and an audience export (`EUID`) all update one source record.

A pull sees the member's *state*, not the changes that led to it, so each ledger event is keyed by what it
rests on: the member, the purpose, the status and the subscription episode (`timestamp_opt`). A re-read or a
later edit adds nothing; a re-subscription (a new opt-in) and its later withdrawal add one each. The first
time a withdrawal is seen, `last_changed` is the closest time Mailchimp gives for it.

- subscribed: `granted` for the marketing purpose at `timestamp_opt` (Mailchimp's opt-in confirmation), with
  `ip_opt` as proof; a member without `timestamp_opt` was put on the list by someone else (an import, the
  API), so its grant is an unproven sync (`crm_sync`) that never outranks a withdrawal (fold rule b).
- `marketing_permissions[]` (GDPR-enabled audiences): each permission mapped to a purpose (by id or text,
  e.g. `Email`) is `granted` when enabled, `withdrawn` at `last_changed` when not. When the marketing purpose
  has a mapped permission, that permission decides it (ticking only "Direct Mail" is no email consent).
- unsubscribed: `withdrawn` at `last_changed` for the marketing purpose and every mapped permission.
- cleaned: the address bounced or complained: event `email_undeliverable`, no consent change.
- archived: an admin removed the member: event `email_list_removed`, no consent change.
- pending (double opt-in not confirmed yet) and transactional: no consent.
"""

import datetime as dt
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

SOURCE = "mailchimp"
NAME_MERGES = {"FNAME": "first_name", "LNAME": "last_name"}
SKIPPED_MERGES = frozenset({"EMAIL", "PHONE", *NAME_MERGES})


@dataclass(frozen=True)
class MemberMap:
    marketing_purpose: str = "email_marketing"
    permission_purposes: Mapping[str, str] = field(default_factory=lambda: {"email": "email_marketing"})
    """`marketing_permission_id` or permission text (case-insensitive) -> cdp purpose; others are ignored."""

    def purpose_of(self, permission: Mapping[str, Any]) -> str | None:
        folded = {str(k).casefold(): v for k, v in self.permission_purposes.items()}
        for key in (permission.get("marketing_permission_id"), permission.get("text")):
            if isinstance(key, str) and key.casefold() in folded:
                return folded[key.casefold()]
        return None


def parse_time(value: Any) -> dt.datetime | None:
    """Mailchimp API times (`2026-11-02T09:20:02+00:00`); empty strings are common and mean unknown."""
    if not isinstance(value, str) or not value.strip():
        return None
    parsed = dt.datetime.fromisoformat(value.strip())
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)).astimezone(dt.UTC)


def external_id(unique_email_id: Any, email: str) -> str:
    if isinstance(unique_email_id, str) and unique_email_id:
        return f"member:{unique_email_id}"
    return "email-sha256:" + hashlib.sha256(email.lower().encode()).hexdigest()


def episode(opted_in_at: dt.datetime | None) -> str:
    """One subscription of a member: its opt-in confirmation time (a re-subscription confirms again)."""
    return opted_in_at.astimezone(dt.UTC).isoformat() if opted_in_at else "unconfirmed"


def ledger_key(member_id: str, what: str, episode: str) -> str:
    """The id of a consent or event derived from a member's state: one per subscription episode, so a later
    edit of an unsubscribed member adds no second withdrawal. The pull and an audience export
    (`connectors.csv`) share it, so importing an export and then pulling records each fact once."""
    return f"mailchimp:{member_id}:{what}:{episode}"


def _attributes(member: Mapping[str, Any]) -> dict[str, Any]:
    merges = member.get("merge_fields") or {}
    attributes: dict[str, Any] = {
        f"mailchimp_{k.lower()}": v
        for k, v in merges.items()
        if k not in SKIPPED_MERGES and isinstance(v, str | int | float) and v != ""
    }
    attributes["mailchimp_status"] = member.get("status")
    tags = [t.get("name") for t in member.get("tags") or [] if isinstance(t, dict) and t.get("name")]
    if tags:
        attributes["mailchimp_tags"] = tags
    return attributes


def map_member(member: Mapping[str, Any], *, list_id: str, member_map: MemberMap, now: dt.datetime) -> dict[str, Any]:
    """One member as a ContactRecord-shaped dict (an unknown status adds no consent and no event); raises
    ValueError on a member with no address or status."""
    email = member.get("email_address")
    status = member.get("status")
    if not isinstance(email, str) or not email:
        raise ValueError("a Mailchimp member has an `email_address`")
    if not isinstance(status, str):
        raise ValueError("a Mailchimp member has a `status`")
    changed_at = parse_time(member.get("last_changed")) or now
    opt_at = parse_time(member.get("timestamp_opt"))
    signup_at = parse_time(member.get("timestamp_signup"))
    member_id = external_id(member.get("unique_email_id"), email)
    this_episode = episode(opt_at)
    merges = member.get("merge_fields") or {}
    record: dict[str, Any] = {
        "source": SOURCE,
        "external_id": member_id,
        "observed_at": changed_at.isoformat(),
        "email": email,
        "attributes": _attributes(member),
        "events": [],
        "consents": [],
    }
    for merge, name in NAME_MERGES.items():
        if isinstance(merges.get(merge), str) and merges[merge].strip():
            record[name] = merges[merge]
    if isinstance(merges.get("PHONE"), str) and merges["PHONE"].strip():
        record["phone"] = merges["PHONE"]

    def event(type_: str, at: dt.datetime) -> None:
        record["events"].append(
            {
                "type": type_,
                "occurred_at": at.isoformat(),
                "external_id": ledger_key(member_id, type_, this_episode),
                "properties": {"list_id": list_id},
            }
        )

    def consent(purpose: str, granted: bool) -> None:
        if granted:
            at, proven = (opt_at, True) if opt_at else (signup_at or changed_at, False)
        else:
            at, proven = changed_at, True
        status_ = "granted" if granted else "withdrawn"
        entry: dict[str, Any] = {
            "purpose": purpose,
            "status": status_,
            "occurred_at": at.isoformat(),
            "channel": "email",
            "method": "email_tool" if proven else "crm_sync",
            "indicated_by": indicated_by,
            "external_id": ledger_key(member_id, f"{purpose}:{status_}", this_episode),
        }
        if granted:
            entry["consent_type"] = "expressed"
            if opt_at and member.get("ip_opt"):
                entry["proof"] = {"ip": str(member["ip_opt"])[:64]}
        record["consents"].append(entry)

    # "N/A (Unsubscribed by an admin)": the controller acted, not the person.
    by_admin = "admin" in str(member.get("unsubscribe_reason") or "").lower()
    indicated_by = "controller" if status == "unsubscribed" and by_admin else "data_subject"
    permissions: dict[str, bool] = {}
    for permission in member.get("marketing_permissions") or []:
        purpose = member_map.purpose_of(permission) if isinstance(permission, dict) else None
        if purpose is not None:
            # Two permissions mapped to one purpose: it is granted only if all of them are enabled.
            permissions[purpose] = permissions.get(purpose, True) and permission.get("enabled") is True
    if status == "subscribed":
        consent(member_map.marketing_purpose, permissions.pop(member_map.marketing_purpose, True))
        for purpose, enabled in sorted(permissions.items()):
            consent(purpose, enabled)
        if opt_at:
            event("email_subscribed", opt_at)
    elif status == "unsubscribed":
        for purpose in sorted({member_map.marketing_purpose, *permissions}):
            consent(purpose, False)
        event("email_unsubscribed", changed_at)
    elif status == "cleaned":
        event("email_undeliverable", changed_at)
    elif status == "archived":
        event("email_list_removed", changed_at)
    return record
