"""Profiles through the API: ingest outcomes, full and consented reads, search, merges, and the audit trail."""

import uuid
from typing import Any

import pytest

from cdp.db import unit_of_work
from cdp.profiles.models import Profile
from tests.api.helpers import GRANTED_EMAIL_MARKETING, assert_problem, audit_entries, dump
from tests.factories import contact_row

EMAIL = "ada.lovelace@acme.example"
PHONE_INTL, PHONE_E164, PHONE_NATIONAL = "+44 20 7946 0018", "+442079460018", "020 7946 0018"
FIRST, LAST = "Augusta", "Lovelacey"
PII = (EMAIL, PHONE_INTL, PHONE_E164, PHONE_NATIONAL, "79460018", FIRST, LAST)


def _ingest(client: Any, keys: dict[str, dict[str, str]], rows: list[Any], source: str = "crm") -> dict[str, Any]:
    resp = client.post(f"/v1/ingest/{source}", json=rows, headers=keys["connector"])
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    assert body["source"] == source
    assert len(body["results"]) == len(rows)
    return body


@pytest.fixture
def ada_row() -> dict[str, Any]:
    return contact_row(
        email=EMAIL,
        phone=PHONE_INTL,
        first_name=FIRST,
        last_name=LAST,
        city="London",
        consents=[GRANTED_EMAIL_MARKETING],
    )


@pytest.fixture
def ada(client: Any, api_keys: dict[str, dict[str, str]], ada_row: dict[str, Any]) -> str:
    """Ada (consented email, phone) plus a second, unconsented person; returns Ada's profile id."""
    body = _ingest(client, api_keys, [ada_row, contact_row()])
    assert [r["outcome"] for r in body["results"]] == ["created", "created"]
    return str(body["results"][0]["profile_id"])


def _read(client: Any, keys: dict[str, dict[str, str]], role: str, profile_id: str) -> dict[str, Any]:
    resp = client.get(f"/v1/profiles/{profile_id}", headers=keys[role])
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


def _search(client: Any, keys: dict[str, dict[str, str]], body: dict[str, Any], role: str = "sales") -> dict[str, Any]:
    resp = client.post("/v1/profiles/search", json=body, headers=keys[role])
    assert resp.status_code == 200, resp.text
    result: dict[str, Any] = resp.json()
    return result


# --- ingest outcomes ---------------------------------------------------------------------------------


def test_ingest_reports_an_outcome_per_record(
    client: Any, api_keys: dict[str, dict[str, str]], ada_row: dict[str, Any]
) -> None:
    bad = {"external_id": "bad-1", "observed_at": "not a date", "email": "not-an-email"}
    first = _ingest(client, api_keys, [ada_row, bad])
    created, quarantined = first["results"]
    assert created["index"] == 0 and created["outcome"] == "created"
    uuid.UUID(created["profile_id"])
    assert quarantined["index"] == 1 and quarantined["outcome"] == "quarantined"
    assert quarantined["profile_id"] is None
    uuid.UUID(quarantined["quarantine_id"])
    assert {r["field"] for r in quarantined["reasons"]} == {"observed_at"}
    assert all(set(r) == {"field", "type", "message"} for r in quarantined["reasons"])
    assert first["counts"] == {
        "created": 1,
        "merged": 0,
        "updated": 0,
        "unchanged": 0,
        "quarantined": 1,
        "suppressed": 0,
    }

    # The same email from another source joins the same profile.
    webshop = contact_row(email=EMAIL.upper(), first_name=FIRST)
    merged = _ingest(client, api_keys, [webshop], source="webshop")["results"][0]
    assert merged["outcome"] == "merged"
    assert merged["profile_id"] == created["profile_id"]

    # A re-send of an identical record changes nothing; a changed one updates.
    again = _ingest(client, api_keys, [ada_row])
    assert again["results"][0]["outcome"] == "unchanged"
    assert again["results"][0]["profile_id"] == created["profile_id"]
    assert again["counts"]["unchanged"] == 1
    changed = _ingest(client, api_keys, [{**ada_row, "city": "Paris"}])
    assert changed["results"][0]["outcome"] == "updated"

    # A bad email alone is a reason of its own.
    bad_email = _ingest(client, api_keys, [contact_row(email="not-an-email")])["results"][0]
    assert bad_email["outcome"] == "quarantined"
    assert bad_email["reasons"] == [{"field": "email", "type": "invalid_email", "message": "not a valid email address"}]


