"""Salesforce rows -> ContactRecords, consents and privacy signals, on the research fixtures (§1.3, §3)."""

import csv
import hashlib
import json
from typing import Any

import httpx
import pytest

from cdp.connectors import ConnectorConfig, get_pull_source
from cdp.errors import InvalidInput
from cdp.ingest.records import ContactRecord
from connectors.salesforce import Options, SalesforcePull, SyncOptions
from connectors.salesforce import mapping as m
from connectors.salesforce.client import api_usage, throttle
from tests.connectors.helpers import FIXTURES, fixture

GRACE = "003gL00000AbCdFQAV"
PURPOSES = {"0ZSgL0000000XyZWAU": "email_marketing", "0ZSgL0000000XzAWAU": "sms_marketing"}


def valid(record: dict[str, Any]) -> dict[str, Any]:
    ContactRecord.model_validate(record)
    return record


def contacts() -> list[dict[str, Any]]:
    return (
        fixture("salesforce_query_contacts.json")["records"] + fixture("salesforce_query_contacts_next.json")["records"]
    )


def test_registered_as_a_pull_source() -> None:
    assert isinstance(get_pull_source("salesforce"), SalesforcePull)


def test_contact_fields_and_no_consent_from_a_false_flag() -> None:
    ada = valid(m.map_person("Contact", contacts()[0], Options()))
    assert (ada["external_id"], ada["email"], ada["phone"], ada["first_name"], ada["last_name"]) == (
        "003gL00000AbCdEQAV",
        "ada.lovelace@example.com",
        "+44 20 7946 0958",
        "Ada",
        "Lovelace",
    )
    assert ada["observed_at"] == "2026-11-19T16:40:04+00:00"
    assert ada["attributes"] == {
        "salesforce_object": "Contact",
        "salesforce_account_id": "001gL000004XyZaQAK",
        "salesforce_individual_id": "0PKgL000000AbCdWAK",
    }
    assert ada["consents"] == [] and ada["events"] == []


def test_email_opt_out_withdraws_and_do_not_call_needs_a_phone() -> None:
    grace = valid(m.map_person("Contact", contacts()[1], Options()))
    # DoNotCall is set but Grace has no phone: a phone consent without one would quarantine the record.
    assert grace["consents"] == [
        {
            "purpose": "email_marketing",
            "status": "withdrawn",
            "occurred_at": "2026-11-20T08:01:55+00:00",
            "channel": "email",
            "method": "crm_sync",
            "external_id": f"salesforce:{GRACE}:HasOptedOutOfEmail:email_marketing:2026-11-20T08:01:55.000+0000",
        }
    ]
    with_phone = m.map_person("Contact", {**contacts()[1], "Phone": "+44 20 7946 0000"}, Options())
    assert [(c["purpose"], c["channel"]) for c in with_phone["consents"]] == [
        ("email_marketing", "email"),
        ("sms_marketing", "phone"),
    ]


def test_lead_is_a_lead_with_its_company_and_a_conversion_links_the_contact() -> None:
    [row] = fixture("salesforce_query_leads.json")["records"]
    lead = valid(m.map_person("Lead", row, Options()))
    assert (lead["company"], lead["lifecycle_stage"]) == ("Langley Labs", "lead")
    assert lead["attributes"]["salesforce_lead_status"] == "Open - Not Contacted"
    converted = valid(
        m.map_person(
            "Lead",
            {**row, "IsConverted": True, "ConvertedContactId": "003gL00000AbCdGQAV", "ConvertedDate": "2026-11-21"},
            Options(),
        )
    )
    assert converted["attributes"]["salesforce_converted_contact_id"] == "003gL00000AbCdGQAV"
    assert "lifecycle_stage" not in converted
    assert [e["type"] for e in converted["events"]] == ["crm_lead_converted"]


def test_field_map_fills_golden_fields_and_attributes() -> None:
    row = {**contacts()[0], "Title": "Analyst", "Department": "Engines"}
    record = valid(m.map_person("Contact", row, Options(field_map={"Title": "job_title", "Department": "dept"})))
    assert record["job_title"] == "Analyst" and record["attributes"]["dept"] == "Engines"


def test_bulk_csv_rows_read_like_rest_rows() -> None:
    with (FIXTURES / "salesforce_bulk2_contacts.csv").open(newline="") as f:
        rows = [m.csv_row(r) for r in csv.DictReader(f)]
    ada, grace, gone = rows
    assert ada["HasOptedOutOfEmail"] is False and ada["IsDeleted"] is False
    assert grace["Phone"] is None and grace["IndividualId"] is None and grace["HasOptedOutOfEmail"] is True
    assert m.parse_time(grace["SystemModstamp"]) == m.parse_time("2026-11-20T08:01:55.000+0000")
    assert valid(m.map_person("Contact", grace, Options()))["consents"][0]["status"] == "withdrawn"
    deleted = valid(m.deleted_record(gone["Id"], gone["SystemModstamp"], "Contact"))
    assert set(deleted) == {"source", "external_id", "observed_at", "events"}
    assert deleted["events"][0]["type"] == "crm_deleted"


