"""HubSpot pull against a local HubSpot: full load with `after` paging and archived contacts, incremental
search picking up only changes, the 10k search cap re-windowed, 429 + Retry-After / rate-limit bodies and 5xx."""

import datetime as dt
import math
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlmodel import col, select

from cdp.audit.log import Actor
from cdp.connectors import ConnectorConfig, ConnectorNotConfigured
from cdp.connectors.http import ConnectorFailed, HttpClient, RetryPolicy, Throttled
from cdp.connectors.sync import SyncReport, run_pull
from cdp.consent.models import ConsentEvent
from cdp.db import Stores, unit_of_work
from cdp.ingest.models import ConnectorState
from cdp.privacy.requests import open_from_signal
from cdp.profiles import store
from cdp.profiles.models import Event
from connectors.hubspot import HubSpotSource
from connectors.hubspot.client import PacingTransport, hubspot_throttle
from connectors.hubspot.mapping import ContactMap, map_subscription_statuses
from tests.connectors.helpers import fixture
from tests.connectors.hubspot.fake_hubspot import TOKEN, FakeHubSpot, Fault, contact, fixture_contacts, iso, serve

ACTOR = Actor("test-hubspot", "system")
LOADED_AT = dt.datetime(2026, 11, 21, tzinfo=dt.UTC)
CHANGED_MS = int(dt.datetime(2026, 11, 22, 10, tzinfo=dt.UTC).timestamp() * 1000)


def ms(at: dt.datetime) -> int:
    return int(at.timestamp() * 1000)


@pytest.fixture
def hubspot() -> Iterator[FakeHubSpot]:
    fake = FakeHubSpot()
    fake.add(*fixture_contacts())
    base = ms(dt.datetime(2026, 11, 10, tzinfo=dt.UTC))
    fake.add(*(contact(n, base + n * 60_000) for n in range(154, 159)))
    archived = fixture("hubspot_contact_page_archived.json")["results"][0]
    fake.archived[archived["id"]] = archived
    with serve(fake):
        yield fake


def config(fake: FakeHubSpot, **extra: Any) -> ConnectorConfig:
    return ConnectorConfig(
        "hubspot", {"base_url": fake.url, "token": TOKEN, "page_size": 2, "lag_seconds": 300, **extra}
    )


def http_for(fake: FakeHubSpot) -> HttpClient:
    return HttpClient(
        fake.url,
        headers={"Authorization": f"Bearer {TOKEN}"},
        throttle=hubspot_throttle,
        policy=RetryPolicy(attempts=3),
        sleep=lambda _s: None,
        rng=lambda: 0.0,
        transport=PacingTransport(sleep=fake.sleeps.append, clock=lambda: 100.0),
    )


def sync(
    stores: Stores, fake: FakeHubSpot, at: dt.datetime = LOADED_AT, full: bool = False, **extra: Any
) -> tuple[SyncReport, HttpClient]:
    with http_for(fake) as http:
        report = run_pull(
            stores,
            # A clock that stands still: every search is paced by the full interval, no real sleep.
            HubSpotSource(clock=lambda: at, sleep=fake.sleeps.append, monotonic=lambda: 100.0),
            config(fake, **extra),
            http,
            actor=ACTOR,
            on_signal=open_from_signal,
            full=full,
        )
        return report, http


def cursor(stores: Stores) -> dict[str, Any]:
    with unit_of_work(stores) as s:
        state = s.get(ConnectorState, "hubspot")
        assert state is not None
        return dict(state.cursor)


def payload(stores: Stores, external_id: str) -> dict[str, Any]:
    with unit_of_work(stores) as s:
        record = store.find_source_record(s, "hubspot", external_id)
        assert record is not None
        return store.source_payload(s, record)


def events(stores: Stores) -> list[str]:
    with unit_of_work(stores) as s:
        return list(s.scalars(select(Event.type).where(Event.source == "hubspot")).all())


