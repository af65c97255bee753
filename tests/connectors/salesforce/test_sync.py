"""The Salesforce pull against a local Salesforce: REST paging, incremental runs on `(SystemModstamp, Id)`,
deletions (queryAll and getDeleted), Bulk 2.0 jobs, consent objects, privacy signals, quota and retries."""

import json
from typing import Any

import pytest
from sqlmodel import select

from cdp.audit.log import Actor
from cdp.connectors.base import ConnectorConfig
from cdp.connectors.http import ConnectorFailed, Throttled
from cdp.connectors.sync import SyncReport, run_pull
from cdp.consent.models import ConsentEvent
from cdp.db import Stores, unit_of_work
from cdp.ingest.models import ConnectorState
from cdp.privacy.models import PrivacyRequest
from cdp.privacy.requests import open_from_signal
from cdp.profiles import store
from cdp.profiles.models import Event
from connectors.salesforce import SalesforcePull
from tests.connectors.helpers import fixture
from tests.connectors.salesforce.conftest import ADA, ALAN, GONE, GRACE, settings_for
from tests.connectors.salesforce.fake import CLIENT_ID, REFRESH_TOKEN, FakeSalesforce

ACTOR = Actor("test-salesforce", "system")


def sync(stores: Stores, fake: FakeSalesforce, settings: dict[str, Any] | None = None, **kwargs: Any) -> SyncReport:
    source = SalesforcePull()
    config = ConnectorConfig("salesforce", settings_for(fake, **(settings or {})))
    with source.client(config) as http:
        return run_pull(stores, source, config, http, actor=ACTOR, on_signal=open_from_signal, **kwargs)


def state(stores: Stores) -> ConnectorState:
    with unit_of_work(stores) as s:
        found = s.get(ConnectorState, "salesforce")
        assert found is not None
        s.expunge(found)
        return found


def set_cursor(stores: Stores, **changes: Any) -> None:
    with unit_of_work(stores) as s:
        found = s.get(ConnectorState, "salesforce")
        assert found is not None
        found.cursor = {**found.cursor, **changes}
        s.add(found)


def soql(fake: FakeSalesforce, sobject: str) -> list[str]:
    return [p for p in fake.paths() if f"FROM {sobject} " in p and "IN (" not in p]


def consents(stores: Stores, external_id: str) -> list[tuple[str, str]]:
    with unit_of_work(stores) as s:
        record = store.find_source_record(s, "salesforce", external_id)
        assert record is not None
        profile = store.survivor_of(s, record.profile_id)
        assert profile is not None
        rows = s.scalars(
            select(ConsentEvent).where(ConsentEvent.profile_id == profile.id, ConsentEvent.source == "salesforce")
        ).all()
        return sorted({(r.purpose, r.status) for r in rows})


def events(stores: Stores, type_: str) -> int:
    with unit_of_work(stores) as s:
        return len(s.scalars(select(Event).where(Event.source == "salesforce", Event.type == type_)).all())


def stored(stores: Stores, external_id: str) -> bool:
    with unit_of_work(stores) as s:
        return store.find_source_record(s, "salesforce", external_id) is not None


def test_first_load_pages_through_next_records_url_and_maps_consent(stores: Stores, fake: FakeSalesforce) -> None:
    fake.page_size = 2
    report = sync(stores, fake)
    assert (report.status, report.counts["created"], report.counts["quarantined"]) == ("completed", 5, 0)
    contact_calls = [p for p in fake.paths() if p.startswith("/services/data/v62.0/query")]
    assert any("/query/01g" in p for p in contact_calls), "the second page comes from nextRecordsUrl"
    assert not any("/queryAll" in p for p in fake.paths()), "a first load reads live rows only"
    assert consents(stores, GRACE) == [("email_marketing", "withdrawn")]
    # Ada: Individual (don't profile, don't track) and ContactPointTypeConsent (email opt-in, phone opt-out).
    ada = consents(stores, ADA)
    assert ("email_marketing", "granted") in ada and ("sms_marketing", "withdrawn") in ada
    assert ("profiling", "objected") in ada and ("analytics", "objected") in ada
    assert events(stores, "crm_consent_captured") == 2
    st = state(stores)
    assert st.status == "idle" and "run" not in st.cursor
    assert st.cursor["marks"]["Contact"] == ["2026-11-20T09:15:02Z", ALAN]
    with unit_of_work(stores) as s:
        assert s.info["compliance"].scalars(select(PrivacyRequest)).all() == []


