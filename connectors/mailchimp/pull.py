"""Mailchimp audience pull: `GET /3.0/lists/{list_id}/members` with `count`/`offset` paging, incremental through
`since_last_changed` (CONNECTORS.md §1.2, §4.1, §4.4).

Settings (connectors file or `CDP_CONNECTOR_MAILCHIMP__<KEY>`): `api_key` (`<key>-us6`: the suffix names the
data centre, `https://us6.api.mailchimp.com`), `list_id`, optionally `base_url`, `page_size` (≤ 1000),
`page_overlap`, `clock_margin_seconds`, `marketing_purpose` and `permission_purposes` (a mapping of
`marketing_permission_id` or permission text to a cdp purpose, default `{"Email": "email_marketing"}`).

Each pass reads one window of `last_changed`: from the previous pass's end (nothing on the first, full load)
to the pass's start minus a clock margin, fixed for the whole pass in the cursor. Successive windows overlap
by a second, so a member changed during a pass falls into the next one. Offset paging over a window
from which members can leave (a change moves them out) can skip a member at a page boundary, so consecutive
pages overlap by `page_overlap` members; re-reading is a no-op.

Throttling (§4.4): at most 10 connections; 429 (problem+json, no rate headers) and a bare 403 (no JSON
body) are waits with backoff. A 403 problem (a real permission error), 401 and 404 stop the sync.
"""

import datetime as dt
import logging
import re
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

from cdp.connectors import ConnectorConfig, ConnectorNotConfigured, Cursor, Page
from cdp.connectors.http import ConnectorFailed, HttpClient
from connectors.mailchimp.client import mailchimp_client
from connectors.mailchimp.members import MemberMap, map_member

log = logging.getLogger(__name__)

MAX_PAGE = 1000
_LIST_ID = re.compile(r"^[A-Za-z0-9]{1,64}$")


def _int_setting(config: ConnectorConfig, key: str, default: int, low: int, high: int) -> int:
    try:
        value = int(config.get(key, default))
    except (TypeError, ValueError):
        value = low - 1
    if not low <= value <= high:
        raise ConnectorNotConfigured(
            f"mailchimp setting {key!r} must be a whole number from {low} to {high}", connector="mailchimp", setting=key
        )
    return value


def member_map(config: ConnectorConfig) -> MemberMap:
    purpose = str(config.get("marketing_purpose", "email_marketing"))
    permissions = config.get("permission_purposes")
    if permissions is None:
        return MemberMap(marketing_purpose=purpose, permission_purposes={"email": purpose})
    if not isinstance(permissions, dict) or not all(isinstance(v, str) for v in permissions.values()):
        raise ConnectorNotConfigured(
            "mailchimp setting 'permission_purposes' maps permission ids or texts to purpose ids",
            connector="mailchimp",
            setting="permission_purposes",
        )
    return MemberMap(marketing_purpose=purpose, permission_purposes=dict(permissions))


def _iso(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).replace(microsecond=0).isoformat()


class MailchimpPull:
    name = "mailchimp"

    def __init__(self, clock: Callable[[], dt.datetime] | None = None) -> None:
        self._clock = clock or (lambda: dt.datetime.now(dt.UTC))

    def client(self, config: ConnectorConfig) -> HttpClient:
        return mailchimp_client(config)

    def pages(self, http: HttpClient, config: ConnectorConfig, cursor: Cursor | None) -> Iterator[Page]:
        list_id = str(config.require("list_id"))
        if not _LIST_ID.fullmatch(list_id):
            raise ConnectorNotConfigured(
                "mailchimp setting 'list_id' is the audience id (letters and digits)",
                connector="mailchimp",
                setting="list_id",
            )
        count = _int_setting(config, "page_size", MAX_PAGE, 1, MAX_PAGE)
        overlap = _int_setting(config, "page_overlap", 10, 0, count - 1)
        margin = _int_setting(config, "clock_margin_seconds", 60, 0, 86_400)
        mapping = member_map(config)
        state = dict(cursor or {})
        since: str | None = state.get("since")
        if "until" in state:  # resume a pass that stopped part-way
            until, offset = str(state["until"]), int(state.get("offset", 0))
        else:
            until, offset = _iso(self._clock() - dt.timedelta(seconds=margin)), 0
        path = f"/3.0/lists/{quote(list_id)}/members"
        while True:
            params: dict[str, str | int] = {"count": count, "offset": offset, "before_last_changed": until}
            if since:
                params["since_last_changed"] = since
            body = http.get_json(path, params=params)
            members = body.get("members") if isinstance(body, dict) else None
            total = body.get("total_items") if isinstance(body, dict) else None
            if not isinstance(members, list) or not isinstance(total, int):
                raise ConnectorFailed("Mailchimp answered a members page without `members` and `total_items`")
            records = self._records(members, list_id=list_id, mapping=mapping)
            if len(members) < count or offset + len(members) >= total:
                # Mailchimp does not say whether its bounds are inclusive: the next window starts a second early.
                next_since = _iso(dt.datetime.fromisoformat(until) - dt.timedelta(seconds=1))
                yield Page(records, {"since": next_since}, last=True)
                return
            offset += len(members) - overlap
            yield Page(records, {"since": since, "until": until, "offset": offset})

    def _records(self, members: list[Any], *, list_id: str, mapping: MemberMap) -> list[dict[str, Any]]:
        now, records, skipped = self._clock(), [], 0
        for member in members:
            try:
                if not isinstance(member, dict):
                    raise ValueError("a Mailchimp member is an object")
                records.append(map_member(member, list_id=list_id, member_map=mapping, now=now))
            except ValueError:
                skipped += 1
        if skipped:
            log.warning("mailchimp.members_skipped", extra={"skipped": skipped, "page_members": len(members)})
        return records
