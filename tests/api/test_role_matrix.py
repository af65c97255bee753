"""Every endpoint x every role: success or a 403 problem (audited), and 401 without a valid key.

The table below is the access design; `test_every_route_is_in_the_matrix` fails when a route is added
without a row here, so no endpoint can skip the matrix.
"""

import dataclasses
import secrets
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlmodel import select

from cdp.audiences.definitions import create_audience
from cdp.audit.log import SYSTEM
from cdp.auth.keys import authenticate, create_key, revoke_key
from cdp.connectors import ConnectorConfig, Cursor, Page, register
from cdp.connectors.http import HttpClient, make_client
from cdp.consent.models import ConsentEvent
from cdp.db import unit_of_work
from cdp.policies import ROLES as POLICY_ROLES
from cdp.privacy.requests import submit_request
from cdp.profiles.models import SourceRecord
from cdp.retention.holds import place_hold
from tests.api.helpers import GRANTED_EMAIL_MARKETING, assert_problem, audit_entries, iter_routes
from tests.factories import contact_row

ROLES = ("connector", "marketing", "sales", "compliance", "admin")
SEED_EMAIL = "matrix.person@acme.example"


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # the route template, as the app registers it
    allowed: frozenset[str]  # roles that get a 2xx; every other role gets a 403
    url: str  # concrete URL; `{profile_id}` is the seeded profile
    body: Callable[[], Any] | None = None
    check: Callable[[str, dict[str, Any], dict[str, Any]], None] | None = field(default=None, compare=False)
    content_type: str = "application/json"

    @property
    def id(self) -> str:
        return f"{self.method} {self.path}"


def _check_profile(role: str, body: dict[str, Any], seeded: dict[str, Any]) -> None:
    assert body["id"] == seeded["profile_id"]
    if role == "marketing":
        assert body["view"] == "consented"
        assert body["golden"] == {}
        assert body["field_provenance"] == {}
        assert [(i["kind"], i["value"]) for i in body["identities"]] == [("email", SEED_EMAIL)]
        assert {c["identity_id"] for c in body["consents"]} == {body["identities"][0]["id"]}
    else:
        assert body["view"] == "full"
        assert body["golden"]["email"] == SEED_EMAIL
        assert {i["kind"] for i in body["identities"]} == {"external:crm", "email", "phone"}


class EmptyPull:
    """A pull source with nothing to pull, so the matrix can call the sync route without a tool."""

    name = "matrix-empty"

    def client(self, config: ConnectorConfig) -> HttpClient:
        return make_client(config, default_base_url="http://127.0.0.1:9/")

    def pages(self, http: HttpClient, config: ConnectorConfig, cursor: Cursor | None) -> Iterator[Page]:
        yield Page([], {"done": True}, last=True)


register(EmptyPull())


def _check_connectors(role: str, body: Any, seeded: dict[str, Any]) -> None:
    names = {c["name"]: c["kinds"] for c in body}
    assert names["sendgrid"] == ["webhook", "destination"] and names[EmptyPull.name] == ["pull"]


def _check_sync(role: str, body: dict[str, Any], seeded: dict[str, Any]) -> None:
    assert (body["connector"], body["status"], body["pages"]) == (EmptyPull.name, "completed", 1)


def _check_search(role: str, body: dict[str, Any], seeded: dict[str, Any]) -> None:
    assert [p["id"] for p in body["data"]] == [seeded["profile_id"]]


def _check_ingest(role: str, body: dict[str, Any], seeded: dict[str, Any]) -> None:
    assert [r["outcome"] for r in body["results"]] == ["created"]


def _check_explain(role: str, body: dict[str, Any], seeded: dict[str, Any]) -> None:
    assert body["profile_id"] == seeded["profile_id"]
    assert [r["source"] for r in body["records"]] == ["crm"]


def _check_merge(role: str, body: dict[str, Any], seeded: dict[str, Any]) -> None:
    assert body["profile"]["id"] == seeded["profile_id"]
    assert body["merge"]["merged_id"] == seeded["other_profile_id"]