def test_an_incremental_run_reads_only_changes_and_a_tie_on_the_mark(stores: Stores, fake: FakeSalesforce) -> None:
    sync(stores, fake)
    fake.log.clear()
    unchanged = sync(stores, fake)
    assert unchanged.counts["created"] == unchanged.counts["updated"] == unchanged.counts["unchanged"] == 0
    fake.change("Contact", GRACE, "2026-11-21T10:00:00.000+0000", FirstName="Grace B.")
    # Same stamp as the mark, a greater Id: read; the rows already read at that stamp are not read again.
    fake.put(
        "Contact",
        {
            "Id": "003gL00000AbCdZQAV",
            "FirstName": "Mary",
            "LastName": "Jackson",
            "Email": "mary.jackson@example.com",
            "IsDeleted": False,
            "CreatedDate": "2026-11-20T09:15:02.000+0000",
            "SystemModstamp": "2026-11-20T09:15:02.000+0000",
        },
    )
    fake.log.clear()
    report = sync(stores, fake)
    assert (report.counts["created"], report.counts["updated"], report.counts["unchanged"]) == (1, 1, 0)
    [query] = soql(fake, "Contact")
    assert "/queryAll?" in query
    assert (
        f"(SystemModstamp > 2026-11-20T09:15:02Z OR (SystemModstamp = 2026-11-20T09:15:02Z AND Id > '{ALAN}'))" in query
    )
    assert state(stores).cursor["marks"]["Contact"] == ["2026-11-21T10:00:00Z", GRACE]


def test_rows_sharing_a_stamp_survive_a_stop_between_pages(stores: Stores, fake: FakeSalesforce) -> None:
    fake.data["Contact"].clear()
    for n in range(5):
        fake.put(
            "Contact",
            {
                "Id": f"003gL00000Tie{n:02d}QAV",
                "LastName": f"Tie{n}",
                "Email": f"tie{n}@example.com",
                "IsDeleted": False,
                "CreatedDate": "2026-11-20T09:00:00.000+0000",
                "SystemModstamp": "2026-11-20T09:00:00.000+0000",
            },
        )
    fake.page_size = 2
    first = sync(stores, fake, max_pages=1)
    assert (first.status, first.counts["created"]) == ("stopped", 2)
    assert state(stores).cursor["run"]["step"] == "query:Contact"
    second = sync(stores, fake)
    assert second.resumed and second.counts["created"] == 3 + 1  # the other three ties, then the Lead
    assert second.counts["unchanged"] == 0
    assert all(stored(stores, f"003gL00000Tie{n:02d}QAV") for n in range(5))


def test_deletions_from_query_all_and_the_get_deleted_feed(stores: Stores, fake: FakeSalesforce) -> None:
    sync(stores, fake)
    # Grace goes to the recycle bin (a queryAll row); the fixture's deleted person is hard-deleted (getDeleted
    # only); a contact created after the last run and deleted already was never stored and stays unstored.
    fake.change("Contact", GRACE, "2026-11-22T10:00:00.000+0000", IsDeleted=True)
    fake.data["Contact"] = [r for r in fake.data["Contact"] if r["Id"] != GONE]
    fake.deleted_log["Contact"] = fixture("salesforce_get_deleted.json")["response"]["deletedRecords"]
    fake.put(
        "Contact",
        {
            "Id": "003gL00000NeverQAV",
            "LastName": "Brief",
            "Email": "brief@example.com",
            "IsDeleted": True,
            "CreatedDate": "2026-11-22T09:00:00.000+0000",
            "SystemModstamp": "2026-11-22T09:05:00.000+0000",
        },
    )
    set_cursor(stores, deleted={"Contact": "2026-11-19T00:00:00Z", "Lead": "2026-11-19T00:00:00Z"})
    fake.log.clear()
    report = sync(stores, fake)
    assert report.counts["quarantined"] == 0
    assert any("/sobjects/Contact/deleted/?start=2026-11-19T00:00:00" in p for p in fake.paths())
    assert events(stores, "crm_deleted") == 2
    assert stored(stores, GRACE) and stored(stores, GONE)
    assert not stored(stores, "003gL00000NeverQAV")
    assert state(stores).cursor["deleted"]["Contact"] != "2026-11-19T00:00:00Z"