def consents(stores: Stores) -> list[tuple[str, str, str]]:
    with unit_of_work(stores) as s:
        rows = s.scalars(select(ConsentEvent).where(ConsentEvent.source == "hubspot")).all()
        return sorted((c.purpose, c.status, c.method) for c in rows)


def test_a_full_load_pages_through_live_then_archived_contacts(stores: Stores, hubspot: FakeHubSpot) -> None:
    report, _ = sync(stores, hubspot)
    # 8 live contacts in pages of 2, then one page of archived contacts.
    assert (report.status, report.pages, report.counts["created"]) == ("completed", 5, 8)
    lists = hubspot.requests("/crm/v3/objects/contacts")
    assert [(q.get("after"), q["archived"]) for q in lists] == [
        (None, "false"),
        ("2", "false"),
        ("4", "false"),
        ("6", "false"),
        (None, "true"),
    ]
    assert "hs_email_optout" in lists[0]["properties"].split(",")
    assert hubspot.requests("/crm/v3/objects/contacts/search") == []
    assert cursor(stores) == {"watermark_ms": ms(LOADED_AT) - 300_000}

    ada = payload(stores, "151")
    assert (ada["email"], ada["phone"], ada["company"], ada["first_name"]) == (
        "ada.lovelace@example.com",
        "+44 20 7946 0958",
        "Northwind Traders",
        "Ada",
    )
    legal_basis = fixture("hubspot_contact_page_last.json")["results"][0]["properties"]["hs_legal_basis"]
    assert payload(stores, "153")["attributes"] == {"hubspot_legal_basis": legal_basis}
    # Grace unsubscribed from all email: a withdrawal for the marketing purpose, nothing granted for others.
    assert consents(stores) == [("email_marketing", "withdrawn", "crm_sync")]
    # A contact archived before cdp ever saw it leaves nothing behind (no profile of a bare id).
    assert report.counts["unchanged"] == 1
    with unit_of_work(stores) as s:
        assert store.find_source_record(s, "hubspot", "148") is None
    assert events(stores).count("crm_deleted") == 0 and events(stores).count("crm_created") == 8
    assert report.signals == 0

    # A full re-read changes nothing.
    again, _ = sync(stores, hubspot, full=True)
    assert again.counts["unchanged"] == 9 and again.counts["created"] == again.counts["updated"] == 0


def test_an_incremental_sync_reads_only_changes_and_archives_since_the_watermark(
    stores: Stores, hubspot: FakeHubSpot
) -> None:
    sync(stores, hubspot)
    stored_events, stored_consents = Counter(events(stores)), consents(stores)
    hubspot.log.clear()
    # After the load: Ada changes her last name and opts out, a new contact arrives, 154 is archived.
    ada = hubspot.contacts["151"]
    ada["properties"] |= {"lastname": "King", "hs_email_optout": "true", "lastmodifieddate": iso(CHANGED_MS)}
    hubspot.add(contact(159, CHANGED_MS + 1000))
    hubspot.archive("154", CHANGED_MS + 2000)

    report, _ = sync(stores, hubspot, at=dt.datetime(2026, 11, 23, tzinfo=dt.UTC))
    assert report.status == "completed"
    assert (report.counts["created"], report.counts["updated"], report.counts["unchanged"]) == (1, 2, 0)
    [query] = hubspot.requests("/crm/v3/objects/contacts/search")
    assert query["filterGroups"][0]["filters"] == [
        {"propertyName": "lastmodifieddate", "operator": "GTE", "value": str(ms(LOADED_AT) - 300_000)}
    ]
    assert query["sorts"] == fixture("hubspot_search_request.json")["sorts"]
    assert [q["archived"] for q in hubspot.requests("/crm/v3/objects/contacts")] == ["true"]
    assert payload(stores, "151")["last_name"] == "King"
    # The archived 154 keeps its last pulled view and gains a deletion event.
    assert payload(stores, "154")["first_name"] == "First154"
    assert Counter(events(stores)) - stored_events == Counter(
        {"source_record_updated": 1, "crm_updated": 2, "source_record_created": 1, "crm_created": 1, "crm_deleted": 1}
    )
    assert consents(stores) == sorted([*stored_consents, ("email_marketing", "withdrawn", "crm_sync")])
    # The watermark is the latest change seen (held behind the run's start).
    assert cursor(stores) == {"watermark_ms": CHANGED_MS + 1000}

    hubspot.log.clear()
    quiet, _ = sync(stores, hubspot, at=dt.datetime(2026, 11, 24, tzinfo=dt.UTC))
    # The inclusive GTE re-reads the newest contact; nothing is stored twice.
    assert quiet.counts["created"] == quiet.counts["updated"] == 0
    assert sum((Counter(events(stores)) - stored_events).values()) == 6