# --- reads -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["sales", "compliance"])
def test_full_view_has_golden_identities_and_consent(
    client: Any, api_keys: dict[str, dict[str, str]], ada: str, role: str
) -> None:
    body = _read(client, api_keys, role, ada)
    assert body["id"] == ada
    assert body["view"] == "full"
    assert body["status"] == "active"
    assert body["golden"] == {
        "email": EMAIL,
        "phone": PHONE_E164,
        "first_name": FIRST,
        "last_name": LAST,
        "country": "GB",
        "city": "London",
    }
    assert set(body["field_provenance"]) == set(body["golden"])
    assert all(p["source"] == "crm" for p in body["field_provenance"].values())
    identities = {i["kind"]: i for i in body["identities"]}
    assert set(identities) == {"external:crm", "email", "phone"}
    assert identities["email"]["value"] == EMAIL
    assert identities["phone"]["value"] == PHONE_E164
    assert identities["external:crm"]["value"].startswith("ext-")
    assert [(c["purpose"], c["status"], c["identity_id"]) for c in body["consents"]] == [
        ("email_marketing", "granted", identities["email"]["id"])
    ]


def test_marketing_sees_only_consented_contact_points(
    client: Any, api_keys: dict[str, dict[str, str]], ada: str
) -> None:
    body = _read(client, api_keys, "marketing", ada)
    assert body["view"] == "consented"
    assert body["golden"] == {}
    assert body["field_provenance"] == {}
    assert [(i["kind"], i["value"]) for i in body["identities"]] == [("email", EMAIL)]
    assert [c["identity_id"] for c in body["consents"]] == [body["identities"][0]["id"]]
    for hidden in (PHONE_E164, FIRST, LAST, "London", "ext-"):
        assert hidden not in dump(body)


def test_marketing_sees_nothing_personal_without_consent(client: Any, api_keys: dict[str, dict[str, str]]) -> None:
    row = contact_row(phone=PHONE_INTL)
    pid = _ingest(client, api_keys, [row])["results"][0]["profile_id"]
    body = _read(client, api_keys, "marketing", pid)
    assert body["view"] == "consented"
    assert body["golden"] == {} and body["identities"] == [] and body["consents"] == []
    assert row["email"] not in dump(body)


def test_unknown_profile_is_404(client: Any, api_keys: dict[str, dict[str, str]], ada: str) -> None:
    missing = uuid.uuid4()
    resp = client.get(f"/v1/profiles/{missing}", headers=api_keys["sales"])
    body = assert_problem(resp, 404, type_="/problems/profile-not-found")
    assert body["profile_id"] == str(missing)


def test_merged_profile_answers_308_to_the_survivor(
    client: Any, api_keys: dict[str, dict[str, str]], runtime: Any, ada: str
) -> None:
    rows = [contact_row(), contact_row()]
    middle, loser = (r["profile_id"] for r in _ingest(client, api_keys, rows)["results"])
    with unit_of_work(runtime.stores) as session:
        session.get(Profile, uuid.UUID(loser)).merged_into = uuid.UUID(ada)  # type: ignore[union-attr]
        session.get(Profile, uuid.UUID(middle)).merged_into = uuid.UUID(loser)  # type: ignore[union-attr]

    for merged in (loser, middle, middle.upper()):
        resp = client.get(f"/v1/profiles/{merged}", headers=api_keys["sales"], follow_redirects=False)
        assert resp.status_code == 308, resp.text
        assert resp.headers["location"] == f"/v1/profiles/{ada}"
        assert resp.json()["survivor_id"] == ada

    followed = client.get(f"/v1/profiles/{loser}", headers=api_keys["sales"])
    assert followed.status_code == 200
    assert followed.json()["id"] == ada

    # A merged-away profile is no longer a search hit of its own.
    assert _search(client, api_keys, {"email": rows[1]["email"]})["data"] == []


# --- search ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("email", [EMAIL, EMAIL.upper(), f"  {EMAIL}\t", "Ada.Lovelace@ACME.Example "])
def test_search_by_email_is_case_and_whitespace_insensitive(
    client: Any, api_keys: dict[str, dict[str, str]], ada: str, email: str
) -> None:
    body = _search(client, api_keys, {"email": email})
    assert [p["id"] for p in body["data"]] == [ada]
    assert body["data"][0]["golden"]["email"] == EMAIL
    assert body["next_cursor"] is None


@pytest.mark.parametrize(
    "search",
    [
        {"phone": PHONE_NATIONAL, "country": "GB"},
        {"phone": PHONE_NATIONAL, "country": "gb"},
        {"phone": "(020) 7946-0018", "country": "GB"},
        {"phone": PHONE_E164},
        {"phone": PHONE_INTL, "country": "US"},
    ],
)
def test_search_by_phone(client: Any, api_keys: dict[str, dict[str, str]], ada: str, search: dict[str, str]) -> None:
    assert [p["id"] for p in _search(client, api_keys, search, role="compliance")["data"]] == [ada]


def test_search_for_unknown_contact_points_is_empty(client: Any, api_keys: dict[str, dict[str, str]], ada: str) -> None:
    assert _search(client, api_keys, {"email": "nobody@acme.example"}) == {"data": [], "next_cursor": None}
    assert _search(client, api_keys, {"phone": "020 7946 0999", "country": "GB"})["data"] == []