def test_bulk_full_load_polls_and_pages_results_by_locator(stores: Stores, fake: FakeSalesforce) -> None:
    report = sync(stores, fake, {"bulk": True, "bulk_max_records": 2})
    assert (report.status, report.counts["created"], report.counts["quarantined"]) == ("completed", 5, 0)
    posts = [p for m_, p in fake.log if m_ == "POST"]
    assert posts == ["/services/data/v62.0/jobs/query"] * 2  # Contact, Lead
    [contact_job] = [j for j in fake.jobs.values() if j.sobject == "Contact"]
    assert contact_job.operation == "query" and contact_job.polls == 2  # InProgress, then JobComplete
    results = [p for p in fake.paths() if f"/jobs/query/{contact_job.id}/results" in p]
    assert results == [
        f"/services/data/v62.0/jobs/query/{contact_job.id}/results?maxRecords=2",
        f"/services/data/v62.0/jobs/query/{contact_job.id}/results?maxRecords=2&locator=2",
    ]
    assert consents(stores, GRACE) == [("email_marketing", "withdrawn")]
    # The job request has the documented shape (fixture), and later runs are incremental over REST.
    documented = fixture("salesforce_bulk2_query_job.json")["request"]["body"]
    assert {"operation", "query", "contentType", "columnDelimiter", "lineEnding"} == set(documented)
    fake.change("Contact", ADA, "2026-11-23T10:00:00.000+0000", LastName="King")
    fake.log.clear()
    again = sync(stores, fake, {"bulk": True, "bulk_max_records": 2})
    assert again.counts["updated"] >= 1
    assert not any(m_ == "POST" for m_, _ in fake.log)
    assert "/queryAll?" in soql(fake, "Contact")[0]


def test_bulk_above_a_threshold_and_a_stopped_job_is_resumed(stores: Stores, fake: FakeSalesforce) -> None:
    first = sync(stores, fake, {"bulk_threshold": 2, "bulk_max_records": 2}, max_pages=1)
    assert first.status == "stopped"
    assert any("SELECT COUNT() FROM Contact" in p for p in fake.paths())
    [job] = fake.jobs.values()
    assert state(stores).cursor["run"]["bulk"] == {"job": job.id, "locator": None}
    second = sync(stores, fake, {"bulk_threshold": 2, "bulk_max_records": 2})
    assert second.counts["created"] == 5
    assert len(fake.jobs) == 1, "the Contact job was picked up again; the one Lead went over REST"
    assert any("/query?q=SELECT Id" in p and "FROM Lead" in p for p in fake.paths())


def test_a_failed_bulk_job_stops_the_sync_and_the_next_run_starts_a_new_one(
    stores: Stores, fake: FakeSalesforce
) -> None:
    fake.job_outcome = "Failed"
    with pytest.raises(ConnectorFailed, match="ended Failed"):
        sync(stores, fake, {"bulk": True})
    assert "bulk" in state(stores).cursor["run"]
    fake.job_outcome = None
    report = sync(stores, fake, {"bulk": True})
    assert report.status == "completed" and report.counts["created"] == 5
    assert len(fake.jobs) == 3  # the failed one, a new Contact job, the Lead job


def test_request_limit_exceeded_stops_cleanly_and_resumes(stores: Stores, fake: FakeSalesforce) -> None:
    fake.fail("FROM Lead", 403, fixture("salesforce_error_request_limit.json"))
    with pytest.raises(Throttled):
        sync(stores, fake)
    assert len(soql(fake, "Lead")) == 1, "a spent quota is not retried hot"
    st = state(stores)
    assert st.status == "failed" and st.last_error and "throttled" in st.last_error
    assert st.cursor["run"]["step"] == "query:Lead" and "Contact" in st.cursor["marks"]
    assert stored(stores, ADA)
    fake.log.clear()
    report = sync(stores, fake)
    assert report.resumed and report.status == "completed" and report.counts["created"] == 1
    assert soql(fake, "Contact") == []


