"""HubSpot contacts pull (CONNECTORS.md §1.2, §2.1-2.2, §2.5).

A first run (no cursor) is a full load: `GET /crm/v3/objects/contacts` paged by `after`, then the archived
contacts (`archived=true`) as deletions. Its watermark is the load's start time less `lag_seconds`, so contacts
changed while it ran are read again by the next run. Later runs are incremental: `POST …/contacts/search` on
`lastmodifieddate GTE watermark` sorted ascending, then the contacts archived since the watermark. The search
stops at 10,000 results per query (paging past it is a 400), so before the next page would pass the cap the
query restarts from the last `lastmodifieddate` seen; the overlap is harmless (unchanged records and events
with the same ids are no-ops). The new watermark is the latest `lastmodifieddate` read, held `lag_seconds`
behind the run's start because the search index trails writes ("may take a few moments").

The cursor after every page says where to resume (phase, `after`, window start, the run's start and its high
water mark), so a killed sync resumes inside the same phase and ends with the records of one clean run.
"""

import datetime as dt
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from cdp.connectors import ConnectorConfig, ConnectorNotConfigured, Cursor, Page
from cdp.connectors.http import ConnectorFailed, HttpClient
from cdp.db import utcnow
from connectors.hubspot.client import hubspot_client
from connectors.hubspot.mapping import (
    ContactMap,
    map_contact,
    map_deleted,
    map_subscription_statuses,
    modified_at,
    parse_time,
    to_ms,
)

CONTACTS = "/crm/v3/objects/contacts"
SEARCH = "/crm/v3/objects/contacts/search"
PREFERENCES = "/communication-preferences/v3/status/email/{email}"
SEARCH_CAP = 10_000


