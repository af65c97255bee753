"""Mailchimp list-members pull against a local Mailchimp (tests/connectors/mailchimp/fake.py): paging, the
`last_changed` windows of full and incremental passes, throttling and failures, and what lands in the ledger."""

import copy
import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlmodel import col, select

from cdp.audit.log import Actor
from cdp.connectors import ConnectorConfig, ConnectorNotConfigured, get_pull_source
from cdp.connectors.http import ConnectorFailed, ConnectorRejected
from cdp.connectors.sync import run_pull
from cdp.consent.models import ConsentEvent, ConsentState
from cdp.crypto.envelope import vault
from cdp.db import Stores, unit_of_work
from cdp.ingest.models import ConnectorState
from cdp.ingest.records import ContactRecord
from cdp.profiles.models import Event, SourceRecord
from cdp.profiles.store import external_kind
from connectors.mailchimp import MailchimpPull, MemberMap
from connectors.mailchimp.client import base_url_for
from connectors.mailchimp.members import map_member
from tests.connectors.helpers import FIXTURES, fixture
from tests.connectors.mailchimp.fake import API_KEY, LIST_ID, FakeMailchimp, Fault, serve

ACTOR = Actor("test-mailchimp-pull", "system")
NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
UNTIL = "2026-12-01T11:59:00+00:00"  # NOW minus the default 60 s clock margin
PROBLEM_429 = (FIXTURES / "mailchimp_error_problem.json").read_bytes()
MEMBERS = fixture("mailchimp_list_members.json")["members"]
MEMBER_IDS = [f"member:{m['unique_email_id']}" for m in MEMBERS] + [f"member:e{i:09d}" for i in range(10)]