def test_the_search_result_cap_restarts_the_query_from_the_last_change(stores: Stores, hubspot: FakeHubSpot) -> None:
    sync(stores, hubspot)
    hubspot.log.clear()
    hubspot.search_cap = 4
    hubspot.add(*(contact(n, CHANGED_MS + n * 1000) for n in range(200, 207)))
    report, _ = sync(stores, hubspot, at=dt.datetime(2026, 11, 23, tzinfo=dt.UTC), search_result_cap=4)
    assert report.status == "completed" and report.counts["created"] == 7
    searches = hubspot.requests("/crm/v3/objects/contacts/search")
    windows = [(int(q["filterGroups"][0]["filters"][0]["value"]), q.get("after")) for q in searches]
    assert all(int(after or 0) + 2 <= 4 for _, after in windows)
    starts = [w for w, _ in windows]
    # Searches keep under HubSpot's 4 requests a second.
    assert hubspot.sleeps == [0.25] * (len(searches) - 1)
    # 200-203 in the first window; the next page would pass the cap, so the query restarts at 203 (GTE).
    assert starts == sorted(starts) and starts[2] == CHANGED_MS + 203_000 and len(set(starts)) == 2


def test_many_contacts_sharing_one_timestamp_stop_with_a_clear_error(stores: Stores, hubspot: FakeHubSpot) -> None:
    sync(stores, hubspot)
    hubspot.search_cap = 4
    hubspot.add(*(contact(n, CHANGED_MS) for n in range(300, 306)))
    with pytest.raises(ConnectorFailed, match="share one lastmodifieddate"):
        sync(stores, hubspot, at=dt.datetime(2026, 11, 23, tzinfo=dt.UTC), search_result_cap=4)


def test_429_with_retry_after_and_5xx_are_retried(stores: Stores, hubspot: FakeHubSpot) -> None:
    hubspot.fail(
        "/crm/v3/objects/contacts",
        Fault(429, fixture("hubspot_error_429.json"), {"Retry-After": "2", "X-HubSpot-RateLimit-Remaining": "0"}),
        Fault(502, {"status": "error", "message": "Bad Gateway"}),
    )
    report, http = sync(stores, hubspot)
    assert report.status == "completed" and report.counts["created"] == 8
    assert http.waits == [2.0, 0.0]


def test_the_daily_limit_stops_the_sync_at_its_checkpoint(stores: Stores, hubspot: FakeHubSpot) -> None:
    daily = {**fixture("hubspot_error_429.json"), "policyName": "DAILY"}
    hubspot.fail("/crm/v3/objects/contacts", Fault(429, daily, {"X-HubSpot-RateLimit-Daily-Remaining": "0"}))
    with pytest.raises(Throttled):
        sync(stores, hubspot)
    with unit_of_work(stores) as s:
        state = s.get(ConnectorState, "hubspot")
        assert state is not None and state.status == "failed" and state.last_error
    report, _ = sync(stores, hubspot)
    assert report.counts["created"] == 8


def test_5xx_that_persists_stops_with_the_checkpoint_kept(stores: Stores, hubspot: FakeHubSpot) -> None:
    hubspot.fail("/crm/v3/objects/contacts", *[Fault(503) for _ in range(3)])
    with pytest.raises(ConnectorFailed):
        sync(stores, hubspot)
    with unit_of_work(stores) as s:
        state = s.get(ConnectorState, "hubspot")
        assert state is not None and state.status == "failed"
    report, _ = sync(stores, hubspot)
    assert report.counts["created"] == 8


