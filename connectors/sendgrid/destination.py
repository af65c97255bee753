"""SendGrid Marketing Contacts as a destination (CONNECTORS.md §5.1): asynchronous upserts keyed by cdp's
opaque `external_id`, deletion by contact id after "Get Contacts by Identifiers" on that external id (so a
removal never needs the address, and works after the person's erasure).

Settings: `api_key`; optional `base_url` (default `https://api.sendgrid.com`), `list_id` (a marketing list
the contacts join), `unsubscribe_field_id` (a custom text field that carries cdp's one-click unsubscribe URL).
Removal deletes the contact and never touches SendGrid's suppressions: deleting a suppression would re-enable
mail (§0.12); cdp's own suppression list stays the source of truth.
"""

import re
import time
from collections.abc import Sequence
from typing import Any

import httpx

from cdp.connectors.base import ConnectorConfig, Member, PushResult
from cdp.connectors.http import HttpClient, make_client, retry_after

DEFAULT_BASE_URL = "https://api.sendgrid.com"
UPSERT_MAX = 1000  # the API takes 30,000 contacts or 6 MB per call; smaller calls keep a retry cheap
SEARCH_MAX = 100  # identifiers per "Get Contacts by Identifiers" call, as documented
_SAFE_REF = re.compile(r"^[A-Za-z0-9_\-:]{1,128}$")


def sendgrid_throttle(response: httpx.Response) -> float | None:
    """429: wait until `X-RateLimit-Reset` (epoch seconds, §5.4), else `Retry-After`, else let backoff decide."""
    if response.status_code != 429:
        return None
    reset = response.headers.get("x-ratelimit-reset", "")
    if reset.isdigit():
        return max(0.0, float(reset) - time.time())
    return retry_after(response) or 0.0


def contact_body(member: Member, config: ConnectorConfig) -> dict[str, Any]:
    body: dict[str, Any] = {"email": member.email, "external_id": member.ref}
    if member.first_name:
        body["first_name"] = member.first_name
    if member.last_name:
        body["last_name"] = member.last_name
    field = config.get("unsubscribe_field_id")
    if field and member.unsubscribe_url:
        body["custom_fields"] = {str(field): member.unsubscribe_url}
    return body


def _contact_ids(found: Any) -> list[str]:
    """Contact ids from an identifier lookup: `result` maps each identifier to `{contact: {...}}` (or to an
    error for one not found), as "Get Contacts by Emails" does; a plain list of contacts is read too."""
    result = found.get("result") if isinstance(found, dict) else None
    items = result.values() if isinstance(result, dict) else result if isinstance(result, list) else []
    ids: list[str] = []
    for item in items:
        contact = item.get("contact", item) if isinstance(item, dict) else None
        if isinstance(contact, dict) and isinstance(contact.get("id"), str):
            ids.append(contact["id"])
    return ids


class SendGridDestination:
    name = "sendgrid"

    def client(self, config: ConnectorConfig) -> HttpClient:
        token = str(config.require("api_key"))
        return make_client(
            config,
            default_base_url=DEFAULT_BASE_URL,
            headers={"Authorization": f"Bearer {token}"},
            throttle=sendgrid_throttle,
        )

    def member_ref(self, member: Member) -> str:
        if not member.email:
            raise ValueError("a SendGrid contact needs an email address")
        return member.ref

    def upsert(self, http: HttpClient, config: ConnectorConfig, members: Sequence[Member]) -> PushResult:
        result = PushResult()
        list_id = config.get("list_id")
        for start in range(0, len(members), UPSERT_MAX):
            chunk = [m for m in members[start : start + UPSERT_MAX] if m.email]
            if not chunk:
                continue
            body: dict[str, Any] = {"contacts": [contact_body(m, config) for m in chunk]}
            if list_id:
                body["list_ids"] = [str(list_id)]
            answer = http.request("PUT", "/v3/marketing/contacts", json=body).json()
            # 202: accepted as a job; per-contact errors only show in the import status (polled separately).
            if isinstance(answer, dict) and isinstance(answer.get("job_id"), str):
                result.job_ids.append(answer["job_id"])
            result.done += [m.ref for m in chunk]
        return result

    def remove(
        self, http: HttpClient, config: ConnectorConfig, refs: Sequence[str], *, erase: bool = False
    ) -> PushResult:
        result = PushResult()
        safe = [r for r in refs if _SAFE_REF.fullmatch(r)]
        result.failed.update({r: "invalid_ref" for r in refs if r not in safe})
        for start in range(0, len(safe), SEARCH_MAX):
            chunk = safe[start : start + SEARCH_MAX]
            # 404 means none of them exists any more: already removed.
            answer = http.request(
                "POST",
                "/v3/marketing/contacts/search/identifiers/external_id",
                json={"identifiers": chunk},
                accept=(404,),
            )
            ids = _contact_ids(answer.json() if answer.status_code == 200 and answer.content else {})
            if ids:
                answer = http.request("DELETE", "/v3/marketing/contacts", params={"ids": ",".join(ids)})
                job = answer.json() if answer.content else {}
                if isinstance(job, dict) and isinstance(job.get("job_id"), str):
                    result.job_ids.append(job["job_id"])
            result.done += chunk  # contacts not found are already gone
        return result