def _names(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(v.strip() for v in value.split(",") if v.strip())
    if isinstance(value, list | tuple):
        return tuple(str(v) for v in value)
    return ()


@dataclass(frozen=True)
class Options:
    contact_map: ContactMap
    page_size: int = 100
    lag_ms: int = 300_000
    search_cap: int = SEARCH_CAP
    search_interval_s: float = 0.25

    @classmethod
    def from_config(cls, config: ConnectorConfig) -> "Options":
        subscriptions = config.get("subscription_purposes") or {}
        if not isinstance(subscriptions, Mapping):
            subscriptions = {}
        try:
            return cls._read(config, subscriptions)
        except (TypeError, ValueError) as exc:
            raise ConnectorNotConfigured(
                "connector 'hubspot': page_size, lag_seconds, search_result_cap and search_interval_seconds "
                "must be numbers",
                connector="hubspot",
            ) from exc

    @classmethod
    def _read(cls, config: ConnectorConfig, subscriptions: Mapping[str, Any]) -> "Options":
        return cls(
            contact_map=ContactMap(
                optout_purposes=_names(config.get("optout_purposes")) or ("email_marketing",),
                extra_properties=_names(config.get("extra_properties")),
                subscription_purposes={str(k): str(v) for k, v in subscriptions.items()},
            ),
            page_size=min(int(config.get("page_size", 100)), 100),
            lag_ms=int(float(config.get("lag_seconds", 300)) * 1000),
            search_cap=int(config.get("search_result_cap", SEARCH_CAP)),
            search_interval_s=float(config.get("search_interval_seconds", 0.25)),
        )


def _next_after(body: Mapping[str, Any]) -> str | None:
    after = ((body.get("paging") or {}).get("next") or {}).get("after")
    return str(after) if after not in (None, "") else None


def _results(body: object) -> list[dict[str, Any]]:
    results = body.get("results") if isinstance(body, dict) else None
    if not isinstance(results, list) or not all(isinstance(r, dict) and "id" in r for r in results):
        raise ConnectorFailed("HubSpot answered with a body that is not a page of CRM objects")
    return results


class HubSpotSource:
    name = "hubspot"

    def __init__(
        self,
        clock: Callable[[], dt.datetime] = utcnow,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.clock = clock
        self._sleep = sleep
        self._monotonic = monotonic
        self._last_search: float | None = None

    def _pace_search(self, interval_s: float) -> None:
        """The search API has its own budget (4 requests a second per token): stay under it, not at it."""
        if self._last_search is not None:
            wait = self._last_search + interval_s - self._monotonic()
            if wait > 0:
                self._sleep(wait)
        self._last_search = self._monotonic()

    def client(self, config: ConnectorConfig) -> HttpClient:
        return hubspot_client(config)

    def pages(self, http: HttpClient, config: ConnectorConfig, cursor: Cursor | None) -> Iterator[Page]:
        opts = Options.from_config(config)
        state: dict[str, Any] = dict(cursor or {})
        if not state.get("phase"):
            started = to_ms(self.clock())
            if "watermark_ms" in state:
                since = int(state["watermark_ms"])
                state = {"phase": "search", "since_ms": since, "run_since_ms": since, "max_ms": since}
            else:
                state = {"phase": "list"}
            state["started_ms"] = started
        while True:
            if state["phase"] == "list":
                state, records = self._list_page(http, opts, state)
            elif state["phase"] == "search":
                state, records = self._search_page(http, opts, state)
            elif state["phase"] == "archived":
                state, records = self._archived_page(http, opts, state)
            else:
                raise ConnectorFailed("the HubSpot checkpoint names an unknown phase; `cdp connectors reset hubspot`")
            if opts.contact_map.subscription_purposes:
                self._add_subscription_consents(http, opts, records)
            if state["phase"] == "done":
                yield Page(records, {"watermark_ms": state["watermark_ms"]}, last=True)
                return
            yield Page(records, dict(state))

    def _list_page(
        self, http: HttpClient, opts: Options, state: dict[str, Any]
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        params: dict[str, Any] = {
            "limit": opts.page_size,
            "properties": ",".join(opts.contact_map.properties),
            "archived": "false",
        }
        if state.get("after"):
            params["after"] = state["after"]
        body = http.get_json(CONTACTS, params=params)
        results = _results(body)
        records = [map_contact(c, opts.contact_map) for c in results]
        after = _next_after(body)
        if after:
            return {**state, "after": after}, records
        return {"phase": "archived", "started_ms": state["started_ms"]}, records

    def _search_page(
        self, http: HttpClient, opts: Options, state: dict[str, Any]
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        query: dict[str, Any] = {
            "filterGroups": [
                {"filters": [{"propertyName": "lastmodifieddate", "operator": "GTE", "value": str(state["since_ms"])}]}
            ],
            "sorts": [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}],
            "properties": opts.contact_map.properties,
            "limit": opts.page_size,
        }
        if state.get("after"):
            query["after"] = state["after"]
        self._pace_search(opts.search_interval_s)
        body = http.post_json(SEARCH, query)
        results = _results(body)
        records = [map_contact(c, opts.contact_map) for c in results]
        seen = [to_ms(modified_at(c)) for c in results]
        high = max([int(state["max_ms"]), *seen])
        after = _next_after(body)
        if after and after.isdigit() and int(after) + opts.page_size > opts.search_cap:
            # The next page would pass the search cap: restart the query from the last modification seen.
            restart = seen[-1] if seen else int(state["since_ms"])
            if restart <= int(state["since_ms"]):
                raise ConnectorFailed(
                    f"more than {opts.search_cap} HubSpot contacts share one lastmodifieddate; "
                    "run a full sync (`cdp sync hubspot --full`)"
                )
            return {**state, "since_ms": restart, "after": None, "max_ms": high}, records
        if after:
            return {**state, "after": after, "max_ms": high}, records
        return {
            "phase": "archived",
            "run_since_ms": state["run_since_ms"],
            "max_ms": high,
            "started_ms": state["started_ms"],
        }, records

    def _archived_page(
        self, http: HttpClient, opts: Options, state: dict[str, Any]
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        params: dict[str, Any] = {"limit": opts.page_size, "archived": "true", "properties": "hs_object_id"}
        if state.get("after"):
            params["after"] = state["after"]
        body = http.get_json(CONTACTS, params=params)
        since = state.get("run_since_ms")
        records = [
            map_deleted(c)
            for c in _results(body)
            if since is None or to_ms(parse_time(c.get("archivedAt") or c.get("updatedAt"))) >= int(since)
        ]
        after = _next_after(body)
        if after:
            return {**state, "after": after}, records
        held_back = int(state["started_ms"]) - opts.lag_ms
        # A full load read everything up to its start; an incremental run up to the latest change it saw.
        watermark = held_back if since is None else max(int(since), min(int(state["max_ms"]), held_back))
        return {"phase": "done", "watermark_ms": watermark}, records

    def _add_subscription_consents(self, http: HttpClient, opts: Options, records: list[dict[str, Any]]) -> None:
        for record in records:
            email = record.get("email")
            if not email:
                continue
            response = http.request("GET", PREFERENCES.format(email=quote(str(email), safe="@")), accept=(404,))
            if response.status_code == 404:
                continue
            try:
                statuses = (response.json() or {}).get("subscriptionStatuses") or []
            except (ValueError, AttributeError) as exc:
                raise ConnectorFailed("HubSpot answered a subscription-status call with an unreadable body") from exc
            at = parse_time(record["observed_at"])
            record["consents"] = [
                *record.get("consents", []),
                *map_subscription_statuses(record["external_id"], statuses, opts.contact_map, at),
            ]
