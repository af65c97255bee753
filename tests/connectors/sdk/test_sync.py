"""The pull runner: each page committed with its cursor, so a stopped or failed sync resumes where it left off
and ends with exactly the records of one clean run; privacy signals open requests once."""

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import SecretStr
from pytest_httpserver import HTTPServer
from sqlmodel import select

from cdp.audit.log import Actor
from cdp.connectors.base import ConnectorConfig, Cursor, Page, SourceSignal
from cdp.connectors.config import connector_config
from cdp.connectors.http import ConnectorFailed, HttpClient, RetryPolicy, make_client
from cdp.connectors.sync import run_pull
from cdp.db import Stores, unit_of_work
from cdp.ingest.models import ConnectorState
from cdp.privacy.models import PrivacyRequest
from cdp.privacy.requests import one_month_after, open_from_signal
from cdp.profiles.models import SourceRecord
from cdp.settings import Settings

ACTOR = Actor("test-sync", "system")
AT = "2026-11-20T09:00:00+00:00"


class PagedTool:
    """A minimal pull source over a local server: `GET /contacts?page=N` -> {items, next}."""

    name = "pagedtool"

    def client(self, config: ConnectorConfig) -> HttpClient:
        return make_client(config)

    def pages(self, http: HttpClient, config: ConnectorConfig, cursor: Cursor | None) -> Iterator[Page]:
        page: str | None = (cursor or {}).get("next", "1")
        while page is not None:
            body = http.get_json("/contacts", params={"page": page})
            records = [
                {
                    "source": self.name,
                    "external_id": i["id"],
                    "email": i["email"],
                    "first_name": i["name"],
                    "observed_at": AT,
                }
                for i in body["items"]
            ]
            signals = [
                SourceSignal(
                    "erasure", self.name, i["id"], dt.datetime(2026, 11, 20, tzinfo=dt.UTC), f"forget-{i['id']}"
                )
                for i in body["items"]
                if i.get("forget")
            ]
            page = body["next"]
            yield Page(records, {"next": page} if page else {"done": True}, signals, last=page is None)


PAGES = {
    "1": {
        "items": [
            {"id": "c1", "email": "ann@tool.example", "name": "Ann"},
            {"id": "c2", "email": "bob@tool.example", "name": "Bob"},
        ],
        "next": "2",
    },
    "2": {"items": [{"id": "c3", "email": "cy@tool.example", "name": "Cy", "forget": True}], "next": "3"},
    "3": {"items": [{"id": "c4", "email": "di@tool.example", "name": "Di"}], "next": None},
}


def serve(server: HTTPServer, fail_page: str | None = None) -> None:
    server.clear()
    for number, body in PAGES.items():
        if number == fail_page:
            server.expect_request("/contacts", query_string=f"page={number}").respond_with_data("", status=500)
        else:
            server.expect_request("/contacts", query_string=f"page={number}").respond_with_json(body)


def config(server: HTTPServer) -> ConnectorConfig:
    return ConnectorConfig("pagedtool", {"base_url": server.url_for("/"), "retry_attempts": 2, "retry_base_seconds": 0})


def run(stores: Stores, server: HTTPServer, **kwargs: Any) -> Any:
    source = PagedTool()
    cfg = config(server)
    with source.client(cfg) as http:
        return run_pull(stores, source, cfg, http, actor=ACTOR, on_signal=open_from_signal, **kwargs)


def stored(stores: Stores) -> list[str]:
    with unit_of_work(stores) as s:
        rows = s.scalars(select(SourceRecord).where(SourceRecord.source == "pagedtool")).all()
        return sorted(str(r.id) for r in rows)


def state(stores: Stores) -> ConnectorState:
    with unit_of_work(stores) as s:
        st = s.get(ConnectorState, "pagedtool")
        assert st is not None
        s.expunge(st)
        return st


def test_a_clean_run_pages_through_and_leaves_the_final_cursor(stores: Stores, httpserver: HTTPServer) -> None:
    serve(httpserver)
    report = run(stores, httpserver)
    assert (report.status, report.pages, report.counts["created"], report.signals) == ("completed", 3, 4, 1)
    st = state(stores)
    assert (st.status, st.cursor) == ("idle", {"done": True})
    assert len(stored(stores)) == 4


