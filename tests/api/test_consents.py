"""Consents through the API: state + ledger (with ?at= and cursors), recording events, proof by role."""

import uuid
from typing import Any

import pytest
from sqlmodel import select

from cdp.db import unit_of_work
from cdp.profiles.models import Event
from tests.api.helpers import assert_problem, audit_entries
from tests.factories import contact_row

EMAIL = "grace.hopper@navy.example"
OTHER_EMAIL = "someone.else@navy.example"
PHONE = "+44 20 7946 0777"
PROOF = {"ip": "192.0.2.44", "user_agent": "Mozilla/5.0", "page_url": "https://example.com/signup"}
# The shipped catalog's notices (policies/purposes.yaml) with their sha256.
NEWSLETTER_V3 = {
    "notice_id": "newsletter-signup",
    "notice_version": "3",
    "notice_sha256": "591092b2e7cb50b3576bf2bc441b06dccd5ad0800ebdd200870a08dca0be09b7",
}
NEWSLETTER_V2_SHA = "272edc831571edca352e8ef58956904c433140ee5d6f757b1cafbd4887d63830"
SMS_V1 = {
    "notice_id": "sms-signup",
    "notice_version": "1",
    "notice_sha256": "d0f7bf7283ea9cf29d53a98c1edfcd5e63c3847b928338905f15fdea6f595bf9",
}
Keys = dict[str, dict[str, str]]


@pytest.fixture
def grace(client: Any, api_keys: Keys) -> str:
    grant = {
        "purpose": "email_marketing",
        "status": "granted",
        "occurred_at": "2026-01-01T00:00:00Z",
        "method": "web_form",
        "consent_type": "explicitly_expressed",
        "proof": PROOF,
    }
    row = contact_row(email=EMAIL, phone=PHONE, first_name="Grace", last_name="Hopperton", consents=[grant])
    resp = client.post("/v1/ingest/webform", json=[row, contact_row(email=OTHER_EMAIL)], headers=api_keys["connector"])
    assert resp.status_code == 200, resp.text
    return str(resp.json()["results"][0]["profile_id"])


def _post(client: Any, keys: Keys, profile_id: str, role: str = "sales", **body: Any) -> Any:
    payload = {
        "purpose": "email_marketing",
        "status": "withdrawn",
        "contact_point": {"email": EMAIL},
        "occurred_at": "2026-02-01T00:00:00Z",
        "method": "preference_center",
        "source": "preference_center",
        "consent_type": "expressed",
        "language": "en",
        "jurisdiction": "UK",
        **body,
    }
    return client.post(f"/v1/profiles/{profile_id}/consents", json=payload, headers=keys[role], follow_redirects=False)


def _get(client: Any, keys: Keys, profile_id: str, role: str = "sales", **params: Any) -> dict[str, Any]:
    resp = client.get(f"/v1/profiles/{profile_id}/consents", params=params, headers=keys[role])
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


def test_state_is_per_contact_point_and_purpose_with_the_ledger(client: Any, api_keys: Keys, grace: str) -> None:
    body = _get(client, api_keys, grace)
    [state] = body["states"]
    assert (state["purpose"], state["status"], state["contact_point_kind"]) == ("email_marketing", "granted", "email")
    assert (state["notice_id"], state["notice_version"], state["lawful_basis"]) == ("newsletter-signup", "3", "consent")
    assert state["expires_at"].startswith("2028-01-01")
    [event] = body["ledger"]["data"]
    assert event["record_id"] == state["record_id"] and event["schema_version"] == "cdp-27560/1"
    assert event["consent_type"] == "explicitly_expressed" and event["has_proof"] is True
    assert EMAIL not in str(body)


def test_proof_is_decrypted_only_for_the_compliance_role(client: Any, api_keys: Keys, grace: str) -> None:
    for role in ("sales", "marketing"):
        [event] = _get(client, api_keys, grace, role)["ledger"]["data"]
        assert event["proof"] is None and event["has_proof"] is True
    [event] = _get(client, api_keys, grace, "compliance")["ledger"]["data"]
    assert event["proof"] == PROOF


