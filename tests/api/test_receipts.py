"""GET /v1/consents/{record_id}/receipt: both formats validate, withdrawal shows, 404 problem, audit with ids."""

import json
import uuid
from typing import Any

import pytest

from tests.api.helpers import assert_problem, audit_entries
from tests.factories import contact_row
from tests.receipt_schemas import KANTARA_V1_1, RECEIPT_27560, assert_valid

EMAIL = "grizelda.receipt@engine.example"
PHONE = "+44 20 7946 0555"
FIRST, LAST = "Grizelda", "Lovelaceworth"  # a first name of hex letters (ada) would match hashes and ids
PROOF = {"ip": "192.0.2.91", "user_agent": "Mozilla/5.0 (receipt)", "page_url": "https://example.com/join"}
Keys = dict[str, dict[str, str]]


@pytest.fixture
def ada(client: Any, api_keys: Keys) -> dict[str, str]:
    """A profile granted email marketing through the webform ingest; returns profile and record ids."""
    grant = {
        "purpose": "email_marketing",
        "status": "granted",
        "occurred_at": "2026-01-01T00:00:00Z",
        "method": "web_form",
        "consent_type": "explicitly_expressed",
        "proof": PROOF,
    }
    row = contact_row(email=EMAIL, phone=PHONE, first_name=FIRST, last_name=LAST, consents=[grant])
    resp = client.post("/v1/ingest/webform", json=[row], headers=api_keys["connector"])
    assert resp.status_code == 200, resp.text
    profile_id = resp.json()["results"][0]["profile_id"]
    consents = client.get(f"/v1/profiles/{profile_id}/consents", headers=api_keys["compliance"]).json()
    [state] = consents["states"]
    return {"profile_id": profile_id, "record_id": state["record_id"]}


def _receipt(client: Any, keys: Keys, record_id: str, fmt: str | None = None, role: str = "compliance") -> Any:
    params = {"format": fmt} if fmt else {}
    return client.get(f"/v1/consents/{record_id}/receipt", params=params, headers=keys[role])


def _no_personal_data(resp: Any) -> None:
    text = resp.text.lower()
    for value in (EMAIL, "grizelda.receipt", PHONE, PHONE.replace(" ", ""), "79460555", FIRST, LAST, *PROOF.values()):
        assert value.lower() not in text, f"receipt carries {value!r}"


def test_27560_receipt_validates_and_names_the_profile_only(client: Any, api_keys: Keys, ada: dict[str, str]) -> None:
    resp = _receipt(client, api_keys, ada["record_id"])
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert_valid(RECEIPT_27560, body)
    assert body["header"]["record_id"] == ada["record_id"]
    assert body["header"]["pii_principal_id"] == ada["profile_id"]
    assert [(e["state"], e["has_proof"]) for e in body["events"]] == [("granted", True)]
    assert "proof" not in body["events"][0]
    _no_personal_data(resp)
    assert (
        _receipt(client, api_keys, ada["record_id"], "27560").json()["header"]["receipt_id"]
        != (body["header"]["receipt_id"])
    )


def test_kantara_receipt_validates(client: Any, api_keys: Keys, ada: dict[str, str]) -> None:
    resp = _receipt(client, api_keys, ada["record_id"], "kantara", role="marketing")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert_valid(KANTARA_V1_1, body)
    assert body["version"] == "KI-CR-v1.1.0"
    assert body["piiPrincipalId"] == ada["profile_id"]
    assert body["services"][0]["purposes"][0]["consentType"] == "EXPLICIT"
    _no_personal_data(resp)


def test_a_withdrawn_consent_receipt_shows_the_withdrawal(client: Any, api_keys: Keys, ada: dict[str, str]) -> None:
    withdrawal = {
        "purpose": "email_marketing",
        "status": "withdrawn",
        "contact_point": {"email": EMAIL},
        "occurred_at": "2026-02-01T00:00:00Z",
        "method": "preference_center",
        "consent_type": "expressed",
        "source": "api",
        "language": "en",
        "jurisdiction": "EU",
    }
    resp = client.post(f"/v1/profiles/{ada['profile_id']}/consents", json=withdrawal, headers=api_keys["sales"])
    assert resp.status_code == 201, resp.text

    receipt = _receipt(client, api_keys, ada["record_id"])
    body = receipt.json()
    assert_valid(RECEIPT_27560, body)
    assert [(e["state"], e["method"], e["status_iri"]) for e in body["events"]] == [
        ("granted", "web_form", "https://w3id.org/dpv#ConsentGiven"),
        ("withdrawn", "preference_center", "https://w3id.org/dpv#ConsentWithdrawn"),
    ]
    assert body["status"]["state"] == "withdrawn"
    assert body["events"][1]["time"] == "2026-02-01T00:00:00Z"
    _no_personal_data(receipt)
    kantara = _receipt(client, api_keys, ada["record_id"], "kantara")
    assert_valid(KANTARA_V1_1, kantara.json())
    assert kantara.json()["collectionMethod"] == "preference_center"
    _no_personal_data(kantara)


def test_the_controller_comes_from_settings(client: Any, runtime: Any, api_keys: Keys, ada: dict[str, str]) -> None:
    runtime.settings = runtime.settings.model_copy(
        update={"controller_name": "Engine Works Ltd", "controller_email": "dpo@engine-works.example"}
    )
    body = _receipt(client, api_keys, ada["record_id"], "kantara").json()
    assert_valid(KANTARA_V1_1, body)
    assert body["piiControllers"][0]["piiController"] == "Engine Works Ltd"
    assert body["piiControllers"][0]["email"] == "dpo@engine-works.example"


def test_an_unknown_record_is_a_404_problem(client: Any, api_keys: Keys) -> None:
    unknown = str(uuid.uuid4())
    body = assert_problem(_receipt(client, api_keys, unknown), 404, type_="/problems/consent-record-not-found")
    assert body["record_id"] == unknown


def test_a_bad_format_is_a_422_problem(client: Any, api_keys: Keys, ada: dict[str, str]) -> None:
    assert_problem(_receipt(client, api_keys, ada["record_id"], "pdf"), 422, type_="/problems/invalid-input")


def test_issuing_a_receipt_is_audited_with_ids_only(
    client: Any, runtime: Any, api_keys: Keys, ada: dict[str, str]
) -> None:
    body = _receipt(client, api_keys, ada["record_id"], "kantara").json()
    [entry] = audit_entries(runtime, "consent.receipt")
    assert entry["resource_type"] == "consent_record" and entry["resource_id"] == ada["record_id"]
    assert entry["actor_role"] == "compliance"
    assert entry["details"] == {
        "format": "kantara",
        "receipt_id": body["consentReceiptID"],
        "profile_id": ada["profile_id"],
        "events": 1,
    }
    text = json.dumps(entry, default=str).lower()
    assert EMAIL not in text and FIRST.lower() not in text and LAST.lower() not in text
