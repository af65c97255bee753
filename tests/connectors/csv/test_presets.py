"""The export presets through `read_rows` (no database): the records each file yields, header matching, and
whole-file errors raised before any row."""

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from cdp.errors import InvalidInput
from cdp.ingest.records import ContactRecord
from cdp.ingest.tabular import read_rows
from connectors.csv import PRESETS, get_preset
from tests.connectors.helpers import FIXTURES

NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)


def rows(path: Path, preset: str | None = None, **kwargs: Any) -> list[dict[str, Any]]:
    planner = get_preset(preset).bind if preset else None
    out = list(read_rows(path, fmt=kwargs.pop("fmt", "csv"), observed_at=NOW, preset=planner, **kwargs))
    return out


def valid(record: dict[str, Any], source: str) -> ContactRecord:
    return ContactRecord.model_validate({**record, "source": source})


def test_every_preset_is_listed() -> None:
    assert sorted(PRESETS) == [
        "hubspot-contacts",
        "mailchimp-cleaned",
        "mailchimp-subscribed",
        "mailchimp-unsubscribed",
    ]
    with pytest.raises(InvalidInput, match="presets: hubspot-contacts, mailchimp-cleaned"):
        get_preset("nope")


def test_mailchimp_subscribed_row() -> None:
    [ada] = rows(FIXTURES / "mailchimp_export_subscribed.csv", "mailchimp-subscribed")
    record = valid(ada, "mailchimp")
    assert (record.external_id, record.email, record.first_name) == (
        "member:8a25ff1d98",
        "ada.lovelace@example.com",
        "Ada",
    )
    assert record.observed_at == dt.datetime(2026, 11, 19, 16, 40, 4, tzinfo=dt.UTC)  # LAST_CHANGED
    assert record.attributes == {"mailchimp_status": "subscribed", "mailchimp_tags": ["newsletter"]}
    [grant] = record.consents
    assert (grant.status, grant.method, grant.consent_type, grant.proof and grant.proof.ip) == (
        "granted",
        "csv_import",
        "expressed",
        "203.0.113.7",
    )
    assert grant.external_id == "mailchimp:member:8a25ff1d98:email_marketing:granted:2026-11-02T09:20:02+00:00"
    # Coordinates, IPs, LEID/EUID and NOTES are not carried into attributes.
    assert "OPTIN_IP" not in repr(ada) and "LATITUDE" not in repr(ada)


def test_a_subscribed_row_without_an_opt_in_time_has_no_consent(tmp_path: Path) -> None:
    lines = (FIXTURES / "mailchimp_export_subscribed.csv").read_text().splitlines()
    lines[1] = lines[1].replace('"2026-11-02 09:14:27"', "").replace('"2026-11-02 09:20:02"', "")
    path = tmp_path / "subscribed.csv"
    path.write_text("\n".join(lines) + "\n")
    [ada] = rows(path, "mailchimp-subscribed")
    assert ada["consents"] == [] and ada["events"] == []


def test_mailchimp_unsubscribed_and_cleaned_rows() -> None:
    [grace] = rows(FIXTURES / "mailchimp_export_unsubscribed.csv", "mailchimp-unsubscribed")
    record = valid(grace, "mailchimp")
    assert [(c.status, c.occurred_at.isoformat()) for c in record.consents] == [
        ("withdrawn", "2026-11-20T08:01:55+00:00")
    ]
    assert [(e.type, e.properties) for e in record.events] == [("email_unsubscribed", {"campaign_id": "cb398d21d2"})]
    assert "no longer want" not in repr(grace)  # the person's free-text reason is not imported
    [bob] = rows(FIXTURES / "mailchimp_export_cleaned.csv", "mailchimp-cleaned")
    cleaned = valid(bob, "mailchimp")
    assert cleaned.consents == [] and [e.type for e in cleaned.events] == ["email_undeliverable"]


def test_purpose_can_be_chosen() -> None:
    path = FIXTURES / "mailchimp_export_subscribed.csv"
    [ada] = list(
        read_rows(
            path,
            fmt="csv",
            observed_at=NOW,
            preset=lambda h: get_preset("mailchimp-subscribed").bind(h, purpose="profiling"),
        )
    )
    assert [c["purpose"] for c in ada["consents"]] == ["profiling"]


def test_hubspot_labels_match_case_insensitively_and_old_exports_use_contact_id(tmp_path: Path) -> None:
    path = tmp_path / "old.csv"
    path.write_text(
        '"contact id","first name","EMAIL","Lead Status","Marketing contact status"\n'
        '"9","Lin","lin@acme.example","NEW","Marketing contact"\n'
    )
    [lin] = rows(path, "hubspot-contacts")
    record = valid(lin, "hubspot")
    assert (record.external_id, record.first_name, record.email) == ("9", "Lin", "lin@acme.example")
    assert record.attributes == {"hubspot_lead_status": "NEW", "hubspot_marketing_contact_status": "Marketing contact"}
    assert record.consents == []


def test_map_and_id_column_override_a_preset() -> None:
    path = FIXTURES / "hubspot_contacts_export.csv"
    [ada, _] = rows(path, "hubspot-contacts", id_column="Email", mapping={"company": "Contact owner"})
    assert (ada["external_id"], ada["company"]) == ("ada.lovelace@example.com", "Sam Seller")


@pytest.mark.parametrize(
    ("content", "preset", "kwargs", "message"),
    [
        (b"", "mailchimp-subscribed", {}, "x.csv: the file is empty"),
        (
            "Email Address,First Name\nb@x.example,J\xf6rg\n".encode("latin-1"),
            None,
            {"id_column": "Email Address"},
            "not UTF-8",
        ),
        (b"a@b.example,Ann\n", None, {"id_column": "Id"}, "the header row has no id column 'Id'"),
        (
            b"Email Address,UNSUB_TIME\n",
            "mailchimp-cleaned",
            {},
            "not a Mailchimp cleaned export: the header row has no CLEAN_TIME",
        ),
        (
            b"Email Address,LAST_CHANGED\n",
            "mailchimp-subscribed",
            {"mapping": {"phone": "Mobile"}},
            "no column 'Mobile' (from --map)",
        ),
        (b"Email,Name\n", "hubspot-contacts", {}, "not a HubSpot contacts export"),
        (b"Id,Email\n", None, {}, "--id-column"),
    ],
    ids=["empty", "latin1", "headerless", "wrong-mailchimp-kind", "bad-map", "not-hubspot", "no-id-column"],
)
def test_whole_file_errors(
    tmp_path: Path, content: bytes, preset: str | None, kwargs: dict[str, Any], message: str
) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes(content)
    with pytest.raises(InvalidInput) as caught:
        rows(path, preset, **kwargs)
    assert message in caught.value.detail
    assert "a@b.example" not in caught.value.detail


def test_a_preset_reads_csv_only(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text("{}\n")
    with pytest.raises(InvalidInput, match="CSV files only"):
        rows(path, "mailchimp-cleaned", fmt="jsonl")


def test_hubspot_opt_out_has_a_stable_id(tmp_path: Path) -> None:
    path = tmp_path / "h.csv"
    path.write_text('"Record ID","Email","Unsubscribed from all email"\n"5","x@acme.example","true"\n')
    first = rows(path, "hubspot-contacts")[0]["consents"]
    later = list(
        read_rows(path, fmt="csv", observed_at=NOW + dt.timedelta(days=1), preset=get_preset("hubspot-contacts").bind)
    )
    assert first[0]["external_id"] == later[0]["consents"][0]["external_id"]
    assert first[0]["status"] == "withdrawn"
