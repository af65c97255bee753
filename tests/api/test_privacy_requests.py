"""Privacy requests through the API (COMPLIANCE 6.6, 7.11-17 and 7.29-36): lifecycle, access bundle, restriction,
rectification, objection, deadlines, listing, errors and audit."""

import datetime as dt
import hashlib
import io
import json
import uuid
import zipfile
from typing import Any

import pytest
from sqlmodel import col, func, select

from cdp.audiences.models import Audience, AudienceMembershipSnapshot, DestinationRemoval
from cdp.audiences.removals import seal_ref
from cdp.auth.keys import create_key
from cdp.consent.models import ConsentEvent, ConsentState
from cdp.db import compliance_session, unit_of_work, utcnow
from cdp.identity.models import MergeEvent
from cdp.policies import ROLES
from cdp.privacy.models import PrivacyRequest
from cdp.privacy.requests import read_payload
from cdp.profiles.models import Event, Identity, Profile, SourceRecord
from tests.api.helpers import assert_problem, audit_entries, dump
from tests.factories import contact_row

Keys = dict[str, dict[str, str]]
X_EMAIL = "xavier.quinlan@acme.example"
X_PHONE = "+44 20 7946 0555"  # the household landline X shares with Y
Y_EMAIL = "yolanda.brightwater@acme.example"
PROOF = {"ip": "192.0.2.44", "user_agent": "Mozilla/5.0", "page_url": "https://example.com/signup"}
GRANT = {
    "purpose": "email_marketing",
    "status": "granted",
    "occurred_at": "2026-01-01T00:00:00Z",
    "method": "web_form",
    "consent_type": "explicitly_expressed",
    "proof": PROOF,
}
NEWSLETTER_V3 = {
    "notice_id": "newsletter-signup",
    "notice_version": "3",
    "notice_sha256": "591092b2e7cb50b3576bf2bc441b06dccd5ad0800ebdd200870a08dca0be09b7",
}