def test_reading_consents_is_audited_without_personal_data(
    client: Any, api_keys: Keys, runtime: Any, grace: str
) -> None:
    _get(client, api_keys, grace, "compliance")
    [entry] = audit_entries(runtime, "consent.read")
    assert entry["resource_id"] == grace and entry["details"] == {"proof": True, "as_of": False, "events": 1}


def test_recording_a_withdrawal_changes_state_and_writes_timeline_and_audit(
    client: Any, api_keys: Keys, runtime: Any, grace: str
) -> None:
    resp = _post(client, api_keys, grace)
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert [(e["status"], e["method"], e["indicated_by"]) for e in body["recorded"]] == [
        ("withdrawn", "preference_center", "data_subject")
    ]
    assert [s["status"] for s in body["states"]] == ["withdrawn"]
    [entry] = audit_entries(runtime, "consent.recorded")
    assert entry["resource_id"] == grace and entry["details"]["consent_event_ids"] == [body["recorded"][0]["id"]]
    assert EMAIL not in str(entry)
    with unit_of_work(runtime.stores) as s:
        changes = s.scalars(select(Event).where(Event.type == "consent_changed")).all()
        assert [str(e.profile_id) for e in changes] == [grace]
        assert b"withdrawn" not in (changes[0].properties or b"")  # encrypted like every event's properties


def test_state_as_of_a_moment_returns_what_held_then(client: Any, api_keys: Keys, grace: str) -> None:
    assert _post(client, api_keys, grace).status_code == 201
    then = _get(client, api_keys, grace, "compliance", at="2026-01-15T00:00:00Z")
    assert [s["status"] for s in then["states"]] == ["granted"]
    assert [e["status"] for e in then["ledger"]["data"]] == ["granted"]
    assert then["ledger"]["data"][0]["proof"] == PROOF
    now = _get(client, api_keys, grace)
    assert [s["status"] for s in now["states"]] == ["withdrawn"]
    before = _get(client, api_keys, grace, at="2025-06-01T00:00:00Z")
    assert before["states"] == [] and before["ledger"]["data"] == []
    later = _get(client, api_keys, grace, at="2030-01-01T00:00:00Z")
    assert [s["status"] for s in later["states"]] == ["withdrawn"]


def test_state_as_of_after_expiry_reads_expired(client: Any, api_keys: Keys, grace: str) -> None:
    [state] = _get(client, api_keys, grace, at="2028-06-01T00:00:00Z")["states"]
    assert (state["status"], state["recorded_status"]) == ("expired", "granted")


def test_at_without_a_time_zone_is_refused(client: Any, api_keys: Keys, grace: str) -> None:
    resp = client.get(f"/v1/profiles/{grace}/consents", params={"at": "2026-01-15T00:00:00"}, headers=api_keys["sales"])
    assert_problem(resp, 422)