def _check_unmerge(role: str, body: dict[str, Any], seeded: dict[str, Any]) -> None:
    assert body["profile"]["id"] == seeded["pair_profile_id"]
    assert body["unmerge"]["source_record_ids"] == [seeded["split_record_id"]]


def _check_consents(role: str, body: dict[str, Any], seeded: dict[str, Any]) -> None:
    assert body["profile_id"] == seeded["profile_id"]
    assert [(s["purpose"], s["status"]) for s in body["states"]] == [("email_marketing", "granted")]
    assert [e["has_proof"] for e in body["ledger"]["data"]] == [False]
    assert all(e["proof"] is None for e in body["ledger"]["data"])


def _check_consent_recorded(role: str, body: dict[str, Any], seeded: dict[str, Any]) -> None:
    assert [(e["purpose"], e["status"], e["actor"] != "system") for e in body["recorded"]] == [
        ("email_marketing", "withdrawn", True)
    ]


def _check_receipt(role: str, body: dict[str, Any], seeded: dict[str, Any]) -> None:
    assert body["header"]["record_id"] == seeded["record_id"]
    assert body["header"]["pii_principal_id"] == seeded["profile_id"]


def _check_purposes(role: str, body: dict[str, Any], seeded: dict[str, Any]) -> None:
    assert "email_marketing" in {p["id"] for p in body["data"]}


def _check_audit(role: str, body: dict[str, Any], seeded: dict[str, Any]) -> None:
    assert body["data"], "the seeding ingest wrote audit entries"


def _check_verify(role: str, body: dict[str, Any], seeded: dict[str, Any]) -> None:
    assert body["ok"] is True


def _check_retention_preview(role: str, body: dict[str, Any], seeded: dict[str, Any]) -> None:
    assert body["data"] == [] and body["next_cursor"] is None, "nothing seeded is old enough to be due"


def _check_retention_run(role: str, body: dict[str, Any], seeded: dict[str, Any]) -> None:
    assert body["dry_run"] is False and body["total"] == 0
    assert body["rules"], "the default policy has rules"


def _check_hold(role: str, body: dict[str, Any], seeded: dict[str, Any]) -> None:
    assert body["profile_id"] == seeded["profile_id"] and body["released_at"] is None


def _check_release(role: str, body: dict[str, Any], seeded: dict[str, Any]) -> None:
    assert body["profile_id"] == seeded["held_profile_id"] and body["released_at"] is not None


def _check_audiences(role: str, body: dict[str, Any], seeded: dict[str, Any]) -> None:
    assert [a["id"] for a in body["data"]] == [seeded["audience_id"]] and body["next_cursor"] is None


def _check_audience_created(role: str, body: dict[str, Any], seeded: dict[str, Any]) -> None:
    assert (body["name"], body["purpose"], body["destination"]) == ("matrix-new", "email_marketing", "sendgrid")


def _check_audience(role: str, body: dict[str, Any], seeded: dict[str, Any]) -> None:
    assert body["id"] == seeded["audience_id"] and body["member_count"] == 1


def _check_audience_members(role: str, body: dict[str, Any], seeded: dict[str, Any]) -> None:
    assert [(m["profile_id"], m["value"]) for m in body["data"]] == [(seeded["profile_id"], SEED_EMAIL)]


def _check_audience_sync(role: str, body: dict[str, Any], seeded: dict[str, Any]) -> None:
    assert (body["dry_run"], body["to_add"], body["added"]) == (True, 1, 0)


def _check_privacy_created(role: str, body: dict[str, Any], seeded: dict[str, Any]) -> None:
    assert (body["type"], body["status"], body["profile_ids"]) == ("access", "completed", [seeded["profile_id"]])


def _check_privacy_list(role: str, body: dict[str, Any], seeded: dict[str, Any]) -> None:
    assert seeded["approval_request_id"] in {r["id"] for r in body["data"]}