def test_server_errors_are_retried(stores: Stores, fake: FakeSalesforce) -> None:
    fake.fail("FROM Contact", 503, [{"message": "try later", "errorCode": "SERVER_UNAVAILABLE"}])
    fake.fail("FROM Contact", 500)
    report = sync(stores, fake)
    assert report.status == "completed" and report.counts["created"] == 5
    assert len(soql(fake, "Contact")) == 3


def test_api_usage_near_the_limit_stops_before_the_next_call(stores: Stores, fake: FakeSalesforce) -> None:
    fake.page_size = 2
    fake.usage = 94_998  # the next two answers say 94999/100000 then 95000/100000
    with pytest.raises(Throttled) as exc:
        sync(stores, fake)
    assert exc.value.extensions["api_usage"] == 95_000
    assert len(fake.log) == 2
    st = state(stores)
    assert st.cursor["run"]["step"] == "query:Lead"  # both Contact pages were committed
    fake.usage = 0
    report = sync(stores, fake)
    assert report.status == "completed" and report.counts["created"] == 1


def test_an_individual_asking_to_be_forgotten_opens_one_erasure_request(stores: Stores, fake: FakeSalesforce) -> None:
    sync(stores, fake)
    fake.change("Individual", "0PKgL000000AbCdWAK", "2026-11-24T10:00:00.000+0000", ShouldForget=True)
    report = sync(stores, fake)
    assert report.signals == 1
    fake.change("Individual", "0PKgL000000AbCdWAK", "2026-11-25T10:00:00.000+0000", HasOptedOutSolicit=True)
    sync(stores, fake)
    with unit_of_work(stores) as s:
        requests = s.info["compliance"].scalars(select(PrivacyRequest)).all()
        assert [(r.type, r.requested_by) for r in requests] == [("erasure", "connector:salesforce")]
        record = store.find_source_record(s, "salesforce", ADA)
        assert record is not None and requests[0].profile_ids == [str(record.profile_id)]
    # Don't Market: an objection, fanned out by the ledger to every direct-marketing purpose.
    assert ("email_marketing", "objected") in consents(stores, ADA)


def test_a_wrong_token_is_rejected_without_retry(stores: Stores, fake: FakeSalesforce) -> None:
    source = SalesforcePull()
    config = ConnectorConfig("salesforce", {**settings_for(fake), "access_token": "expired"})
    with source.client(config) as http, pytest.raises(Exception, match="refused the call with HTTP 401"):
        run_pull(stores, source, config, http, actor=ACTOR)
    assert len(fake.log) == 1
    assert "expired" not in json.dumps(state(stores).last_error)


def test_a_next_records_url_off_the_instance_is_not_followed(stores: Stores, fake: FakeSalesforce) -> None:
    fake.page_size = 2
    fake.next_url_host = "http://attacker.example"
    with pytest.raises(ConnectorFailed, match="unexpected nextRecordsUrl"):
        sync(stores, fake)
    assert all(not p.startswith("http") for p in fake.paths())


def test_an_expired_session_is_refreshed_once_with_the_refresh_token(stores: Stores, fake: FakeSalesforce) -> None:
    refresh = {
        "access_token": "expired",
        "refresh_token": REFRESH_TOKEN,
        "client_id": CLIENT_ID,
        "client_secret": "consumer-secret",
        "token_url": f"{fake.url}/services/oauth2/token",
    }
    report = sync(stores, fake, refresh)
    assert report.status == "completed" and report.counts["created"] == 5
    [call] = fake.token_calls
    assert call["grant_type"] == "refresh_token" and call["client_secret"] == "consumer-secret"
    fake.token_calls.clear()
    with pytest.raises(Exception, match="refused to refresh the access token") as exc:
        sync(stores, fake, {**refresh, "refresh_token": "revoked"})
    assert getattr(exc.value, "code", None) == "invalid_grant"
    assert "revoked" not in (state(stores).last_error or "")