def _response(status: int, body: Any = None, **headers: str) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers)


@pytest.mark.parametrize(
    ("response", "wait"),
    [
        (_response(200), None),
        (_response(500), None),
        (_response(429, fixture("hubspot_error_429.json"), **{"Retry-After": "3"}), 3.0),
        (_response(429, fixture("hubspot_error_429.json")), 10.0),
        (_response(429, {"policyName": "SECONDLY"}), 1.0),
        (_response(429, {}, **{"X-HubSpot-RateLimit-Interval-Milliseconds": "10000"}), 10.0),
        (_response(429, {}, **{"X-HubSpot-RateLimit-Secondly-Remaining": "0"}), 1.0),
        (_response(429, {"policyName": "DAILY"}), math.inf),
        (_response(429, {}, **{"X-HubSpot-RateLimit-Daily-Remaining": "0", "Retry-After": "5"}), math.inf),
    ],
    ids=[
        "ok",
        "5xx",
        "retry-after",
        "ten-secondly",
        "secondly",
        "interval",
        "secondly-header",
        "daily",
        "daily-header",
    ],
)
def test_throttle_reads_hubspots_signals(response: httpx.Response, wait: float | None) -> None:
    assert hubspot_throttle(response) == wait


def test_subscription_statuses_become_consents_where_mapped(stores: Stores, hubspot: FakeHubSpot) -> None:
    statuses = fixture("hubspot_subscription_status.json")
    cmap = ContactMap(subscription_purposes={"7": "email_marketing", "8": "sales_outreach"})
    at = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)
    mapped = map_subscription_statuses("152", statuses["subscriptionStatuses"], cmap, at)
    # Marketing: NOT_SUBSCRIBED -> withdrawn; service: legitimate interest is no consent event.
    assert [(c["purpose"], c["status"]) for c in mapped] == [("email_marketing", "withdrawn")]
    subscribed = [{**statuses["subscriptionStatuses"][0], "status": "SUBSCRIBED"}]
    assert [c["status"] for c in map_subscription_statuses("152", subscribed, cmap, at)] == ["granted"]

    hubspot.preferences["grace.hopper@example.org"] = statuses
    report, _ = sync(stores, hubspot, subscription_purposes={"7": "email_marketing"})
    assert report.status == "completed"
    assert len(hubspot.requests("/communication-preferences")) == 8
    with unit_of_work(stores) as s:
        rows = s.scalars(select(ConsentEvent).where(col(ConsentEvent.source) == "hubspot")).all()
        assert sorted((c.purpose, c.status) for c in rows) == [
            ("email_marketing", "withdrawn"),
            ("email_marketing", "withdrawn"),
        ]


def test_a_spent_burst_budget_on_a_success_paces_the_next_request(stores: Stores, hubspot: FakeHubSpot) -> None:
    hubspot.rate_headers = {
        "X-HubSpot-RateLimit-Max": "100",
        "X-HubSpot-RateLimit-Remaining": "0",
        "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
    }
    report, _ = sync(stores, hubspot)
    assert report.counts["created"] == 8
    assert hubspot.sleeps == [10.0] * (len(hubspot.log) - 1)
    hubspot.sleeps.clear()
    hubspot.rate_headers = {"X-HubSpot-RateLimit-Secondly-Remaining": "0", "X-HubSpot-RateLimit-Remaining": "40"}
    sync(stores, hubspot, full=True)
    assert hubspot.sleeps and set(hubspot.sleeps) == {1.0}


def test_a_bad_setting_is_named_not_a_traceback(stores: Stores, hubspot: FakeHubSpot) -> None:
    with pytest.raises(ConnectorNotConfigured, match="page_size"):
        sync(stores, hubspot, page_size="lots")