def _check_privacy_read(role: str, body: dict[str, Any], seeded: dict[str, Any]) -> None:
    assert body["id"] == seeded["access_request_id"] and body["has_export"] is True


def _check_privacy_approved(role: str, body: dict[str, Any], seeded: dict[str, Any]) -> None:
    assert body["id"] == seeded["approval_request_id"] and body["status"] == "completed"


def _check_privacy_extended(role: str, body: dict[str, Any], seeded: dict[str, Any]) -> None:
    assert body["extended_to"] is not None and body["extended_to"] == body["max_due_at"]


def _check_privacy_lifted(role: str, body: dict[str, Any], seeded: dict[str, Any]) -> None:
    assert body["id"] == seeded["restriction_request_id"] and body["result"]["lifted_by"]


def _check_privacy_metrics(role: str, body: dict[str, Any], seeded: dict[str, Any]) -> None:
    assert {t["type"] for t in body["types"]} >= {"access", "restriction"}


def _check_privacy_export(role: str, resp: Any, seeded: dict[str, Any]) -> None:
    assert resp.content[:2] == b"PK", "a zip archive"


PROTECTED = (
    Endpoint(
        "POST",
        "/v1/ingest/{source}",
        frozenset({"connector", "admin"}),
        "/v1/ingest/crm",
        body=lambda: [contact_row()],
        check=_check_ingest,
    ),
    Endpoint(
        "GET",
        "/v1/profiles/{profile_id}",
        frozenset({"sales", "compliance", "marketing"}),
        "/v1/profiles/{profile_id}",
        check=_check_profile,
    ),
    Endpoint(
        "POST",
        "/v1/profiles/search",
        frozenset({"sales", "compliance"}),
        "/v1/profiles/search",
        body=lambda: {"email": SEED_EMAIL},
        check=_check_search,
    ),
    Endpoint(
        "GET",
        "/v1/profiles/{profile_id}/explain",
        frozenset({"sales", "compliance"}),
        "/v1/profiles/{profile_id}/explain",
        check=_check_explain,
    ),
    Endpoint(
        "POST",
        "/v1/profiles/{profile_id}/merge",
        frozenset({"compliance", "admin"}),
        "/v1/profiles/{profile_id}/merge",
        body=lambda: {"other_profile_id": "{other_profile_id}", "reason": "same person, confirmed by phone"},
        check=_check_merge,
    ),
    Endpoint(
        "POST",
        "/v1/profiles/{profile_id}/unmerge",
        frozenset({"compliance", "admin"}),
        "/v1/profiles/{pair_profile_id}/unmerge",
        body=lambda: {"source_record_ids": ["{split_record_id}"], "reason": "two different people"},
        check=_check_unmerge,
    ),
    Endpoint(
        "GET",
        "/v1/profiles/{profile_id}/consents",
        frozenset({"marketing", "sales", "compliance"}),
        "/v1/profiles/{profile_id}/consents",
        check=_check_consents,
    ),
    Endpoint(
        "POST",
        "/v1/profiles/{profile_id}/consents",
        frozenset({"marketing", "sales", "compliance"}),
        "/v1/profiles/{profile_id}/consents",
        body=lambda: {
            "purpose": "email_marketing",
            "status": "withdrawn",
            "contact_point": {"email": SEED_EMAIL},
            "occurred_at": "2026-02-01T00:00:00Z",
            "method": "preference_center",
            "source": "preference_center",
            "consent_type": "expressed",
            "language": "en",
            "jurisdiction": "UK",
        },
        check=_check_consent_recorded,
    ),
    Endpoint(
        "GET",
        "/v1/consents/{record_id}/receipt",
        frozenset({"marketing", "sales", "compliance"}),
        "/v1/consents/{record_id}/receipt",
        check=_check_receipt,
    ),
    Endpoint(
        "GET",
        "/v1/purposes",
        frozenset({"marketing", "sales", "compliance", "admin"}),
        "/v1/purposes",
        check=_check_purposes,
    ),
    Endpoint("GET", "/v1/audit", frozenset({"compliance"}), "/v1/audit", check=_check_audit),
    Endpoint("GET", "/v1/connectors", frozenset({"admin"}), "/v1/connectors", check=_check_connectors),
    Endpoint(
        "POST",
        "/v1/connectors/{name}/sync",
        frozenset({"admin"}),
        f"/v1/connectors/{EmptyPull.name}/sync",
        body=lambda: {"max_pages": 1},
        check=_check_sync,
    ),
    Endpoint("GET", "/v1/audit/verify", frozenset({"compliance"}), "/v1/audit/verify", check=_check_verify),
    Endpoint(
        "GET",
        "/v1/retention/preview",
        frozenset({"compliance"}),
        "/v1/retention/preview",
        check=_check_retention_preview,
    ),
    Endpoint(
        "POST",
        "/v1/retention/run",
        frozenset({"compliance"}),
        "/v1/retention/run",
        body=lambda: {"dry_run": False},
        check=_check_retention_run,
    ),
    Endpoint(
        "POST",
        "/v1/profiles/{profile_id}/legal-hold",
        frozenset({"compliance"}),
        "/v1/profiles/{profile_id}/legal-hold",
        body=lambda: {"reason": "case 2026-17"},
        check=_check_hold,
    ),
    Endpoint(
        "DELETE",
        "/v1/profiles/{profile_id}/legal-hold",
        frozenset({"compliance"}),
        "/v1/profiles/{held_profile_id}/legal-hold",
        check=_check_release,
    ),
    Endpoint("GET", "/v1/audiences", frozenset({"marketing"}), "/v1/audiences", check=_check_audiences),
    Endpoint(
        "POST",
        "/v1/audiences",
        frozenset({"marketing"}),
        "/v1/audiences",
        body=lambda: {"name": "matrix-new", "purpose": "email_marketing", "destination": "sendgrid"},
        check=_check_audience_created,
    ),
    Endpoint(
        "GET",
        "/v1/audiences/{audience_id}",
        frozenset({"marketing"}),
        "/v1/audiences/{audience_id}",
        check=_check_audience,
    ),
    Endpoint(
        "GET",
        "/v1/audiences/{audience_id}/members",
        frozenset({"marketing"}),
        "/v1/audiences/{audience_id}/members",
        check=_check_audience_members,
    ),
    Endpoint(
        "POST",
        "/v1/audiences/{audience_id}/sync",
        frozenset({"marketing"}),
        "/v1/audiences/{audience_id}/sync?dry_run=true",
        check=_check_audience_sync,
    ),
    Endpoint(
        "POST",
        "/v1/privacy-requests",
        frozenset({"compliance"}),
        "/v1/privacy-requests",
        body=lambda: {"type": "access", "subject": {"email": SEED_EMAIL}},
        check=_check_privacy_created,
    ),
    Endpoint(
        "GET",
        "/v1/privacy-requests",
        frozenset({"compliance"}),
        "/v1/privacy-requests",
        check=_check_privacy_list,
    ),
    Endpoint(
        "GET",
        "/v1/privacy-requests/metrics",
        frozenset({"compliance"}),
        "/v1/privacy-requests/metrics",
        check=_check_privacy_metrics,
    ),
    Endpoint(
        "GET",
        "/v1/privacy-requests/{request_id}",
        frozenset({"compliance"}),
        "/v1/privacy-requests/{access_request_id}",
        check=_check_privacy_read,
    ),
    Endpoint(
        "POST",
        "/v1/privacy-requests/{request_id}/approve",
        frozenset({"compliance"}),
        "/v1/privacy-requests/{approval_request_id}/approve",
        check=_check_privacy_approved,
    ),
    Endpoint(
        "POST",
        "/v1/privacy-requests/{request_id}/extend",
        frozenset({"compliance"}),
        "/v1/privacy-requests/{approval_request_id}/extend",
        body=lambda: {"reason": "complex request: many sources"},
        check=_check_privacy_extended,
    ),
    Endpoint(
        "POST",
        "/v1/privacy-requests/{request_id}/lift",
        frozenset({"compliance"}),
        "/v1/privacy-requests/{restriction_request_id}/lift",
        body=lambda: {"subject_informed_at": "2026-01-01T00:00:00Z"},
        check=_check_privacy_lifted,
    ),
    Endpoint(
        "GET",
        "/v1/privacy-requests/{request_id}/export",
        frozenset({"compliance"}),
        "/v1/privacy-requests/{access_request_id}/export",
        check=_check_privacy_export,
        content_type="application/zip",
    ),
)
# Public: no key needed, and any key (or a bad one) is ignored.
PUBLIC = ("/healthz", "/readyz", "/problems", "/docs", "/openapi.json", "/redoc", "/docs/oauth2-redirect")
# Signature-authenticated: no API key; the tool's own signature over the raw body (tests/api/test_webhooks.py).
SIGNED = (("POST", "/v1/webhooks/{connector}"), ("GET", "/v1/webhooks/{connector}"))
# Public browser form posts: no key; the form definition in policies/forms.yaml decides (tests/api/test_forms.py).
FORMS = (("POST", "/v1/forms/{form_id}"),)
# RFC 8058 one-click unsubscribe: no key; a signed opaque token in the URL (tests/api/test_audiences.py).
UNSUBSCRIBE = (("POST", "/v1/unsubscribe/{token}"),)
MATRIX = (
    {(e.method, e.path) for e in PROTECTED} | {("GET", p) for p in PUBLIC} | set(SIGNED) | set(FORMS) | set(UNSUBSCRIBE)
)