def test_the_ledger_pages_newest_first_with_a_cursor(client: Any, api_keys: Keys, grace: str) -> None:
    for day, status in ((2, "withdrawn"), (3, "granted"), (4, "withdrawn"), (5, "granted")):
        extra = {"method": "web_form", **NEWSLETTER_V3} if status == "granted" else {}
        resp = _post(client, api_keys, grace, status=status, occurred_at=f"2026-02-0{day}T00:00:00Z", **extra)
        assert resp.status_code == 201, resp.text
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = _get(client, api_keys, grace, **params)["ledger"]
        seen += [e["occurred_at"] for e in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 5 and seen == sorted(seen, reverse=True)
    bad = client.get(f"/v1/profiles/{grace}/consents", params={"cursor": "bm90LWEtY3Vyc29y"}, headers=api_keys["sales"])
    assert_problem(bad, 422)


@pytest.mark.parametrize(
    ("body", "type_", "says"),
    [
        ({"purpose": "newsletter_of_doom"}, "/problems/invalid-consent", "'newsletter_of_doom'"),
        ({"status": "granted", "consent_type": "implied"}, "/problems/invalid-consent", "consent types"),
        ({"purpose": "sms_marketing"}, "/problems/invalid-consent", "covers sms, phone"),
        ({"notice_id": "newsletter-signup", "notice_version": "42"}, "/problems/invalid-consent", "notice"),
        ({"status": "granted"}, "/problems/invalid-consent", "notice_id"),
        ({"contact_point": {"email": "nobody.here@navy.example"}}, "/problems/contact-point-not-found", "email"),
        ({"contact_point": {"email": OTHER_EMAIL}}, "/problems/contact-point-not-found", "email"),
        ({"contact_point": None}, "/problems/invalid-consent", "not a any contact point"),
        ({"method": "gpc_signal"}, "/problems/invalid-consent", "gpc_signal"),
    ],
)
def test_events_the_catalog_does_not_allow_are_422_or_404_problems(
    client: Any, api_keys: Keys, grace: str, body: dict[str, Any], type_: str, says: str
) -> None:
    resp = _post(client, api_keys, grace, **body)
    assert_problem(resp, resp.status_code, type_=type_, forbid=[EMAIL, OTHER_EMAIL, "nobody.here"])
    assert resp.status_code in (404, 422)
    assert says in resp.text


def test_an_objection_to_direct_marketing_covers_every_marketing_purpose(
    client: Any, api_keys: Keys, grace: str
) -> None:
    resp = _post(client, api_keys, grace, status="objected", method="api", role="compliance")
    assert resp.status_code == 201, resp.text
    recorded = resp.json()["recorded"]
    assert {e["purpose"] for e in recorded} == {
        "email_marketing",
        "sms_marketing",
        "sales_outreach",
        "customer_similar_products_email",
        "profiling",
        "ad_audience_sharing",
    }
    assert {s["status"] for s in resp.json()["states"]} == {"objected"}
    stale = _post(
        client,
        api_keys,
        grace,
        status="granted",
        method="crm_sync",
        occurred_at="2026-03-01T00:00:00Z",
        **NEWSLETTER_V3,
    )
    assert stale.status_code == 201
    assert stale.json()["recorded"][0]["ignored_reason"] == "objection_needs_first_party_grant_with_proof"


def test_a_retry_with_the_same_external_id_records_once(client: Any, api_keys: Keys, grace: str) -> None:
    first = _post(client, api_keys, grace, external_id="unsub-77")
    again = _post(client, api_keys, grace, external_id="unsub-77")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["duplicate"] is True and again.json()["recorded"] == []


def test_a_phone_contact_point_in_national_format(client: Any, api_keys: Keys, grace: str) -> None:
    resp = _post(
        client,
        api_keys,
        grace,
        purpose="sms_marketing",
        status="granted",
        consent_type="explicitly_expressed",
        contact_point={"phone": "020 7946 0777", "country": "GB"},
        **SMS_V1,
    )
    assert resp.status_code == 201, resp.text
    assert {(s["purpose"], s["contact_point_kind"]) for s in resp.json()["states"]} >= {("sms_marketing", "phone")}


def test_a_merged_profile_id_redirects(client: Any, api_keys: Keys, grace: str) -> None:
    other = client.post(
        "/v1/ingest/crm", json=[contact_row(email="merge.me@navy.example")], headers=api_keys["connector"]
    ).json()["results"][0]["profile_id"]
    merged = client.post(
        f"/v1/profiles/{grace}/merge",
        json={"other_profile_id": other, "reason": "same person, confirmed"},
        headers=api_keys["compliance"],
    )
    assert merged.status_code == 200, merged.text
    for resp in (
        client.get(f"/v1/profiles/{other}/consents", headers=api_keys["sales"], follow_redirects=False),
        _post(client, api_keys, other),
    ):
        assert resp.status_code == 308
        assert resp.headers["location"].endswith(f"/v1/profiles/{grace}/consents")


def test_purposes_serve_the_catalog(client: Any, api_keys: Keys) -> None:
    resp = client.get("/v1/purposes", headers=api_keys["marketing"])
    assert resp.status_code == 200, resp.text
    purposes = {p["id"]: p for p in resp.json()["data"]}
    email = purposes["email_marketing"]
    assert email["consent_types_accepted"] == ["expressed", "explicitly_expressed"]
    assert email["consent_validity"] == "P24M" and email["channels"] == ["email"]
    assert [(n["id"], n["version"]) for n in email["notices"]] == [
        ("newsletter-signup", "2"),
        ("newsletter-signup", "3"),
    ]
    assert purposes["ad_audience_sharing"]["sale_or_share"] is True


# COMPLIANCE 7.1: the API takes only events stated in full ---------------------------------------------------


def _full_grant(**overrides: Any) -> dict[str, Any]:
    return {
        "purpose": "email_marketing",
        "status": "granted",
        "contact_point": {"email": EMAIL},
        "occurred_at": "2026-02-01T00:00:00Z",
        "method": "web_form",
        "source": "webform-signup",
        "consent_type": "explicitly_expressed",
        "language": "en",
        "jurisdiction": "UK",
        **NEWSLETTER_V3,
        **overrides,
    }


def test_a_full_grant_is_recorded_with_its_notice_language_and_jurisdiction(
    client: Any, api_keys: Keys, grace: str
) -> None:
    resp = client.post(f"/v1/profiles/{grace}/consents", json=_full_grant(), headers=api_keys["sales"])
    assert resp.status_code == 201, resp.text
    [event] = resp.json()["recorded"]
    assert (event["notice_id"], event["notice_version"], event["notice_sha256"]) == tuple(NEWSLETTER_V3.values())
    assert (event["language"], event["jurisdiction"], event["source"]) == ("en", "UK", "webform-signup")
    assert event["record_id"] and event["schema_version"] == "cdp-27560/1"


@pytest.mark.parametrize(
    "missing",
    [
        "purpose",
        "contact_point",
        "status",
        "consent_type",
        "occurred_at",
        "method",
        "source",
        "language",
        "jurisdiction",
    ],
)
def test_an_event_missing_a_required_field_is_a_422_naming_it(
    client: Any, api_keys: Keys, grace: str, missing: str
) -> None:
    body = _full_grant()
    del body[missing]
    resp = client.post(f"/v1/profiles/{grace}/consents", json=body, headers=api_keys["sales"])
    problem = assert_problem(resp, 422, type_="/problems/invalid-input", forbid=[EMAIL, "webform-signup"])
    assert ["body", missing] in [e["loc"] for e in problem["errors"]]


@pytest.mark.parametrize("missing", ["notice_id", "notice_version", "notice_sha256"])
def test_a_grant_of_a_consent_purpose_without_its_full_notice_is_a_422_naming_it(
    client: Any, api_keys: Keys, grace: str, missing: str
) -> None:
    body = _full_grant()
    del body[missing]
    resp = client.post(f"/v1/profiles/{grace}/consents", json=body, headers=api_keys["sales"])
    problem = assert_problem(resp, 422, type_="/problems/invalid-consent", forbid=[EMAIL])
    assert (problem["field"], problem["code"]) == (missing, "missing_notice")


def test_a_notice_sha256_other_than_the_catalogs_is_refused(client: Any, api_keys: Keys, grace: str) -> None:
    body = _full_grant(notice_sha256=NEWSLETTER_V2_SHA)  # version 2's hash, claimed for version 3
    resp = client.post(f"/v1/profiles/{grace}/consents", json=body, headers=api_keys["sales"])
    problem = assert_problem(resp, 422, type_="/problems/invalid-consent", forbid=[NEWSLETTER_V2_SHA])
    assert (problem["field"], problem["code"]) == ("notice_sha256", "notice_hash_mismatch")


@pytest.mark.parametrize("status", ["withdrawn", "denied"])
def test_withdrawals_and_refusals_need_no_notice(client: Any, api_keys: Keys, grace: str, status: str) -> None:
    resp = _post(client, api_keys, grace, status=status)
    assert resp.status_code == 201, resp.text
    assert resp.json()["recorded"][0]["notice_id"] is None


def test_a_grant_of_a_non_consent_purpose_needs_no_notice(client: Any, api_keys: Keys, grace: str) -> None:
    resp = _post(client, api_keys, grace, purpose="sales_outreach", status="granted", method="web_form")
    assert resp.status_code == 201, resp.text


# COMPLIANCE 7.10: soft opt-in -------------------------------------------------------------------------------

CUSTOMER_EMAIL = "ada.customer@engine.example"
SOFT = "customer_similar_products_email"


@pytest.fixture
def customer(client: Any, api_keys: Keys, runtime: Any) -> dict[str, str]:
    """A profile that bought something (and filled a form); returns its id and its timeline event ids by type."""
    events = [
        {"type": "purchase_completed", "occurred_at": "2026-01-10T10:00:00Z", "external_id": "order-1001"},
        {"type": "form_submitted", "occurred_at": "2026-01-09T10:00:00Z", "external_id": "form-7"},
    ]
    row = contact_row(email=CUSTOMER_EMAIL, events=events)
    resp = client.post("/v1/ingest/shop", json=[row, contact_row(email=OTHER_EMAIL)], headers=api_keys["connector"])
    assert resp.status_code == 200, resp.text
    profile_id, other_id = (r["profile_id"] for r in resp.json()["results"])
    other = client.post(
        "/v1/ingest/shop",
        json=[contact_row(email=OTHER_EMAIL, events=[{**events[0], "external_id": "order-2002"}])],
        headers=api_keys["connector"],
    )
    assert other.status_code == 200, other.text
    with unit_of_work(runtime.stores) as s:
        ids = {e.type: str(e.id) for e in s.scalars(select(Event).where(Event.profile_id == uuid.UUID(profile_id)))}
    with unit_of_work(runtime.stores) as s:
        [foreign] = s.scalars(
            select(Event.id).where(Event.profile_id == uuid.UUID(other_id), Event.type == "purchase_completed")
        ).all()
    return {"id": profile_id, **ids, "foreign": str(foreign)}


def _soft(client: Any, keys: Keys, customer: dict[str, str], **overrides: Any) -> Any:
    body = {
        "purpose": SOFT,
        "status": "granted",
        "contact_point": {"email": CUSTOMER_EMAIL},
        "occurred_at": "2026-01-10T10:05:00Z",
        "method": "web_form",
        "source": "shop-checkout",
        "consent_type": "soft_opt_in",
        "language": "en",
        "jurisdiction": "UK",
        "linked_event_id": customer["purchase_completed"],
        "proof": {"opt_out_offered": True, "page_url": "https://shop.example/checkout"},
        **overrides,
    }
    return client.post(f"/v1/profiles/{customer['id']}/consents", json=body, headers=keys["marketing"])


def test_a_soft_opt_in_linked_to_a_purchase_with_an_opt_out_offer_is_granted(
    client: Any, api_keys: Keys, customer: dict[str, str]
) -> None:
    resp = _soft(client, api_keys, customer)
    assert resp.status_code == 201, resp.text
    [event] = resp.json()["recorded"]
    assert (event["consent_type"], event["linked_event_id"], event["lawful_basis"]) == (
        "soft_opt_in",
        customer["purchase_completed"],
        "legitimate_interest",
    )
    assert {(s["purpose"], s["status"]) for s in resp.json()["states"]} == {(SOFT, "granted")}


@pytest.mark.parametrize(
    ("overrides", "code", "field"),
    [
        ({"purpose": "email_marketing", **NEWSLETTER_V3}, "soft_opt_in_not_allowed", "consent_type"),
        ({"purpose": "sales_outreach"}, "soft_opt_in_not_allowed", "consent_type"),
        ({"linked_event_id": None}, "soft_opt_in_needs_sale", "linked_event_id"),
        ({"proof": None}, "soft_opt_in_needs_opt_out_offer", "proof.opt_out_offered"),
        ({"proof": {"opt_out_offered": False}}, "soft_opt_in_needs_opt_out_offer", "proof.opt_out_offered"),
        ({"linked_event_id": "form_submitted"}, "soft_opt_in_not_a_sale", "linked_event_id"),
        ({"linked_event_id": "foreign"}, "soft_opt_in_sale_not_found", "linked_event_id"),
        ({"linked_event_id": "3f1c1f4e-8f55-4c56-9d3b-3f7c2f3b0a11"}, "soft_opt_in_sale_not_found", "linked_event_id"),
        ({"occurred_at": "2026-01-10T09:00:00Z"}, "soft_opt_in_sale_later", "linked_event_id"),
        ({"status": "withdrawn"}, "link_not_allowed", "linked_event_id"),
        ({"consent_type": "expressed"}, "link_not_allowed", "linked_event_id"),
    ],
)
def test_a_soft_opt_in_without_its_conditions_is_refused(
    client: Any, api_keys: Keys, customer: dict[str, str], overrides: dict[str, Any], code: str, field: str
) -> None:
    link = overrides.get("linked_event_id")
    if link in customer:
        overrides = {**overrides, "linked_event_id": customer[link]}
    resp = _soft(client, api_keys, customer, **overrides)
    problem = assert_problem(resp, 422, type_="/problems/invalid-consent", forbid=[CUSTOMER_EMAIL])
    assert (problem["code"], problem["field"]) == (code, field)


def test_after_an_unsubscribe_only_express_consent_re_enables_soft_opt_in_marketing(
    client: Any, api_keys: Keys, customer: dict[str, str]
) -> None:
    assert _soft(client, api_keys, customer).status_code == 201
    unsubscribe = _soft(
        client,
        api_keys,
        customer,
        status="withdrawn",
        method="one_click_unsubscribe",
        consent_type="soft_opt_in",
        linked_event_id=None,
        proof=None,
        occurred_at="2026-02-01T00:00:00Z",
    )
    assert unsubscribe.status_code == 201, unsubscribe.text
    again = _soft(client, api_keys, customer, occurred_at="2026-03-01T00:00:00Z")
    assert again.status_code == 201, again.text
    assert again.json()["recorded"][0]["ignored_reason"] == "soft_opt_in_ended_by_opt_out"
    assert {s["status"] for s in again.json()["states"]} == {"withdrawn"}
    express = _soft(
        client,
        api_keys,
        customer,
        consent_type="expressed",
        linked_event_id=None,
        occurred_at="2026-04-01T00:00:00Z",
    )
    assert express.status_code == 201, express.text
    assert {s["status"] for s in express.json()["states"]} == {"granted"}
    renewed = _soft(client, api_keys, customer, occurred_at="2026-05-01T00:00:00Z")
    assert renewed.json()["recorded"][0]["ignored_reason"] is None
    assert {s["status"] for s in renewed.json()["states"]} == {"granted"}


def test_purposes_serve_the_soft_opt_in_flag(client: Any, api_keys: Keys) -> None:
    purposes = {p["id"]: p for p in client.get("/v1/purposes", headers=api_keys["marketing"]).json()["data"]}
    assert purposes[SOFT]["soft_opt_in_allowed"] is True
    assert purposes["email_marketing"]["soft_opt_in_allowed"] is False