def test_an_individual_without_flags_costs_no_lookups(stores: Stores, fake: FakeSalesforce) -> None:
    sync(stores, fake)
    fake.change(
        "Individual",
        "0PKgL000000AbCdWAK",
        "2026-11-26T10:00:00.000+0000",
        HasOptedOutProfiling=False,
        HasOptedOutTracking=False,
        HasOptedOutGeoTracking=True,  # mapped to no purpose by default
    )
    fake.log.clear()
    report = sync(stores, fake)
    assert report.counts["updated"] == 0 and report.signals == 0
    assert not any("IndividualId IN" in p for p in fake.paths())
    assert len([p for p in fake.paths() if "FROM Individual" in p]) == 1


def test_consent_through_one_email_contact_point_lands_on_that_address(stores: Stores, fake: FakeSalesforce) -> None:
    sync(stores, fake)
    point = "9PEgL000000AbCdQAA"
    fake.put(
        "ContactPointEmail",
        {
            "Id": point,
            "EmailAddress": "ada.lovelace@example.com",
            "ParentId": "0PKgL000000AbCdWAK",
            "IsDeleted": False,
            "SystemModstamp": "2026-11-27T10:00:00.000+0000",
        },
    )
    fake.put(
        "ContactPointConsent",
        {
            "Id": "0ZYgL0000001AbCWAU",
            "ContactPointId": point,
            "DataUsePurposeId": "0ZSgL0000000XyZWAU",
            "PrivacyConsentStatus": "OptOut",
            "CaptureDate": "2026-11-27T10:00:00.000+0000",
            "CaptureContactPointType": "Email",
            "CaptureSource": "Preference centre",
            "IsDeleted": False,
            "SystemModstamp": "2026-11-27T10:00:00.000+0000",
        },
    )
    report = sync(stores, fake)
    assert report.counts["merged"] == 1 and report.counts["quarantined"] == 0
    with unit_of_work(stores) as s:
        ada, via_point = (store.find_source_record(s, "salesforce", i) for i in (ADA, point))
        assert ada is not None and via_point is not None
        assert store.survivor_of(s, via_point.profile_id) == store.survivor_of(s, ada.profile_id)
        withdrawn = s.scalars(
            select(ConsentEvent).where(
                ConsentEvent.source_record_id == via_point.id, ConsentEvent.status == "withdrawn"
            )
        ).all()
        assert [e.purpose for e in withdrawn] == ["email_marketing"]
    assert any("FROM ContactPointEmail WHERE Id IN ('9PEgL000000AbCdQAA')" in p for p in fake.paths())


def test_an_org_without_the_privacy_objects_still_syncs_its_people(stores: Stores, fake: FakeSalesforce) -> None:
    for name in ("Individual", "ContactPointTypeConsent", "ContactPointConsent"):
        del fake.data[name]
    report = sync(stores, fake)
    assert report.status == "completed" and report.counts["created"] == 5
    assert "run" not in state(stores).cursor


def test_a_purged_delete_log_is_reported_and_the_watermark_moves_on(
    stores: Stores, fake: FakeSalesforce, caplog: pytest.LogCaptureFixture
) -> None:
    sync(stores, fake)
    fake.earliest_deleted = "2026-11-25T00:00:00.000+0000"  # later than the watermark below: deletes were purged
    set_cursor(stores, deleted={"Contact": "2026-11-19T00:00:00Z", "Lead": "2026-11-19T00:00:00Z"})
    fake.fail("/sobjects/Lead/deleted/", 400, [{"message": "bad start", "errorCode": "INVALID_REPLICATION_DATE"}])
    with caplog.at_level("WARNING", logger="connectors.salesforce.source"):
        report = sync(stores, fake)
    assert report.status == "completed"
    gaps = [r for r in caplog.records if r.getMessage() == "salesforce.deleted_log_gap"]
    assert sorted(getattr(r, "object", "") for r in gaps) == ["Contact", "Lead"]
    assert all("@" not in r.getMessage() for r in caplog.records)
    watermarks = state(stores).cursor["deleted"]
    assert watermarks["Contact"] != "2026-11-19T00:00:00Z" and watermarks["Lead"] != "2026-11-19T00:00:00Z"