@pytest.fixture
def seeded(client: Any, api_keys: dict[str, dict[str, str]], runtime: Any) -> dict[str, Any]:
    """One profile with an email (consented for marketing), a phone and a CRM id."""
    row = contact_row(email=SEED_EMAIL, phone="+44 20 7946 0101", consents=[GRANTED_EMAIL_MARKETING])
    other = contact_row(email="other.person@elsewhere.example", first_name="Other", last_name="Personson")
    resp = client.post("/v1/ingest/crm", json=[row, other], headers=api_keys["connector"])
    assert resp.status_code == 200, resp.text
    pair = [
        contact_row(email="pair.person@acme.example", first_name="Pat", last_name="Pairington", external_id="p-1"),
        contact_row(email="pair.person@acme.example", first_name="Pat", last_name="Pairington", external_id="p-2"),
    ]
    first = client.post("/v1/ingest/webform", json=pair[:1], headers=api_keys["connector"]).json()["results"][0]
    second = client.post("/v1/ingest/email_tool", json=pair[1:], headers=api_keys["connector"]).json()["results"][0]
    assert second["outcome"] == "merged" and second["profile_id"] == first["profile_id"]
    with unit_of_work(runtime.stores) as s:
        split_record_id = s.scalars(select(SourceRecord.id).where(SourceRecord.source == "email_tool")).one()
        held_profile_id = resp.json()["results"][1]["profile_id"]
        place_hold(s, uuid.UUID(held_profile_id), reason="case 2026-01", actor=SYSTEM)
        profile_id = uuid.UUID(resp.json()["results"][0]["profile_id"])
        record_id = s.scalars(select(ConsentEvent.record_id).where(ConsentEvent.profile_id == profile_id)).one()
        audience_id = create_audience(
            s, name="matrix", purpose="email_marketing", destination="mailchimp", definition={}, actor=SYSTEM
        ).id
    privacy = _seed_privacy_requests(client, api_keys, runtime, uuid.UUID(resp.json()["results"][0]["profile_id"]))
    return {
        **privacy,
        "audience_id": str(audience_id),
        "held_profile_id": held_profile_id,
        "profile_id": resp.json()["results"][0]["profile_id"],
        "other_profile_id": resp.json()["results"][1]["profile_id"],
        "pair_profile_id": first["profile_id"],
        "split_record_id": str(split_record_id),
        "record_id": str(record_id),
    }


