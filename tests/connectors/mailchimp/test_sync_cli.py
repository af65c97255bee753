"""`cdp sync mailchimp` as a user runs it: settings from the environment, a full load, then an incremental run
that asks Mailchimp only for what changed (against the local Mailchimp in fake.py)."""

import datetime as dt
from typing import Any

from sqlmodel import select

from cdp.consent.models import ConsentEvent
from cdp.db import unit_of_work
from cdp.ingest.models import ConnectorState
from tests.connectors.mailchimp.fake import API_KEY, LIST_ID, FakeMailchimp, serve


def test_cdp_sync_mailchimp_full_then_incremental(committed: Any) -> None:
    with serve(FakeMailchimp()) as fake:
        committed.env.update(
            {
                "CDP_CONNECTOR_MAILCHIMP__API_KEY": API_KEY,
                "CDP_CONNECTOR_MAILCHIMP__LIST_ID": LIST_ID,
                "CDP_CONNECTOR_MAILCHIMP__BASE_URL": fake.url,
                "CDP_CONNECTOR_MAILCHIMP__PAGE_SIZE": "2",
                "CDP_CONNECTOR_MAILCHIMP__PAGE_OVERLAP": "0",
                "CDP_CONNECTOR_MAILCHIMP__RETRY_BASE_SECONDS": "0",
            }
        )
        first = committed.cli("sync", "mailchimp").stdout
        assert "mailchimp: 2 pages, created 3" in first and "resumed" not in first
        assert [r.get("offset") for r in fake.requests] == ["0", "2"]
        assert all("since_last_changed" not in r for r in fake.requests)
        assert API_KEY not in first

        runtime = committed.open_runtime()
        with unit_of_work(runtime.stores) as s:
            state = s.get(ConnectorState, "mailchimp")
            assert state is not None and state.status == "idle"
            since = state.cursor["since"]
        # Grace re-subscribes in Mailchimp after the first pass.
        grace = fake.member("grace.hopper@example.org")
        changed = (dt.datetime.fromisoformat(since) + dt.timedelta(milliseconds=500)).isoformat()
        grace.update(status="subscribed", timestamp_opt=changed, last_changed=changed)
        grace["marketing_permissions"][0]["enabled"] = True
        fake.requests.clear()

        second = committed.cli("sync", "mailchimp").stdout
        assert "mailchimp: 1 pages, updated 1" in second and "resumed from checkpoint" in second
        [query] = fake.requests
        assert query["since_last_changed"] == since and query["offset"] == "0"

        listed = committed.cli("connectors", "list").stdout
        assert any(line.startswith("mailchimp") and "webhook/pull" in line for line in listed.splitlines())
        with unit_of_work(runtime.stores) as s:
            statuses = s.scalars(select(ConsentEvent.status).where(ConsentEvent.source == "mailchimp")).all()
            assert sorted(statuses) == ["granted", "granted", "withdrawn"]
        runtime.close()