# --- audit -------------------------------------------------------------------------------------------


def test_reads_and_searches_are_audited_without_personal_data(
    client: Any, api_keys: dict[str, dict[str, str]], runtime: Any, ada: str
) -> None:
    _read(client, api_keys, "sales", ada)
    _read(client, api_keys, "marketing", ada)
    _search(client, api_keys, {"email": EMAIL})
    _search(client, api_keys, {"phone": PHONE_NATIONAL, "country": "GB"}, role="compliance")
    _search(client, api_keys, {"email": "nobody@acme.example"})

    reads = audit_entries(runtime, "profile.read")
    assert [(e["actor_role"], e["resource_id"], e["details"]) for e in reads] == [
        ("sales", ada, {"view": "full"}),
        ("marketing", ada, {"view": "consented"}),
        ("sales", ada, {"via": "search"}),
        ("compliance", ada, {"via": "search"}),
    ]
    searches = audit_entries(runtime, "profile.search")
    assert [(e["actor_role"], e["details"]) for e in searches] == [
        ("sales", {"by": "email", "matches": 1}),
        ("compliance", {"by": "phone", "matches": 1}),
        ("sales", {"by": "email", "matches": 0}),
    ]
    everything = dump(audit_entries(runtime)).lower()
    for value in (*PII, "nobody@acme.example", "London"):
        assert value.lower() not in everything, f"audit log holds {value!r}"
    api_view = client.get("/v1/audit", params={"limit": 200}, headers=api_keys["compliance"])
    assert api_view.status_code == 200
    for value in PII:
        assert value.lower() not in api_view.text.lower()


def _walk_audit(client: Any, keys: dict[str, dict[str, str]], limit: int) -> list[list[int]]:
    pages: list[list[int]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": limit} | ({"cursor": cursor} if cursor else {})
        resp = client.get("/v1/audit", params=params, headers=keys["compliance"])
        assert resp.status_code == 200, resp.text
        page = resp.json()
        pages.append([e["seq"] for e in page["data"]])
        cursor = page["next_cursor"]
        if cursor is None:
            return pages
        assert len(pages) < 100, "pagination does not terminate"


@pytest.mark.parametrize("limit", [1, 3, 5, 10, 200])
def test_audit_pages_cover_every_entry_once_in_seq_order(
    client: Any, api_keys: dict[str, dict[str, str]], runtime: Any, ada: str, limit: int
) -> None:
    _ingest(client, api_keys, [contact_row() for _ in range(5)])
    for _ in range(3):
        _read(client, api_keys, "sales", ada)
    stored = [e["seq"] for e in audit_entries(runtime)]
    assert len(stored) == 10

    pages = _walk_audit(client, api_keys, limit)
    seen = [seq for page in pages for seq in page]
    assert seen == stored, "pages must hold every entry exactly once, in seq order"
    assert len(set(seen)) == len(seen)
    assert all(1 <= len(page) <= limit for page in pages), "no empty or oversized page"
    assert len(pages) == -(-len(stored) // limit)
    assert len(audit_entries(runtime)) == len(stored), "reading the audit log must not grow it"

    first = client.get("/v1/audit", params={"limit": 1}, headers=api_keys["compliance"]).json()["data"][0]
    assert set(first) == {
        "seq",
        "at",
        "actor_id",
        "actor_role",
        "action",
        "resource_type",
        "resource_id",
        "outcome",
        "details",
        "prev_hash",
        "hash",
    }


def test_audit_limit_is_capped(client: Any, api_keys: dict[str, dict[str, str]], runtime: Any) -> None:
    runtime.settings = runtime.settings.model_copy(update={"page_limit_max": 2})
    _ingest(client, api_keys, [contact_row() for _ in range(3)])
    page = client.get("/v1/audit", params={"limit": 1000}, headers=api_keys["compliance"]).json()
    assert len(page["data"]) == 2
    assert page["next_cursor"] is not None


def test_audit_verify_reports_an_intact_chain(
    client: Any, api_keys: dict[str, dict[str, str]], runtime: Any, ada: str
) -> None:
    _read(client, api_keys, "sales", ada)
    entries = audit_entries(runtime)
    resp = client.get("/v1/audit/verify", headers=api_keys["compliance"])
    assert resp.status_code == 200, resp.text
    assert resp.json() == {
        "ok": True,
        "entries": len(entries),
        "head_hash": entries[-1]["hash"],
        "broken_at": None,
        "problem": None,
    }
    pinned = client.get(
        "/v1/audit/verify", params={"expected_head": entries[-1]["hash"]}, headers=api_keys["compliance"]
    )
    assert pinned.json()["ok"] is True
    unknown = client.get("/v1/audit/verify", params={"expected_head": "f" * 64}, headers=api_keys["compliance"])
    assert unknown.status_code == 200
    assert unknown.json()["ok"] is False