def _seed_privacy_requests(client: Any, api_keys: Any, runtime: Any, profile_id: uuid.UUID) -> dict[str, str]:
    """A completed access request (with its bundle), an access request awaiting a second approver (filed by the
    system under a policy that asks for one), and a completed restriction of a profile of its own."""
    resp = client.post("/v1/ingest/crm", json=[contact_row()], headers=api_keys["connector"])
    restricted = uuid.UUID(resp.json()["results"][0]["profile_id"])
    four_eyes = dataclasses.replace(
        runtime.policies, requests=dataclasses.replace(runtime.policies.requests, approval_required=("access",))
    )
    with unit_of_work(runtime.stores) as s:
        access = submit_request(
            s, type="access", subject={"profile_id": str(profile_id)}, actor=SYSTEM, policies=runtime.policies
        )
        waiting = submit_request(
            s, type="access", subject={"profile_id": str(profile_id)}, actor=SYSTEM, policies=four_eyes
        )
        restriction = submit_request(
            s, type="restriction", subject={"profile_id": str(restricted)}, actor=SYSTEM, policies=runtime.policies
        )
        assert (access.status, waiting.status, restriction.status) == ("completed", "awaiting_approval", "completed")
        return {
            "access_request_id": str(access.id),
            "approval_request_id": str(waiting.id),
            "restriction_request_id": str(restriction.id),
        }


