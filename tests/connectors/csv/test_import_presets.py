"""`cdp import FILE --preset …` as a user runs it on real export files (tests/connectors/fixtures): the profiles,
consents and events each export's status produces, and bad files refused with a clear one-line error."""

import shutil
from pathlib import Path
from typing import Any

from sqlmodel import select

from cdp.consent.ledger import PROOF
from cdp.consent.models import ConsentEvent, ConsentState
from cdp.crypto.envelope import vault
from cdp.db import unit_of_work
from cdp.profiles.models import Event, Profile, SourceRecord
from cdp.profiles.store import read_golden
from tests.connectors.helpers import FIXTURES


def copy_fixture(committed: Any, name: str) -> Path:
    target = committed.workdir / name
    shutil.copy(FIXTURES / name, target)
    return target


def imported(committed: Any, name: str, preset: str, *extra: str) -> str:
    out: str = committed.cli("import", str(copy_fixture(committed, name)), "--preset", preset, *extra).stdout
    return out


def snapshot(committed: Any) -> dict[str, Any]:
    runtime = committed.open_runtime()
    try:
        with unit_of_work(runtime.stores) as s:
            v = vault(s)
            profiles = {p.id: read_golden(s, p) for p in s.scalars(select(Profile)).all()}
            consents = [
                {
                    "email": profiles[c.profile_id].get("email"),
                    "purpose": c.purpose,
                    "status": c.status,
                    "occurred_at": c.occurred_at.isoformat(),
                    "method": c.method,
                    "indicated_by": c.indicated_by,
                    "proof": v.decrypt_json(c.profile_id, c.proof, context=PROOF) if c.proof else None,
                }
                for c in s.scalars(select(ConsentEvent)).all()
            ]
            states = {
                (profiles[st.profile_id].get("email"), st.purpose): st.status
                for st in s.scalars(select(ConsentState)).all()
            }
            events = sorted(
                (profiles[e.profile_id].get("email"), e.type, e.occurred_at.isoformat())
                for e in s.scalars(select(Event)).all()
                if not e.type.startswith("source_record")
            )
            sources = sorted(s.scalars(select(SourceRecord.source)).all())
        return {
            "profiles": sorted(profiles.values(), key=lambda g: str(g.get("email"))),
            "consents": consents,
            "states": states,
            "events": events,
            "sources": sources,
        }
    finally:
        runtime.close()


def test_mailchimp_subscribed_export_grants_consent_with_the_double_opt_in_proof(committed: Any) -> None:
    out = imported(committed, "mailchimp_export_subscribed.csv", "mailchimp-subscribed")
    assert "imported 1 records: created 1" in out
    seen = snapshot(committed)
    [ada] = seen["profiles"]
    assert (ada["email"], ada["first_name"], ada["last_name"]) == ("ada.lovelace@example.com", "Ada", "Lovelace")
    assert seen["consents"] == [
        {
            "email": "ada.lovelace@example.com",
            "purpose": "email_marketing",
            "status": "granted",
            "occurred_at": "2026-11-02T09:20:02+00:00",  # CONFIRM_TIME, naive in the file, UTC
            "method": "csv_import",
            "indicated_by": "data_subject",
            "proof": {"ip": "203.0.113.7"},
        }
    ]
    assert seen["states"] == {("ada.lovelace@example.com", "email_marketing"): "granted"}
    assert seen["events"] == [("ada.lovelace@example.com", "email_subscribed", "2026-11-02T09:20:02+00:00")]
    assert seen["sources"] == ["mailchimp"]
    again = imported(committed, "mailchimp_export_subscribed.csv", "mailchimp-subscribed")
    assert "unchanged 1" in again and len(snapshot(committed)["consents"]) == 1


def test_mailchimp_unsubscribed_export_withdraws_and_grants_nothing(committed: Any) -> None:
    out = imported(committed, "mailchimp_export_unsubscribed.csv", "mailchimp-unsubscribed")
    assert "imported 1 records: created 1" in out
    seen = snapshot(committed)
    [withdrawal] = seen["consents"]
    assert (withdrawal["email"], withdrawal["status"], withdrawal["occurred_at"], withdrawal["method"]) == (
        "grace.hopper@example.org",
        "withdrawn",
        "2026-11-20T08:01:55+00:00",
        "csv_import",
    )
    assert seen["states"] == {("grace.hopper@example.org", "email_marketing"): "withdrawn"}
    assert seen["events"] == [("grace.hopper@example.org", "email_unsubscribed", "2026-11-20T08:01:55+00:00")]