def test_a_stopped_sync_resumes_after_its_last_page(stores: Stores, httpserver: HTTPServer) -> None:
    serve(httpserver)
    first = run(stores, httpserver, max_pages=1)
    assert (first.status, first.pages, state(stores).cursor) == ("stopped", 1, {"next": "2"})
    httpserver.clear_log()
    second = run(stores, httpserver)
    assert second.resumed and second.pages == 2 and second.counts["created"] == 2
    assert [r.query_string.decode() for r, _ in httpserver.log] == ["page=2", "page=3"]
    assert len(stored(stores)) == 4


def test_a_failure_keeps_the_checkpoint_and_a_rerun_ends_like_one_clean_run(
    stores: Stores, httpserver: HTTPServer
) -> None:
    serve(httpserver, fail_page="3")
    with pytest.raises(ConnectorFailed):
        run(stores, httpserver)
    st = state(stores)
    assert st.status == "failed" and st.cursor == {"next": "3"} and st.last_error
    assert "@" not in st.last_error
    assert len(stored(stores)) == 3
    serve(httpserver)
    report = run(stores, httpserver)
    assert report.counts["created"] == 1 and report.pages == 1
    assert len(stored(stores)) == 4
    # A full re-read changes nothing: every record is unchanged, no request is opened twice.
    again = run(stores, httpserver, full=True)
    assert again.counts["unchanged"] == 4 and again.counts["created"] == 0
    with unit_of_work(stores) as s:
        requests = s.info["compliance"].scalars(select(PrivacyRequest)).all()
        assert [(r.type, r.status, r.requested_by) for r in requests] == [
            ("erasure", "received", "connector:pagedtool")
        ]
        assert len(requests[0].profile_ids) == 1


@pytest.mark.parametrize(
    ("received", "due"),
    [
        ("2026-01-31T10:00:00", "2026-03-02T10:00:00"),  # 28 Feb 2026 is a Saturday -> Monday 2 March
        ("2028-01-31T10:00:00", "2028-02-29T10:00:00"),  # leap year, a Tuesday
        ("2026-11-23T08:00:00", "2026-12-23T08:00:00"),
        ("2026-12-15T08:00:00", "2027-01-15T08:00:00"),
    ],
)
def test_one_month_is_the_calendar_rule(received: str, due: str) -> None:
    at = dt.datetime.fromisoformat(received).replace(tzinfo=dt.UTC)
    assert one_month_after(at) == dt.datetime.fromisoformat(due).replace(tzinfo=dt.UTC)


def test_config_from_file_and_env_with_secrets_hidden(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    path = tmp_path / "connectors.yaml"
    path.write_text("hubspot:\n  base_url: http://127.0.0.1:9/\n  token: file-token\n  page_size: 50\n")
    monkeypatch.setenv("CDP_CONNECTOR_HUBSPOT__TOKEN", "env-token")
    monkeypatch.setenv("CDP_CONNECTOR_HUBSPOT__FIELD_MAP", '{"jobtitle": "job_title"}')
    cfg = connector_config(
        settings.model_copy(update={"connectors_file": path, "connector_secrets": {"hubspot": SecretStr("whsec")}}),
        "hubspot",
    )
    assert cfg.get("token") == "env-token" and cfg.get("secret") == "whsec"
    assert cfg.get("page_size") == 50 and cfg.get("field_map") == {"jobtitle": "job_title"}
    assert "env-token" not in repr(cfg) and "whsec" not in repr(cfg)
    with pytest.raises(Exception, match="CDP_CONNECTOR_HUBSPOT__LIST_ID"):
        cfg.require("list_id")


def test_retry_policy_from_settings_is_used(httpserver: HTTPServer) -> None:
    cfg = ConnectorConfig("x", {"base_url": httpserver.url_for("/"), "retry_attempts": 4})
    with make_client(cfg) as http:
        assert http.policy == RetryPolicy(attempts=4)