def _call(client: Any, endpoint: Endpoint, headers: dict[str, str], seeded: dict[str, Any]) -> Any:
    url = endpoint.url.format_map(_Ids(seeded))
    kwargs: dict[str, Any] = {"headers": headers}
    if endpoint.body is not None:
        kwargs["json"] = _fill(endpoint.body(), seeded)
    return client.request(endpoint.method, url, follow_redirects=False, **kwargs)


class _Ids(dict[str, Any]):
    """Seeded ids; a random UUID for any id an unauthenticated call never gets to look at."""

    def __missing__(self, key: str) -> str:
        return str(uuid.uuid4())


def _fill(value: Any, seeded: dict[str, Any]) -> Any:
    if isinstance(value, str) and value.startswith("{") and value.endswith("}"):
        return str(seeded.get(value[1:-1], uuid.uuid4()))
    if isinstance(value, list):
        return [_fill(v, seeded) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, seeded) for k, v in value.items()}
    return value


def test_roles_match_the_policy() -> None:
    assert set(ROLES) == set(POLICY_ROLES), "a role was added or removed: extend the matrix"


def test_every_route_is_in_the_matrix(client: Any) -> None:
    served = set(iter_routes(client.app))
    assert any(path.startswith("/v1") for _, path in served), "route enumeration found no /v1 routes"
    unlisted = sorted(r for r in served if r not in MATRIX)
    assert not unlisted, f"routes missing from the role matrix (add them to PROTECTED or PUBLIC): {unlisted}"
    stale = sorted(MATRIX - served)
    assert not stale, f"matrix rows for routes the app no longer serves: {stale}"


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("endpoint", PROTECTED, ids=lambda e: e.id)
def test_role_gets_success_or_audited_403(
    client: Any,
    api_keys: dict[str, dict[str, str]],
    runtime: Any,
    seeded: dict[str, Any],
    endpoint: Endpoint,
    role: str,
) -> None:
    denied_before = len(audit_entries(runtime, "access.denied"))
    resp = _call(client, endpoint, api_keys[role], seeded)
    denied = audit_entries(runtime, "access.denied")

    if role in endpoint.allowed:
        assert 200 <= resp.status_code < 300, (resp.status_code, resp.text)
        assert resp.headers["content-type"].startswith(endpoint.content_type)
        if endpoint.check is not None:
            endpoint.check(role, resp.json() if endpoint.content_type == "application/json" else resp, seeded)
        assert len(denied) == denied_before
        return

    body = assert_problem(resp, 403, type_="/problems/forbidden")
    assert body["allowed_roles"] == sorted(endpoint.allowed)
    assert len(denied) == denied_before + 1, "a 403 must write exactly one access.denied entry"
    entry = denied[-1]
    with unit_of_work(runtime.stores) as s:
        key_id = authenticate(s, api_keys[role]["Authorization"].removeprefix("Bearer ")).id
    assert entry["actor_id"] == key_id
    assert entry["actor_role"] == role
    assert entry["outcome"] == "denied"
    assert entry["resource_type"] == "route"
    assert entry["details"] == {"route": endpoint.path, "method": endpoint.method}


