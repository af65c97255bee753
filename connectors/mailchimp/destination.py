"""Mailchimp as a destination (CONNECTORS.md §4.2): batch upsert of consented members into one audience,
archive on removal and permanent delete on erasure.

Settings: `base_url` (`https://<dc>.api.mailchimp.com/3.0`), `api_key`, `list_id`; optional `status`
(`subscribed`, or `pending` to let Mailchimp send its own double opt-in), `unsubscribe_merge_field` (a merge
field tag, e.g. `UNSUBURL`, that carries cdp's one-click unsubscribe URL).
"""

import hashlib
from collections.abc import Sequence
from typing import Any

from cdp.connectors.base import ConnectorConfig, Member, PushResult
from cdp.connectors.http import HttpClient
from connectors.mailchimp.client import mailchimp_client

BATCH_MAX = 500  # members per `POST /lists/{id}` call, as documented


def subscriber_hash(email: str) -> str:
    """Mailchimp's member id: md5 of the lowercased address."""
    return hashlib.md5(email.strip().lower().encode(), usedforsecurity=False).hexdigest()


def _timestamp(member: Member) -> str | None:
    if member.consented_at is None:
        return None
    return member.consented_at.strftime("%Y-%m-%d %H:%M:%S")


def member_body(member: Member, config: ConnectorConfig) -> dict[str, Any]:
    merge: dict[str, str] = {}
    if member.first_name:
        merge["FNAME"] = member.first_name
    if member.last_name:
        merge["LNAME"] = member.last_name
    field = config.get("unsubscribe_merge_field")
    if field and member.unsubscribe_url:
        merge[str(field)] = member.unsubscribe_url
    body: dict[str, Any] = {
        "email_address": member.email,
        "status": str(config.get("status", "subscribed")),
        "merge_fields": merge,
    }
    if member.consent_ip:
        body["ip_opt"] = member.consent_ip
    stamp = _timestamp(member)
    if stamp:
        body["timestamp_opt"] = stamp
    return body


class MailchimpDestination:
    name = "mailchimp"

    def client(self, config: ConnectorConfig) -> HttpClient:
        return mailchimp_client(config)

    def member_ref(self, member: Member) -> str:
        if not member.email:
            raise ValueError("a Mailchimp member needs an email address")
        return subscriber_hash(member.email)

    def upsert(self, http: HttpClient, config: ConnectorConfig, members: Sequence[Member]) -> PushResult:
        list_id = str(config.require("list_id"))
        result = PushResult()
        for start in range(0, len(members), BATCH_MAX):
            chunk = [m for m in members[start : start + BATCH_MAX] if m.email]
            if not chunk:
                continue
            refs = {self.member_ref(m): m.ref for m in chunk}
            body = {
                "members": [member_body(m, config) for m in chunk],
                "update_existing": True,
                "sync_tags": False,
            }
            answer = http.post_json(f"lists/{list_id}", body) or {}
            for key in ("new_members", "updated_members"):
                for row in answer.get(key) or []:
                    ref = refs.get(str(row.get("id", "")))
                    if ref is not None:
                        result.done.append(ref)
            for error in answer.get("errors") or []:
                address = error.get("email_address")
                ref = refs.get(subscriber_hash(address)) if isinstance(address, str) else None
                if ref is not None:
                    result.failed[ref] = str(error.get("error_code") or "error")[:64]
            # A member Mailchimp neither created, updated nor refused was not confirmed: report it as failed.
            for ref in refs.values():
                if ref not in result.failed and ref not in result.done:
                    result.failed[ref] = "not_confirmed"
        return result

    def remove(
        self, http: HttpClient, config: ConnectorConfig, refs: Sequence[str], *, erase: bool = False
    ) -> PushResult:
        list_id = str(config.require("list_id"))
        result = PushResult()
        for ref in refs:
            if erase:
                http.request("POST", f"lists/{list_id}/members/{ref}/actions/delete-permanent", accept=(404,))
            else:
                http.request("DELETE", f"lists/{list_id}/members/{ref}", accept=(404,))
            result.done.append(ref)
        return result