def _ingest(client: Any, keys: Keys, source: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    resp = client.post(f"/v1/ingest/{source}", json=rows, headers=keys["connector"])
    assert resp.status_code == 200, resp.text
    results: list[dict[str, Any]] = resp.json()["results"]
    return results


@pytest.fixture
def people(client: Any, api_keys: Keys) -> dict[str, str]:
    """X (web form with consent, then a CRM record) and Y, a different person on the same household phone."""
    x = contact_row(
        external_id="wf-x", email=X_EMAIL, phone=X_PHONE, first_name="Xavier", last_name="Quinlan", consents=[GRANT]
    )
    y = contact_row(
        external_id="crm-y",
        email=Y_EMAIL,
        phone=X_PHONE,
        first_name="Yolanda",
        last_name="Brightwater",
        company="Brightwater Ltd",
        city="Leeds",
    )
    first = _ingest(client, api_keys, "webform", [x])[0]
    x_crm = contact_row(
        external_id="crm-x",
        email=X_EMAIL,
        first_name="Xavier",
        last_name="Quinlan",
        job_title="Surveyor",
        lifecycle_stage="customer",
        events=[{"type": "purchase_completed", "occurred_at": "2026-02-01T10:00:00Z", "external_id": "o-1"}],
    )
    second, third = _ingest(client, api_keys, "crm", [x_crm, y])
    assert second["profile_id"] == first["profile_id"], "X's CRM record joins X by email"
    assert third["profile_id"] != first["profile_id"], "a shared landline alone does not merge two people"
    return {"x": first["profile_id"], "y": third["profile_id"]}


def _file(client: Any, keys: Keys, role: str = "compliance", **body: Any) -> Any:
    return client.post("/v1/privacy-requests", json=body, headers=keys[role])


def _created(client: Any, keys: Keys, **body: Any) -> dict[str, Any]:
    resp = _file(client, keys, **body)
    assert resp.status_code == 201, resp.text
    result: dict[str, Any] = resp.json()
    return result


def _zip(content: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _second_compliance_key(runtime: Any) -> dict[str, str]:
    with unit_of_work(runtime.stores) as s:
        _, token = create_key(s, name="second-dpo", role="compliance", known_roles=set(ROLES))
    return {"Authorization": f"Bearer {token}"}


# -- access and portability --------------------------------------------------------------------------------------


def test_access_request_is_carried_out_at_once_and_its_bundle_downloads(client, api_keys, runtime, people):
    body = _created(client, api_keys, type="access", subject={"email": X_EMAIL}, requested_by="the person, by email")
    assert body["status"] == "completed" and body["has_export"] is True
    assert body["profile_ids"] == [people["x"]]
    assert [h["status"] for h in body["history"]] == ["received", "in_progress", "completed"]
    assert body["result"]["data_held"] is True

    resp = client.get(f"/v1/privacy-requests/{body['id']}/export", headers=api_keys["compliance"])
    assert resp.status_code == 200 and resp.headers["content-type"] == "application/zip"
    assert hashlib.sha256(resp.content).hexdigest() == body["result"]["export"]["sha256"]
    files = _zip(resp.content)
    assert {"README.html", "manifest.json", "processing.json"} <= set(files)
    for dataset in ("profile", "identities", "source_records", "timeline", "consents", "merges", "recipients"):
        assert {f"{dataset}.json", f"{dataset}.csv"} <= set(files), dataset
    manifest = json.loads(files["manifest.json"])
    assert set(manifest["files"]) == set(files) - {"manifest.json"}
    for name, digest in manifest["files"].items():
        assert hashlib.sha256(files[name]).hexdigest() == digest, name
    assert b"Xavier" in files["profile.csv"] and X_EMAIL.encode() in files["identities.csv"]

    assert len(audit_entries(runtime, "privacy_request.export_generated")) == 1
    assert len(audit_entries(runtime, "privacy_request.export_downloaded")) == 1


def _db_counts(runtime: Any, profile_id: uuid.UUID) -> dict[str, int]:
    with unit_of_work(runtime.stores) as s:

        def count(model: Any, *where: Any) -> int:
            return int(s.scalar(select(func.count()).select_from(model).where(*where)) or 0)

        return {
            "profile": count(Profile, Profile.id == profile_id),
            "identity": count(Identity, Identity.profile_id == profile_id),
            "source_record": count(SourceRecord, SourceRecord.profile_id == profile_id),
            "event": count(Event, Event.profile_id == profile_id),
            "consent_event": count(ConsentEvent, ConsentEvent.profile_id == profile_id),
            "consent_state": count(ConsentState, ConsentState.profile_id == profile_id),
            "merge_event": count(
                MergeEvent, (col(MergeEvent.survivor_id) == profile_id) | (col(MergeEvent.merged_id) == profile_id)
            ),
        }


def _export(client: Any, keys: Keys, **subject: str) -> dict[str, bytes]:
    body = _created(client, keys, type="access", subject=subject)
    resp = client.get(f"/v1/privacy-requests/{body['id']}/export", headers=keys["compliance"])
    assert resp.status_code == 200, resp.text
    return _zip(resp.content)


def test_bundle_is_complete_row_counts_equal_the_database(client, api_keys, runtime, people):
    files = _export(client, api_keys, profile_id=people["x"])
    manifest = json.loads(files["manifest.json"])
    expected = _db_counts(runtime, uuid.UUID(people["x"]))
    assert {k: manifest["rows"][k] for k in expected} == expected
    assert expected["source_record"] == 2 and expected["consent_event"] >= 1 and expected["event"] >= 1
    for name, table in (("identities", "identity"), ("timeline", "event"), ("consents", "consent_event")):
        assert len(json.loads(files[f"{name}.json"])) == expected[table]
        assert files[f"{name}.csv"].count(b"\n") >= expected[table] + 1
    sources = [n for n in files if n.startswith("sources/")]
    assert len(sources) == 2 and {n.split("/")[1] for n in sources} == {"webform", "crm"}
    consent = json.loads(files["consents.json"])[0]
    assert consent["proof"] == PROOF, "the consent ledger is exported with its decrypted proof"


def test_bundle_holds_nothing_of_the_person_sharing_the_household_phone(client, api_keys, runtime, people):
    files = _export(client, api_keys, email=X_EMAIL)
    blob = b"\n".join(files.values()).lower()
    for value in (Y_EMAIL, "yolanda", "brightwater", "leeds", "crm-y", people["y"]):
        assert value.lower().encode() not in blob, value
    assert X_PHONE.replace(" ", "").encode() in blob, "X's own phone is X's data too"


def test_processing_and_recipients_answer_article_15_from_the_policies(client, api_keys, runtime, people):
    with unit_of_work(runtime.stores) as s:
        audience = Audience(name="newsletter", purpose="email_marketing", destination="mailchimp")
        s.add(audience)
        s.flush()
        identity = s.scalars(
            select(Identity).where(Identity.profile_id == uuid.UUID(people["x"]), Identity.kind == "email")
        ).one()
        for days in (30, 2):
            s.add(
                AudienceMembershipSnapshot(
                    audience_id=audience.id,
                    destination="mailchimp" if days == 30 else "sendgrid",
                    profile_id=identity.profile_id,
                    identity_id=identity.id,
                    synced_at=utcnow() - dt.timedelta(days=days),
                )
            )
    files = _export(client, api_keys, email=X_EMAIL)
    processing = {p["purpose"]: p for p in json.loads(files["processing.json"])}
    newsletter = processing["email_marketing"]
    assert newsletter["lawful_basis"] == "consent"
    assert newsletter["retention"] == {
        "rule": "marketing-consent-ended",
        "keep_for": "P30D",
        "counted_from": "consent_ended",
        "action": "erase",
    }
    assert newsletter["recipients_disclosed"] == ["mailchimp", "sendgrid"]
    assert newsletter["sources"] == ["crm", "webform"]
    assert "sales_outreach" in processing, "legitimate-interest purposes apply without consent"
    assert "sms_marketing" not in processing, "a consent purpose X never gave is not X's processing"
    recipients = json.loads(files["recipients.json"])
    assert [r["destination"] for r in recipients] == ["mailchimp", "sendgrid"]
    assert all(r["first_synced_at"] and r["last_synced_at"] for r in recipients)
    assert b"mailchimp" in files["README.html"] and b"P30D" in files["README.html"]


def test_portability_subset_is_provided_data_and_reads_back_as_import_rows(client, api_keys, people):
    files = _export(client, api_keys, email=X_EMAIL)
    rows = json.loads(files["portability/contacts.json"])
    assert {r["external_id"] for r in rows} == {"webform:wf-x", "crm:crm-x"}
    assert {r["email"] for r in rows} == {X_EMAIL}
    header = files["portability/contacts.csv"].splitlines()[0].decode()
    assert header.split(",")[:3] == ["external_id", "email", "phone"]


def test_an_access_request_for_nobody_confirms_no_data_is_held(client, api_keys):
    body = _created(client, api_keys, type="access", subject={"email": "nobody.here@acme.example"})
    assert body["status"] == "completed" and body["result"]["data_held"] is False and body["has_export"] is False
    resp = client.get(f"/v1/privacy-requests/{body['id']}/export", headers=api_keys["compliance"])
    assert_problem(resp, 409, type_="/problems/privacy-request-state")


def test_a_shared_identifier_is_ambiguous_and_the_profile_id_decides(client, api_keys, people):
    resp = _file(client, api_keys, type="access", subject={"phone": X_PHONE})
    body = assert_problem(resp, 409, type_="/problems/ambiguous-subject", forbid=[X_PHONE])
    assert set(body["profile_ids"].split(",")) == {people["x"], people["y"]}
    assert _created(client, api_keys, type="access", subject={"profile_id": people["y"]})["status"] == "completed"


# -- restriction -------------------------------------------------------------------------------------------------


def test_restriction_blocks_everyday_reads_and_retention_until_lifted(client, api_keys, runtime, people):
    x = people["x"]
    body = _created(client, api_keys, type="restriction", subject={"profile_id": x})
    assert body["status"] == "completed" and body["result"]["restricted"] == 1
    with unit_of_work(runtime.stores) as s:
        profile = s.get(Profile, uuid.UUID(x))
        assert profile.status == "restricted"
        profile.last_activity_at = profile.created_at = utcnow() - dt.timedelta(days=3 * 365)
        profile.lifecycle_stage = "lead"

    for role in ("sales", "marketing"):
        assert_problem(
            client.get(f"/v1/profiles/{x}", headers=api_keys[role]), 403, type_="/problems/profile-restricted"
        )
    found = client.post("/v1/profiles/search", json={"email": X_EMAIL}, headers=api_keys["sales"]).json()
    assert found["data"] == []
    assert client.get(f"/v1/profiles/{x}", headers=api_keys["compliance"]).status_code == 200
    reads = [e for e in audit_entries(runtime, "profile.read") if e["resource_id"] == x]
    assert [(e["actor_role"], e["outcome"]) for e in reads] == [
        ("sales", "denied"),
        ("marketing", "denied"),
        ("compliance", "ok"),
    ]
    assert reads[-1]["details"]["restricted"] is True

    preview = client.get("/v1/retention/preview", headers=api_keys["compliance"]).json()
    assert x not in {d["row_id"] for d in preview["data"]}, "retention skips a restricted profile"

    lift = client.post(f"/v1/privacy-requests/{body['id']}/lift", json={}, headers=api_keys["compliance"])
    assert_problem(lift, 422)
    informed = utcnow().isoformat()
    lift = client.post(
        f"/v1/privacy-requests/{body['id']}/lift",
        json={"subject_informed_at": informed},
        headers=api_keys["compliance"],
    )
    assert lift.status_code == 200, lift.text
    assert client.get(f"/v1/profiles/{x}", headers=api_keys["sales"]).status_code == 200
    (entry,) = audit_entries(runtime, "profile.restriction_lifted")
    assert entry["details"]["request_id"] == body["id"]
    again = client.post(
        f"/v1/privacy-requests/{body['id']}/lift",
        json={"subject_informed_at": informed},
        headers=api_keys["compliance"],
    )
    assert_problem(again, 409)


def test_a_restriction_request_with_lift_lifts_it(client, api_keys, runtime, people):
    _created(client, api_keys, type="restriction", subject={"email": X_EMAIL})
    resp = _file(client, api_keys, type="restriction", subject={"email": X_EMAIL}, lift=True)
    assert_problem(resp, 422, type_="/problems/invalid-privacy-request")
    body = _created(
        client,
        api_keys,
        type="restriction",
        subject={"email": X_EMAIL},
        lift=True,
        subject_informed_at="2026-12-01T09:00:00Z",
    )
    assert body["status"] == "completed" and body["result"]["lifted"] == 1
    with unit_of_work(runtime.stores) as s:
        assert s.get(Profile, uuid.UUID(people["x"])).status == "active"


# -- objection ---------------------------------------------------------------------------------------------------


def _states(client: Any, keys: Keys, profile_id: str) -> dict[tuple[str, str | None], str]:
    body = client.get(f"/v1/profiles/{profile_id}/consents", headers=keys["compliance"]).json()
    return {(s["purpose"], s["identity_id"]): s["status"] for s in body["states"]}


def test_objection_withdraws_every_direct_marketing_purpose_at_once(client, api_keys, runtime, people):
    x = people["x"]
    body = _created(client, api_keys, type="objection", subject={"email": X_EMAIL}, notes="phoned the help desk")
    assert body["status"] == "completed"
    states = _states(client, api_keys, x)
    marketing = {p.id for p in runtime.policies.purposes.values() if p.direct_marketing}
    objected = {purpose for (purpose, _), status in states.items() if status == "objected"}
    assert objected == marketing & {purpose for purpose, _ in states}
    assert {"email_marketing", "sales_outreach", "sms_marketing"} <= objected
    assert body["result"]["objected"]["purposes"] == sorted(objected)
    with unit_of_work(runtime.stores) as s:
        events = s.scalars(
            select(ConsentEvent).where(ConsentEvent.profile_id == uuid.UUID(x), ConsentEvent.status == "objected")
        ).all()
        assert events and all(e.source == "privacy_request" and e.has_proof for e in events)

    # A later CRM import of an old `granted` does not re-enable marketing.
    stale = contact_row(
        external_id="crm-x",
        email=X_EMAIL,
        first_name="Xavier",
        last_name="Quinlan",
        consents=[{**GRANT, "method": "crm_sync", "occurred_at": "2026-06-01T00:00:00Z", "proof": None}],
    )
    _ingest(client, api_keys, "crm", [stale])
    assert _states(client, api_keys, x)[next(k for k in states if k[0] == "email_marketing")] == "objected"

    # A new first-party express consent with proof, after the objection, is honoured.
    grant = {
        "purpose": "email_marketing",
        "status": "granted",
        "contact_point": {"email": X_EMAIL},
        "occurred_at": (utcnow() + dt.timedelta(seconds=1)).isoformat(),
        "method": "web_form",
        "source": "webform-signup",
        "consent_type": "explicitly_expressed",
        "language": "en",
        "jurisdiction": "UK",
        "proof": PROOF,
        **NEWSLETTER_V3,
    }
    resp = client.post(f"/v1/profiles/{x}/consents", json=grant, headers=api_keys["compliance"])
    assert resp.status_code == 201, resp.text
    assert _states(client, api_keys, x)[next(k for k in states if k[0] == "email_marketing")] == "granted"


# -- rectification -----------------------------------------------------------------------------------------------


def _golden(client: Any, keys: Keys, profile_id: str) -> dict[str, Any]:
    body: dict[str, Any] = client.get(f"/v1/profiles/{profile_id}", headers=keys["compliance"]).json()
    return body


def test_rectification_pins_the_field_until_the_wrong_source_changes_it(client, api_keys, runtime):
    wrong = contact_row(
        external_id="crm-r", email="rosa.parkinson@acme.example", first_name="Rosa", last_name="Parkisnon"
    )
    pid = _ingest(client, api_keys, "crm", [wrong])[0]["profile_id"]

    body = _created(
        client, api_keys, type="rectification", subject={"profile_id": pid}, fields={"last_name": "Parkinson"}
    )
    assert body["status"] == "completed" and body["result"]["fields"] == ["last_name"]
    view = _golden(client, api_keys, pid)
    assert view["golden"]["last_name"] == "Parkinson"
    assert view["field_provenance"]["last_name"]["rule"] == "rectification"
    assert view["field_provenance"]["last_name"]["request_id"] == body["id"]

    # The CRM syncs again, later, still carrying the old value: the correction stands and a conflict is recorded.
    resync = {**wrong, "observed_at": "2027-01-01T09:00:00Z", "city": "Bristol"}
    _ingest(client, api_keys, "crm", [resync])
    assert _golden(client, api_keys, pid)["golden"]["last_name"] == "Parkinson"
    (conflict,) = audit_entries(runtime, "profile.rectification_conflict")
    assert conflict["details"]["fields"] == ["last_name"] and conflict["resource_id"] == pid

    # The CRM changes the field itself: that is new information, and survivorship decides again.
    changed = {**resync, "observed_at": "2027-02-01T09:00:00Z", "last_name": "Parkinson-Lee"}
    _ingest(client, api_keys, "crm", [changed])
    view = _golden(client, api_keys, pid)
    assert view["golden"]["last_name"] == "Parkinson-Lee"
    assert view["field_provenance"]["last_name"]["source"] == "crm"


def test_rectification_refuses_unknown_fields_and_bad_values_without_echoing_them(client, api_keys, people):
    resp = _file(
        client, api_keys, type="rectification", subject={"email": X_EMAIL}, fields={"shoe_size": "size-44-xyz"}
    )
    assert_problem(resp, 422, forbid=["size-44-xyz"])
    resp = _file(
        client, api_keys, type="rectification", subject={"email": X_EMAIL}, fields={"email": "not-an-email-x9"}
    )
    assert_problem(resp, 422, forbid=["not-an-email-x9"])
    resp = _file(client, api_keys, type="rectification", subject={"email": X_EMAIL})
    assert_problem(resp, 422)


# -- lifecycle: holds, approval, deadlines, listing ---------------------------------------------------------------


def test_erasure_of_a_held_profile_is_rejected_with_a_reason(client, api_keys, runtime, people):
    hold = client.post(
        f"/v1/profiles/{people['x']}/legal-hold", json={"reason": "case 2026-41"}, headers=api_keys["compliance"]
    )
    assert hold.status_code == 201
    body = _created(client, api_keys, type="erasure", subject={"email": X_EMAIL})
    assert body["status"] == "rejected" and body["rejection_reason"] == "LegalClaimDefenceImpaired"
    assert body["result"]["held_profiles"] == [people["x"]]
    assert body["completed_at"] is not None
    (entry,) = audit_entries(runtime, "privacy_request.rejected")
    assert entry["details"] == {"type": "erasure", "status": "rejected", "reason": "LegalClaimDefenceImpaired"}


def test_erasure_waits_for_a_second_approver(client, api_keys, runtime, people):
    body = _created(client, api_keys, type="erasure", subject={"email": X_EMAIL})
    assert body["status"] == "awaiting_approval"
    same = client.post(f"/v1/privacy-requests/{body['id']}/approve", headers=api_keys["compliance"])
    assert_problem(same, 403, type_="/problems/second-approver-required")
    listed = client.get("/v1/privacy-requests", params={"status": "awaiting_approval"}, headers=api_keys["compliance"])
    assert [r["id"] for r in listed.json()["data"]] == [body["id"]]


def test_a_request_for_nobody_other_than_access_is_rejected(client, api_keys):
    body = _created(client, api_keys, type="objection", subject={"email": "nobody.here@acme.example"})
    assert body["status"] == "rejected" and body["rejection_reason"] == "no_personal_data_held"


def test_due_date_is_one_month_and_an_extension_adds_two(client, api_keys, runtime, people):
    body = _created(client, api_keys, type="access", subject={"email": X_EMAIL})
    received = dt.datetime.fromisoformat(body["received_at"])
    due = dt.datetime.fromisoformat(body["due_at"])
    assert due.date() >= (received + dt.timedelta(days=28)).date() and due.weekday() < 5
    assert body["jurisdiction"] == "EU" and body["ack_by"] is None

    open_one = _created(client, api_keys, type="erasure", subject={"email": X_EMAIL})
    resp = client.post(
        f"/v1/privacy-requests/{open_one['id']}/extend",
        json={"reason": "complex: 14 source systems"},
        headers=api_keys["compliance"],
    )
    assert resp.status_code == 200, resp.text
    extended = resp.json()
    assert extended["extended_to"] == extended["max_due_at"] == extended["effective_due_at"]
    assert extended["extension_notified_at"] is not None
    again = client.post(
        f"/v1/privacy-requests/{open_one['id']}/extend", json={"reason": "more time"}, headers=api_keys["compliance"]
    )
    assert_problem(again, 409)


def test_an_extension_after_the_original_due_date_is_refused(client, api_keys, runtime, people):
    body = _created(client, api_keys, type="erasure", subject={"email": X_EMAIL})
    with unit_of_work(runtime.stores) as s:
        request = compliance_session(s).get(PrivacyRequest, uuid.UUID(body["id"]))
        request.due_at = utcnow() - dt.timedelta(days=1)
        compliance_session(s).add(request)
    resp = client.post(
        f"/v1/privacy-requests/{body['id']}/extend", json={"reason": "late"}, headers=api_keys["compliance"]
    )
    assert_problem(resp, 409, type_="/problems/privacy-request-state")


def test_ccpa_requests_get_ack_by_and_45_days(client, api_keys, people):
    body = _created(client, api_keys, type="access", subject={"email": X_EMAIL}, jurisdiction="US-CA")
    received = dt.datetime.fromisoformat(body["received_at"])
    assert dt.datetime.fromisoformat(body["due_at"]) == received + dt.timedelta(days=45)
    assert dt.datetime.fromisoformat(body["max_due_at"]) == received + dt.timedelta(days=90)
    assert body["ack_by"] is not None
    assert_problem(_file(client, api_keys, type="access", subject={"email": X_EMAIL}, jurisdiction="XX"), 422)


def test_open_requests_list_by_due_date_with_days_left_and_pages(client, api_keys, runtime, people):
    ids = [_created(client, api_keys, type="erasure", subject={"email": X_EMAIL})["id"] for _ in range(3)]
    _created(client, api_keys, type="access", subject={"email": X_EMAIL})  # completed: not open
    with unit_of_work(runtime.stores) as s:
        for i, rid in enumerate(ids):
            request = compliance_session(s).get(PrivacyRequest, uuid.UUID(rid))
            request.due_at = utcnow() + dt.timedelta(days=10 - 3 * i)  # the last filed is due first
            compliance_session(s).add(request)
    first = client.get("/v1/privacy-requests", params={"status": "open", "limit": 2}, headers=api_keys["compliance"])
    assert first.status_code == 200, first.text
    page = first.json()
    assert [r["id"] for r in page["data"]] == [ids[2], ids[1]]
    assert [r["days_left"] for r in page["data"]] == [4, 7]
    rest = client.get(
        "/v1/privacy-requests",
        params={"status": "open", "limit": 2, "cursor": page["next_cursor"]},
        headers=api_keys["compliance"],
    ).json()
    assert [r["id"] for r in rest["data"]] == [ids[0]] and rest["next_cursor"] is None
    soon = client.get(
        "/v1/privacy-requests",
        params={"status": "open", "due_before": (utcnow() + dt.timedelta(days=5)).isoformat()},
        headers=api_keys["compliance"],
    ).json()
    assert [r["id"] for r in soon["data"]] == [ids[2]]
    assert client.get(f"/v1/privacy-requests/{ids[0]}", headers=api_keys["compliance"]).json()["id"] == ids[0]
    assert_problem(client.get(f"/v1/privacy-requests/{uuid.uuid4()}", headers=api_keys["compliance"]), 404)


def test_yearly_metrics_count_received_complied_and_denied_per_type(client, api_keys, people):
    _created(client, api_keys, type="access", subject={"email": X_EMAIL})
    _created(client, api_keys, type="objection", subject={"email": "nobody.here@acme.example"})
    body = client.get("/v1/privacy-requests/metrics", headers=api_keys["compliance"]).json()
    by_type = {t["type"]: t for t in body["types"]}
    assert (by_type["access"]["received"], by_type["access"]["complied"]) == (1, 1)
    assert (by_type["objection"]["received"], by_type["objection"]["denied"]) == (1, 1)
    assert by_type["access"]["median_days"] is not None


@pytest.mark.parametrize(
    "body",
    [
        {"type": "forget_me", "subject": {"email": X_EMAIL}},
        {"type": "access", "subject": {"email": X_EMAIL, "phone": X_PHONE}},
        {"type": "access", "subject": {}},
        {"type": "access", "subject": {"email": "no-at-sign-here"}},
        {"type": "access", "subject": {"email": X_EMAIL}, "fields": {"last_name": "Q"}},
        {"type": "access", "subject": {"email": X_EMAIL}, "unknown": 1},
    ],
)
def test_bad_requests_are_422_problems_that_do_not_echo_input(client, api_keys, body):
    assert_problem(_file(client, api_keys, **body), 422, forbid=["no-at-sign-here"])


def test_audit_trail_of_requests_holds_no_personal_data(client, api_keys, runtime, people):
    _created(client, api_keys, type="access", subject={"email": X_EMAIL}, notes="Xavier called from his mobile")
    _created(client, api_keys, type="rectification", subject={"email": X_EMAIL}, fields={"city": "Plymouth"})
    _created(client, api_keys, type="objection", subject={"email": X_EMAIL})
    _created(client, api_keys, type="restriction", subject={"email": X_EMAIL})
    trail = dump(audit_entries(runtime))
    for value in (X_EMAIL, "xavier", "quinlan", "plymouth", "mobile", X_PHONE.replace(" ", "")):
        assert value not in trail.lower(), value
    steps = [e["action"] for e in audit_entries(runtime) if e["resource_type"] == "privacy_request"]
    assert steps.count("privacy_request.received") == 4 and steps.count("privacy_request.completed") == 4


def test_the_request_log_stores_no_plaintext_subject(client, api_keys, runtime, people):
    body = _created(
        client, api_keys, type="access", subject={"email": X_EMAIL}, notes="Xavier called", requested_by="Xavier Q"
    )
    with unit_of_work(runtime.stores) as s:
        request = compliance_session(s).get(PrivacyRequest, uuid.UUID(body["id"]))
        stored = dump(request.model_dump(exclude={"export"})) + request.subject_ref.hex()
        assert X_EMAIL not in stored and "xavier" not in stored.lower()
        assert b"Xavier" not in (request.export or b"") and b"Xavier" not in request.subject_ref


# -- erasure (the pipeline itself is cdp.privacy.erasure; here: the request around it) -----------------------------


def test_an_approved_erasure_erases_and_a_second_one_is_a_no_op(client, api_keys, runtime, people):
    body = _created(client, api_keys, type="erasure", subject={"email": X_EMAIL}, notes="by letter")
    assert body["status"] == "awaiting_approval"
    second = _second_compliance_key(runtime)
    resp = client.post(f"/v1/privacy-requests/{body['id']}/approve", headers=second)
    assert resp.status_code == 200, resp.text
    done = resp.json()
    assert done["status"] == "completed" and len(done["approvals"]) == 1
    report = done["result"]["erasure"]
    assert report["profile_ids"] == [people["x"]] and report["data_keys_destroyed"] == 1
    assert report["rows_deleted"]["source_record"] == 2
    assert [h["status"] for h in done["history"]] == ["received", "awaiting_approval", "in_progress", "completed"]
    assert_problem(client.get(f"/v1/profiles/{people['x']}", headers=api_keys["compliance"]), 404)
    assert client.get(f"/v1/profiles/{people['y']}", headers=api_keys["sales"]).status_code == 200
    assert _ingest(client, api_keys, "crm", [contact_row(external_id="crm-x", email=X_EMAIL)])[0]["outcome"] == (
        "suppressed"
    )
    again = client.post(f"/v1/privacy-requests/{body['id']}/approve", headers=second)
    assert_problem(again, 409, type_="/problems/privacy-request-state")

    repeat = _created(client, api_keys, type="erasure", subject={"profile_id": people["x"]})
    assert repeat["status"] == "awaiting_approval"
    resp = client.post(f"/v1/privacy-requests/{repeat['id']}/approve", headers=second)
    assert resp.json()["status"] == "completed" and resp.json()["result"]["data_held"] is False
    with unit_of_work(runtime.stores) as s:
        request = compliance_session(s).get(PrivacyRequest, uuid.UUID(body["id"]))
        assert read_payload(s, request) == {}, "the request's subject and notes were shredded with the person"
    assert client.get("/v1/audit/verify", headers=api_keys["compliance"]).json()["ok"] is True


def test_restriction_queues_a_removal_at_every_destination_the_person_was_synced_to(client, api_keys, runtime, people):
    x = uuid.UUID(people["x"])
    with unit_of_work(runtime.stores) as s:
        audience = Audience(name="restricted-newsletter", purpose="email_marketing", destination="mailchimp")
        s.add(audience)
        s.flush()
        identity = s.scalars(select(Identity).where(Identity.profile_id == x, Identity.kind == "email")).one()
        s.add(
            AudienceMembershipSnapshot(
                audience_id=audience.id,
                destination="mailchimp",
                profile_id=x,
                identity_id=identity.id,
                member_ref=seal_ref(s, x, "mc-member-hash-1"),
            )
        )
    body = _created(client, api_keys, type="restriction", subject={"profile_id": str(x)})
    assert body["result"]["destinations_notified"] == ["mailchimp"]
    with unit_of_work(runtime.stores) as s:
        (task,) = s.scalars(select(DestinationRemoval).where(DestinationRemoval.profile_id == x)).all()
        assert (task.destination, task.erase, task.reason) == ("mailchimp", False, f"restriction:{body['id']}")
        assert (
            s.scalars(select(AudienceMembershipSnapshot).where(AudienceMembershipSnapshot.profile_id == x)).all() == []
        )
    assert body["status"] == "awaiting_recipients", "Art. 19: open until the destination confirmed"
    listed = client.get("/v1/privacy-requests", params={"status": "open"}, headers=api_keys["compliance"]).json()
    assert body["id"] in {r["id"] for r in listed["data"]}
    with unit_of_work(runtime.stores) as s:
        task = s.scalars(select(DestinationRemoval).where(DestinationRemoval.profile_id == x)).one()
        task.status = "done"
    done = client.get(f"/v1/privacy-requests/{body['id']}", headers=api_keys["compliance"]).json()
    assert done["status"] == "completed" and done["result"]["recipients"] == {"mailchimp": "done"}
    assert done["history"][-1]["actor"] == "system"