def test_unsubscribed_after_subscribed_ends_the_consent(committed: Any) -> None:
    subscribed = copy_fixture(committed, "mailchimp_export_subscribed.csv")
    # Ada's later unsubscribe, in the unsubscribed export's own format.
    unsub = (FIXTURES / "mailchimp_export_unsubscribed.csv").read_text().splitlines()
    unsub[1] = (
        'ada.lovelace@example.com,Ada,Lovelace,2,"2026-11-02 09:14:27",203.0.113.7,"2026-11-02 09:20:02",'
        '203.0.113.7,,,,,,,,"2026-11-25 10:00:00","December newsletter",cb398d21d3,"",,123456789,8a25ff1d98,,'
    )
    later = committed.workdir / "unsubscribed_later.csv"
    later.write_text("\n".join(unsub) + "\n")
    committed.cli("import", str(subscribed), "--preset", "mailchimp-subscribed")
    out = committed.cli("import", str(later), "--preset", "mailchimp-unsubscribed").stdout
    assert "updated 1" in out  # the same member (EUID), not a second profile
    seen = snapshot(committed)
    assert len(seen["profiles"]) == 1
    assert seen["states"] == {("ada.lovelace@example.com", "email_marketing"): "withdrawn"}


def test_mailchimp_cleaned_export_marks_the_address_undeliverable(committed: Any) -> None:
    out = imported(committed, "mailchimp_export_cleaned.csv", "mailchimp-cleaned")
    assert "imported 1 records: created 1" in out
    seen = snapshot(committed)
    assert seen["consents"] == [] and seen["states"] == {}
    assert seen["events"] == [("bounced@example.net", "email_undeliverable", "2026-11-15T03:12:40+00:00")]


def test_hubspot_contacts_export_imports_contacts_without_consent(committed: Any) -> None:
    out = imported(committed, "hubspot_contacts_export.csv", "hubspot-contacts")
    assert "imported 2 records: created 2" in out
    seen = snapshot(committed)
    ada, grace = seen["profiles"]
    assert (ada["email"], ada["first_name"], ada["phone"], ada["company"]) == (
        "ada.lovelace@example.com",
        "Ada",
        "+442079460958",
        "Northwind Traders",
    )
    assert grace["email"] == "grace.hopper@example.org" and "phone" not in grace
    # "Marketing contact status" is HubSpot billing, not consent.
    assert seen["consents"] == [] and seen["sources"] == ["hubspot", "hubspot"]


def test_hubspot_unsubscribed_from_all_email_is_a_withdrawal(committed: Any) -> None:
    lines = (FIXTURES / "hubspot_contacts_export.csv").read_text().splitlines()
    lines[0] += ',"Unsubscribed from all email"'
    lines[1] += ',"false"'
    lines[2] += ',"true"'
    path = committed.workdir / "hubspot-crm-exports-all-contacts-2026-12-01.csv"
    path.write_text("\n".join(lines) + "\n")
    committed.cli("import", str(path), "--preset", "hubspot-contacts")
    seen = snapshot(committed)
    assert [(c["email"], c["status"]) for c in seen["consents"]] == [("grace.hopper@example.org", "withdrawn")]


def _error(committed: Any, *args: str) -> str:
    proc = committed.cli("import", *args, check=False)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    last: str = proc.stderr.strip().splitlines()[-1]
    return last


def test_bad_files_are_refused_with_a_clear_error_and_store_nothing(committed: Any) -> None:
    subscribed = str(copy_fixture(committed, "mailchimp_export_subscribed.csv"))
    assert _error(committed, subscribed, "--preset", "mailchimp-unsubscribed") == (
        "error: not a Mailchimp unsubscribed export: the header row has no UNSUB_TIME column"
        " (presets: mailchimp-subscribed, mailchimp-unsubscribed, mailchimp-cleaned)"
    )
    headerless = committed.workdir / "headerless.csv"
    headerless.write_text("ada.lovelace@example.com,Ada\n")
    message = _error(committed, str(headerless), "--source", "crm", "--id-column", "Id")
    assert message == "error: headerless.csv: the header row has no id column 'Id'"
    assert snapshot(committed)["profiles"] == []


def test_bad_rows_in_a_good_file_are_quarantined_not_fatal(committed: Any) -> None:
    lines = (FIXTURES / "mailchimp_export_subscribed.csv").read_text().splitlines()
    lines.append('not-an-address,No,Body,1,"2026-11-02 09:14:27",,"yesterday",,,,,,,,,"2026-11-19 16:40:04",1,e2,,')
    path = committed.workdir / "subscribed_mixed.csv"
    path.write_text("\n".join(lines) + "\n")
    out = committed.cli("import", str(path), "--preset", "mailchimp-subscribed").stdout
    assert "created 1" in out and "quarantined 1" in out