def test_individual_flags_become_objections_and_signals() -> None:
    individual = fixture("salesforce_individual.json")
    ada = m.map_person("Contact", contacts()[0], Options())
    consents = m.individual_consents(individual, ada, Options())
    assert [(c["purpose"], c["status"], c["channel"]) for c in consents] == [
        ("profiling", "objected", "any"),
        ("analytics", "objected", "any"),
    ]
    assert m.individual_signals(individual, ada["external_id"]) == []
    flagged = {**individual, "ShouldForget": True, "SendIndividualData": True, "HasOptedOutProcessing": True}
    signals = m.individual_signals(flagged, ada["external_id"])
    assert sorted((s.type, s.external_id, s.signal_id) for s in signals) == [
        ("access", "003gL00000AbCdEQAV", "Individual:0PKgL000000AbCdWAK:SendIndividualData"),
        ("erasure", "003gL00000AbCdEQAV", "Individual:0PKgL000000AbCdWAK:ShouldForget"),
        ("restriction", "003gL00000AbCdEQAV", "Individual:0PKgL000000AbCdWAK:HasOptedOutProcessing"),
    ]
    dont_market = {
        **individual,
        "HasOptedOutProfiling": False,
        "HasOptedOutTracking": False,
        "HasOptedOutSolicit": True,
    }
    # One objection is enough (the ledger fans it out): on the email when there is one, else on the phone.
    assert [(c["purpose"], c["channel"]) for c in m.individual_consents(dont_market, ada, Options())] == [
        ("email_marketing", "email")
    ]
    phone_only = {**ada, "email": None}
    assert [(c["purpose"], c["channel"]) for c in m.individual_consents(dont_market, phone_only, Options())] == [
        ("sms_marketing", "phone")
    ]


def test_contact_point_type_consent_keeps_its_capture_proof() -> None:
    opt_in, opt_out = fixture("salesforce_contact_point_type_consent.json")["records"]
    ada = m.map_person("Contact", contacts()[0], Options())
    options = Options(data_use_purposes=PURPOSES)
    mapped = m.type_consent(opt_in, ada, options)
    assert mapped is not None
    consent, evidence = mapped
    digest = hashlib.sha256(
        json.dumps({k: v for k, v in opt_in.items() if k != "attributes"}, sort_keys=True).encode()
    ).hexdigest()
    assert consent == {
        "purpose": "email_marketing",
        "status": "granted",
        "occurred_at": "2026-11-02T09:14:27+00:00",
        "channel": "email",
        "method": "crm_sync",
        "external_id": "salesforce:0ZWgL0000001AbCWAU:2026-11-02T09:20:02.000+0000",
        "proof": {"payload_sha256": digest},
    }
    assert evidence["properties"]["CaptureSource"] == "https://www.example.com/signup (form v3)"
    assert evidence["properties"]["DoubleConsentCaptureDate"] == "2026-11-02T09:20:02.000+0000"
    assert evidence["properties"]["payload_sha256"] == digest
    withdrawn = m.type_consent(opt_out, ada, options)
    assert withdrawn is not None and (withdrawn[0]["status"], withdrawn[0]["channel"]) == ("withdrawn", "phone")
    # Unmapped purpose, Seen/NotSeen, or a channel the record lacks: nothing recorded.
    assert m.type_consent(opt_in, ada, Options()) is None
    assert m.type_consent({**opt_in, "PrivacyConsentStatus": "Seen"}, ada, options) is None
    assert m.type_consent(opt_out, {**ada, "phone": None}, options) is None
    by_name = Options(data_use_purposes={"Newsletter": "email_marketing"})
    named = {**opt_in, "DataUsePurposeId": None, "DataUsePurpose": {"Name": "Newsletter"}}
    assert m.type_consent(named, ada, by_name) is not None


def test_ids_are_checked_before_they_reach_soql() -> None:
    with pytest.raises(ValueError):
        m.salesforce_id("003' OR Id != '")
    assert m.salesforce_id("003gL00000AbCdE") == "003gL00000AbCdE"


def test_limits_and_quota_signals() -> None:
    limit = fixture("salesforce_error_request_limit.json")
    assert throttle(httpx.Response(403, json=limit)) == float("inf")
    assert throttle(httpx.Response(403, json=[{"errorCode": "INSUFFICIENT_ACCESS"}])) is None
    assert throttle(httpx.Response(429, headers={"Retry-After": "3"})) == 3.0
    assert api_usage(httpx.Response(200, headers={"Sforce-Limit-Info": "api-usage=2012/100000"})) == (2012, 100000)


def test_settings_are_checked() -> None:
    with pytest.raises(InvalidInput):
        SyncOptions.from_config(ConnectorConfig("salesforce", {"objects": ["Account"]}))
    with pytest.raises(InvalidInput):
        SyncOptions.from_config(ConnectorConfig("salesforce", {"field_map": {"Title) FROM User --": "x"}}))
    opts = SyncOptions.from_config(ConnectorConfig("salesforce", {"objects": "Contact", "privacy_objects": "false"}))
    assert opts.steps() == ["query:Contact", "deleted:Contact"]