@pytest.mark.parametrize("endpoint", PROTECTED, ids=lambda e: e.id)
def test_no_key_is_401_with_bearer_challenge(client: Any, runtime: Any, endpoint: Endpoint) -> None:
    before = len(audit_entries(runtime))
    resp = _call(client, endpoint, {}, {"profile_id": uuid.uuid4()})
    assert_problem(resp, 401, type_="/problems/unauthenticated")
    assert resp.headers["www-authenticate"].startswith("Bearer")
    assert len(audit_entries(runtime)) == before, "an unauthenticated call must not write anything"


BAD_CREDENTIALS = {
    "unknown-cdp-token": lambda: f"Bearer cdp_{secrets.token_urlsafe(32)}",
    "not-a-cdp-token": lambda: "Bearer SECRET-VALUE-123",
    "overlong-token": lambda: "Bearer cdp_" + "a" * 500,
    "empty-bearer": lambda: "Bearer ",
    "basic-scheme": lambda: "Basic dXNlcjpwYXNz",
}


@pytest.mark.parametrize("credential", BAD_CREDENTIALS)
@pytest.mark.parametrize("endpoint", PROTECTED, ids=lambda e: e.id)
def test_unknown_token_is_401(client: Any, endpoint: Endpoint, credential: str) -> None:
    resp = _call(client, endpoint, {"Authorization": BAD_CREDENTIALS[credential]()}, {"profile_id": uuid.uuid4()})
    assert_problem(resp, 401, type_="/problems/unauthenticated", forbid=["SECRET-VALUE-123"])
    assert resp.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize("endpoint", PROTECTED, ids=lambda e: e.id)
def test_revoked_key_is_401(client: Any, runtime: Any, seeded: dict[str, Any], endpoint: Endpoint) -> None:
    role = sorted(endpoint.allowed)[0]
    with unit_of_work(runtime.stores) as s:
        key, token = create_key(s, name=f"to-revoke-{role}", role=role, known_roles=set(ROLES))
    headers = {"Authorization": f"Bearer {token}"}
    ok = _call(client, endpoint, headers, seeded)
    assert 200 <= ok.status_code < 300, (ok.status_code, ok.text)

    with unit_of_work(runtime.stores) as s:
        revoke_key(s, key.id)

    resp = _call(client, endpoint, headers, seeded)
    assert_problem(resp, 401, type_="/problems/unauthenticated")
    assert resp.headers["www-authenticate"].startswith("Bearer")


PUBLIC_CALLERS = ("no-key", "unknown-token", *ROLES)


@pytest.mark.parametrize("caller", PUBLIC_CALLERS)
@pytest.mark.parametrize("path", PUBLIC)
def test_public_routes_need_no_key(client: Any, api_keys: dict[str, dict[str, str]], path: str, caller: str) -> None:
    if caller == "no-key":
        headers: dict[str, str] = {}
    elif caller == "unknown-token":
        headers = {"Authorization": f"Bearer cdp_{secrets.token_urlsafe(32)}"}
    else:
        headers = api_keys[caller]
    resp = client.get(path, headers=headers)
    assert resp.status_code == 200, (resp.status_code, resp.text[:300])