class Clock:
    def __init__(self, now: dt.datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def mailchimp() -> Iterator[FakeMailchimp]:
    with serve(FakeMailchimp()) as fake:
        yield fake


def config(fake: FakeMailchimp, **extra: Any) -> ConnectorConfig:
    values = {
        "api_key": API_KEY,
        "list_id": LIST_ID,
        "base_url": fake.url,
        "retry_attempts": 3,
        "retry_base_seconds": 0,
        **extra,
    }
    return ConnectorConfig("mailchimp", values)


def run(stores: Stores, fake: FakeMailchimp, clock: Clock | None = None, **kwargs: Any) -> Any:
    source = MailchimpPull(clock=clock or Clock())
    cfg = config(fake, **kwargs.pop("settings", {}))
    with source.client(cfg) as http:
        return run_pull(stores, source, cfg, http, actor=ACTOR, **kwargs)


def member_queries(fake: FakeMailchimp) -> list[dict[str, str]]:
    return [{k: v for k, v in r.items() if k != "path"} for r in fake.requests]


def consents(stores: Stores) -> list[tuple[str, str, str, str, bool]]:
    with unit_of_work(stores) as s:
        rows = s.scalars(select(ConsentEvent).where(ConsentEvent.source == "mailchimp")).all()
        return sorted((r.purpose, r.status, r.occurred_at.isoformat(), r.method, r.has_proof) for r in rows)


def states(stores: Stores) -> dict[str, str]:
    """Consent state per source member id (`member:<euid>`) for email_marketing."""
    with unit_of_work(stores) as s:
        records = s.scalars(select(SourceRecord).where(SourceRecord.source == "mailchimp")).all()
        v = vault(s)
        names = {v.blind_index(external_kind("mailchimp"), i): i for i in MEMBER_IDS}
        by_profile = {r.profile_id: names.get(r.external_id_index, "?") for r in records}
        found = s.scalars(select(ConsentState).where(col(ConsentState.purpose) == "email_marketing")).all()
        return {by_profile[st.profile_id]: st.status for st in found if st.profile_id in by_profile}


def event_types(stores: Stores) -> list[str]:
    with unit_of_work(stores) as s:
        types = s.scalars(select(Event.type).where(Event.source == "mailchimp")).all()
        return sorted(t for t in types if not t.startswith("source_record"))


def extra_members(n: int) -> list[dict[str, Any]]:
    made = []
    for i in range(n):
        member = copy.deepcopy(MEMBERS[0])
        email = f"reader{i}@example.com"
        member.update(
            id=hashlib.md5(email.encode()).hexdigest(),
            email_address=email,
            unique_email_id=f"e{i:09d}",
            merge_fields={"FNAME": f"Reader{i}", "LNAME": "Example"},
            ip_opt="",
        )
        made.append(member)
    return made


# --- configuration ------------------------------------------------------------------------------------------


def test_registered_as_a_pull_source_next_to_the_webhook() -> None:
    assert isinstance(get_pull_source("mailchimp"), MailchimpPull)


def test_the_data_centre_comes_from_the_key_suffix() -> None:
    assert base_url_for("0123abcd-us6") == "https://us6.api.mailchimp.com"
    assert base_url_for("0123abcd-us19") == "https://us19.api.mailchimp.com"
    with pytest.raises(ConnectorNotConfigured) as caught:
        base_url_for("no-suffix-here.example.com")
    assert "no-suffix" not in caught.value.detail


def test_without_base_url_the_client_calls_the_data_centre() -> None:
    source = MailchimpPull()
    with source.client(ConnectorConfig("mailchimp", {"api_key": "k-us6", "list_id": LIST_ID})) as http:
        assert http.base_url.startswith("https://us6.api.mailchimp.com")


def test_missing_settings_say_which(mailchimp: FakeMailchimp, stores: Stores) -> None:
    with pytest.raises(ConnectorNotConfigured, match="list_id"):
        source = MailchimpPull(clock=Clock())
        cfg = ConnectorConfig("mailchimp", {"api_key": API_KEY, "base_url": mailchimp.url})
        with source.client(cfg) as http:
            list(source.pages(http, cfg, None))


def test_a_wrong_api_key_is_rejected_not_retried(mailchimp: FakeMailchimp, stores: Stores) -> None:
    source = MailchimpPull(clock=Clock())
    cfg = ConnectorConfig("mailchimp", {"api_key": "wrong-us6", "list_id": LIST_ID, "base_url": mailchimp.url})
    with source.client(cfg) as http, pytest.raises(ConnectorRejected) as caught:
        run_pull(stores, source, cfg, http, actor=ACTOR)
    assert caught.value.status == 401 and len(mailchimp.requests) == 1


# --- mapping ------------------------------------------------------------------------------------------------


def test_each_status_maps_as_the_research_says() -> None:
    ada, grace, bob = (map_member(m, list_id=LIST_ID, member_map=MemberMap(), now=NOW) for m in MEMBERS)
    for record in (ada, grace, bob):
        ContactRecord.model_validate(record)
    assert (ada["external_id"], ada["first_name"], ada["last_name"]) == ("member:8a25ff1d98", "Ada", "Lovelace")
    [granted] = ada["consents"]
    assert granted["status"] == "granted" and granted["occurred_at"] == "2026-11-02T09:20:02+00:00"
    assert granted["proof"] == {"ip": "203.0.113.7"} and granted["method"] == "email_tool"
    assert [e["type"] for e in ada["events"]] == ["email_subscribed"]
    assert ada["attributes"] == {"mailchimp_status": "subscribed", "mailchimp_tags": ["newsletter"]}
    [withdrawn] = grace["consents"]
    assert (withdrawn["status"], withdrawn["occurred_at"]) == ("withdrawn", "2026-11-20T08:01:55+00:00")
    assert withdrawn["indicated_by"] == "controller"  # "N/A (Unsubscribed by an admin)"
    assert [e["type"] for e in grace["events"]] == ["email_unsubscribed"]
    assert bob["consents"] == [] and [e["type"] for e in bob["events"]] == ["email_undeliverable"]


def test_marketing_permissions_map_to_purposes() -> None:
    mapping = MemberMap(
        permission_purposes={"Email": "email_marketing", "8b9c0d1e2f": "ad_audience_sharing"},
    )
    ada = map_member(MEMBERS[0], list_id=LIST_ID, member_map=mapping, now=NOW)
    assert sorted((c["purpose"], c["status"]) for c in ada["consents"]) == [
        ("ad_audience_sharing", "withdrawn"),
        ("email_marketing", "granted"),
    ]
    # Subscribed, but the Email permission off: no email consent, whatever the audience status says.
    off = copy.deepcopy(MEMBERS[0])
    off["marketing_permissions"][0]["enabled"] = False
    [only] = map_member(off, list_id=LIST_ID, member_map=MemberMap(), now=NOW)["consents"]
    assert (only["purpose"], only["status"], only["occurred_at"]) == (
        "email_marketing",
        "withdrawn",
        "2026-11-19T16:40:04+00:00",
    )


def test_pending_archived_and_unproven_members() -> None:
    pending = {**MEMBERS[0], "status": "pending"}
    record = map_member(pending, list_id=LIST_ID, member_map=MemberMap(), now=NOW)
    assert record["consents"] == [] and record["events"] == []
    archived = map_member({**MEMBERS[0], "status": "archived"}, list_id=LIST_ID, member_map=MemberMap(), now=NOW)
    assert archived["consents"] == [] and [e["type"] for e in archived["events"]] == ["email_list_removed"]
    # Put on the list by an import: no opt-in confirmation, so an unproven sync grant.
    imported = {**MEMBERS[0], "timestamp_opt": "", "ip_opt": "", "timestamp_signup": ""}
    [grant] = map_member(imported, list_id=LIST_ID, member_map=MemberMap(), now=NOW)["consents"]
    assert (grant["method"], grant["occurred_at"], "proof" in grant) == ("crm_sync", "2026-11-19T16:40:04+00:00", False)


# --- paging and windows ---------------------------------------------------------------------------------------


def test_a_full_load_pages_with_count_and_offset_and_stores_the_ledger(
    mailchimp: FakeMailchimp, stores: Stores
) -> None:
    mailchimp.members += extra_members(4)
    report = run(stores, mailchimp, settings={"page_size": 3, "page_overlap": 1})
    assert (report.status, report.pages, report.counts["created"]) == ("completed", 3, 7)
    assert member_queries(mailchimp) == [
        {"count": "3", "offset": str(offset), "before_last_changed": UNTIL} for offset in (0, 2, 4)
    ]
    assert states(stores) == {
        "member:8a25ff1d98": "granted",
        "member:9c1e0a2b3d": "withdrawn",
        **{f"member:e{i:09d}": "granted" for i in range(4)},
    }
    assert ("email_marketing", "granted", "2026-11-02T09:20:02+00:00", "email_tool", True) in consents(stores)
    assert event_types(stores).count("email_undeliverable") == 1
    with unit_of_work(stores) as s:
        st = s.get(ConnectorState, "mailchimp")
        assert st is not None and (st.status, st.cursor) == ("idle", {"since": "2026-12-01T11:58:59+00:00"})


def test_an_incremental_run_asks_for_changes_since_the_last_pass_only(mailchimp: FakeMailchimp, stores: Stores) -> None:
    run(stores, mailchimp)
    before = consents(stores)
    grace = mailchimp.member("grace.hopper@example.org")
    grace.update(
        status="subscribed",
        timestamp_opt="2026-12-01T11:59:30+00:00",
        last_changed="2026-12-01T11:59:30+00:00",
        ip_opt="198.51.100.24",
    )
    grace["marketing_permissions"][0]["enabled"] = True
    mailchimp.requests.clear()
    report = run(stores, mailchimp, Clock(NOW + dt.timedelta(hours=1)))
    assert member_queries(mailchimp) == [
        {
            "count": "1000",
            "offset": "0",
            "since_last_changed": "2026-12-01T11:58:59+00:00",
            "before_last_changed": "2026-12-01T12:59:00+00:00",
        }
    ]
    assert report.resumed and report.counts["updated"] == 1 and sum(report.counts.values()) == 1
    assert states(stores)["member:9c1e0a2b3d"] == "granted"  # re-subscribed after the withdrawal
    assert len(consents(stores)) == len(before) + 1
    # Nothing changed since: the next pass reads an empty window and adds nothing.
    again = run(stores, mailchimp, Clock(NOW + dt.timedelta(hours=2)))
    assert (again.pages, sum(again.counts.values())) == (1, 0)


def test_a_rerun_of_the_same_window_adds_nothing(mailchimp: FakeMailchimp, stores: Stores) -> None:
    run(stores, mailchimp)
    ledger, events = consents(stores), event_types(stores)
    report = run(stores, mailchimp, full=True)
    assert report.counts["unchanged"] == 3
    assert (consents(stores), event_types(stores)) == (ledger, events)


def test_a_stopped_pass_resumes_with_its_window_and_offset(mailchimp: FakeMailchimp, stores: Stores) -> None:
    mailchimp.members += extra_members(3)
    first = run(stores, mailchimp, settings={"page_size": 2, "page_overlap": 0}, max_pages=1)
    assert first.status == "stopped"
    mailchimp.requests.clear()
    later = Clock(NOW + dt.timedelta(hours=1))
    second = run(stores, mailchimp, later, settings={"page_size": 2, "page_overlap": 0})
    assert second.resumed and second.status == "completed"
    assert [q["offset"] for q in member_queries(mailchimp)] == ["2", "4"]
    assert {q["before_last_changed"] for q in member_queries(mailchimp)} == {UNTIL}  # the pass's own window
    assert len(states(stores)) == 5


# --- throttling and failures ------------------------------------------------------------------------------------


def test_429_problem_json_is_waited_out(mailchimp: FakeMailchimp, stores: Stores) -> None:
    mailchimp.faults += [Fault(429, PROBLEM_429), Fault(429, PROBLEM_429)]
    report = run(stores, mailchimp)
    assert report.status == "completed" and report.counts["created"] == 3
    assert len(mailchimp.requests) == 3


def test_a_bare_403_is_a_throttle_but_a_403_problem_is_a_refusal(mailchimp: FakeMailchimp, stores: Stores) -> None:
    mailchimp.faults.append(Fault(403, b"", content_type="text/plain"))
    assert run(stores, mailchimp).status == "completed"
    forbidden = json.dumps({"title": "Forbidden", "status": 403, "detail": "no access"}).encode()
    mailchimp.faults.append(Fault(403, forbidden))
    with pytest.raises(ConnectorRejected) as caught:
        run(stores, mailchimp, full=True)
    assert caught.value.status == 403


def test_5xx_is_retried_and_persistent_failure_keeps_the_checkpoint(mailchimp: FakeMailchimp, stores: Stores) -> None:
    mailchimp.members += extra_members(3)
    mailchimp.faults.append(Fault(503, b"", content_type="text/plain"))
    settings = {"page_size": 2, "page_overlap": 0}
    first = run(stores, mailchimp, settings=settings, max_pages=1)
    assert first.pages == 1
    mailchimp.faults += [Fault(500, b"oops", content_type="text/plain")] * 3
    with pytest.raises(ConnectorFailed):
        run(stores, mailchimp, settings=settings)
    with unit_of_work(stores) as s:
        st = s.get(ConnectorState, "mailchimp")
        assert st is not None and st.status == "failed" and st.cursor["offset"] == 2
        assert "@" not in (st.last_error or "")
    mailchimp.requests.clear()
    done = run(stores, mailchimp, settings=settings)
    assert done.status == "completed" and [q["offset"] for q in member_queries(mailchimp)] == ["2", "4"]
    assert len(states(stores)) == 5


def test_a_throttle_past_max_wait_stops_at_the_checkpoint(mailchimp: FakeMailchimp, stores: Stores) -> None:
    mailchimp.faults.append(Fault(429, PROBLEM_429, headers={"Retry-After": "3600"}))
    with pytest.raises(ConnectorFailed, match="slow down"):
        run(stores, mailchimp)
    assert len(mailchimp.requests) == 1


def test_a_later_edit_of_an_unsubscribed_member_adds_no_second_withdrawal(
    mailchimp: FakeMailchimp, stores: Stores
) -> None:
    run(stores, mailchimp)
    ledger, events = consents(stores), event_types(stores)
    grace = mailchimp.member("grace.hopper@example.org")
    grace.update(last_changed="2026-12-01T11:59:30+00:00", merge_fields={**grace["merge_fields"], "LNAME": "Murray"})
    report = run(stores, mailchimp, Clock(NOW + dt.timedelta(hours=1)))
    assert report.counts["updated"] == 1
    assert (consents(stores), event_types(stores)) == (ledger, events)


def test_an_export_imported_before_the_pull_records_each_fact_once(mailchimp: FakeMailchimp, stores: Stores) -> None:
    from cdp.ingest.pipeline import ingest_batch
    from cdp.ingest.tabular import read_rows
    from connectors.csv import get_preset

    for kind in ("subscribed", "unsubscribed", "cleaned"):
        rows = list(
            read_rows(
                FIXTURES / f"mailchimp_export_{kind}.csv",
                fmt="csv",
                observed_at=NOW,
                preset=get_preset(f"mailchimp-{kind}").bind,
            )
        )
        with unit_of_work(stores) as s:
            assert ingest_batch(s, "mailchimp", rows, actor=ACTOR).counts["created"] == 1
    ledger, events = consents(stores), event_types(stores)
    report = run(stores, mailchimp)
    assert report.counts["created"] == 0 and report.counts["updated"] == 3
    assert len(consents(stores)) == len(ledger) == 2
    assert event_types(stores) == events


def test_a_page_that_is_not_a_members_page_stops_the_sync(mailchimp: FakeMailchimp, stores: Stores) -> None:
    mailchimp.faults.append(Fault(200, b'{"members": "nope"}', content_type="application/json"))
    with pytest.raises(ConnectorFailed, match="members"):
        run(stores, mailchimp)
    with unit_of_work(stores) as s:
        st = s.get(ConnectorState, "mailchimp")
        assert st is not None and st.status == "failed"
