"""POST /v1/forms/{form_id}: a public web form; ticked boxes are consents with proof, nothing is echoed."""

import hashlib
import json
from typing import Any

from sqlmodel import col, func, select

from cdp.consent.ledger import PROOF
from cdp.consent.models import ConsentEvent
from cdp.crypto.envelope import vault
from cdp.db import unit_of_work
from cdp.profiles.models import Event, Identity, SourceRecord
from cdp.profiles.store import EVENT_PROPERTIES
from tests.api.helpers import assert_problem
from tests.connectors.helpers import FIXTURES

URL = "/v1/forms/newsletter"
PROOF_HEADERS = ("Origin", "Referer", "User-Agent", "Sec-GPC")


def _request(name: str) -> tuple[dict[str, str], bytes]:
    """The fixture's headers (the ones a browser sets that matter here) and its raw body."""
    head, _, body = (FIXTURES / name).read_text().partition("\n\n")
    headers = dict(line.split(": ", 1) for line in head.splitlines()[1:])
    kept = {k: v for k, v in headers.items() if k in (*PROOF_HEADERS, "Content-Type")}
    return kept, body.encode()


def _count(client: Any, model: Any) -> int:
    with unit_of_work(client.app.state.runtime.stores) as session:
        return int(session.scalar(select(func.count()).select_from(model).where(col(model.source) == "webform")) or 0)


def _consents(client: Any) -> list[tuple[ConsentEvent, str, dict[str, Any] | None]]:
    """Each webform consent event, the kind of its contact point and its decrypted proof."""
    with unit_of_work(client.app.state.runtime.stores) as session:
        events = session.scalars(select(ConsentEvent).where(ConsentEvent.source == "webform")).all()
        out = []
        for e in events:
            identity = session.get(Identity, e.identity_id) if e.identity_id else None
            proof = vault(session).decrypt_json(e.profile_id, e.proof, context=PROOF) if e.proof else None
            session.expunge(e)
            out.append((e, identity.kind if identity else "-", proof))
        return out


def test_urlencoded_submission_records_contact_consent_and_proof(client: Any) -> None:
    headers, body = _request("html_form_post.txt")
    headers.pop("Sec-GPC")
    resp = client.post(URL, content=body, headers=headers)
    assert resp.status_code == 201, resp.text
    assert set(resp.json()) == {"submission_id"}
    assert "ada" not in resp.text.lower() and "lovelace" not in resp.text.lower()
    assert _count(client, SourceRecord) == 1
    [(consent, kind, proof)] = _consents(client)
    assert (consent.purpose, consent.status, consent.method, consent.consent_type) == (
        "email_marketing",
        "granted",
        "web_form",
        "explicitly_expressed",
    )
    assert (consent.notice_id, consent.notice_version) == ("newsletter-signup", "3")
    assert kind == "email"
    assert proof == {
        "ip": "testclient",
        "user_agent": headers["User-Agent"],
        "page_url": "https://www.example.com/blog/launch",
        "payload_sha256": hashlib.sha256(body).hexdigest(),
    }
    with unit_of_work(client.app.state.runtime.stores) as session:
        [event] = session.scalars(select(Event).where(Event.source == "webform", Event.type == "form_submitted")).all()
        properties = vault(session).decrypt_json(event.profile_id, event.properties, context=EVENT_PROPERTIES)
        assert properties["utm_source"] == "linkedin"
        assert properties["submission_id"] == resp.json()["submission_id"]
        assert "email" not in properties


def test_json_submission_is_the_same(client: Any) -> None:
    raw = json.dumps({"email": "ada.lovelace@example.com", "first_name": "Ada", "consent_marketing_email": True})
    headers = {"Origin": "https://www.example.com", "Content-Type": "application/json; charset=utf-8"}
    resp = client.post(URL, content=raw.encode(), headers=headers)
    assert resp.status_code == 201, resp.text
    [(consent, kind, proof)] = _consents(client)
    assert (consent.purpose, consent.status, kind) == ("email_marketing", "granted", "email")
    assert proof is not None and proof["page_url"] == "https://www.example.com"
    assert proof["payload_sha256"] == hashlib.sha256(raw.encode()).hexdigest()


def test_unticked_box_records_no_consent(client: Any) -> None:
    headers, body = _request("html_form_post_no_consent.txt")
    resp = client.post(URL, content=body, headers=headers)
    assert resp.status_code == 201, resp.text
    assert _count(client, SourceRecord) == 1
    assert _consents(client) == []
    resp = client.post(URL, json={"email": "b@example.org", "consent_marketing_email": False})
    assert resp.status_code == 201, resp.text
    assert _consents(client) == []


def test_gpc_header_denies_sale_and_profiling_purposes(client: Any) -> None:
    headers, body = _request("html_form_post.txt")
    assert headers["Sec-GPC"] == "1"
    resp = client.post(URL, content=body, headers=headers)
    assert resp.status_code == 201, resp.text
    policies = client.app.state.runtime.policies
    expected = {p.id for p in policies.purposes.values() if p.sale_or_share or p.profiling}
    consents = _consents(client)
    denied = {c.purpose for c, _kind, _proof in consents if c.status == "denied"}
    assert expected and denied == expected
    assert all(c.method == "gpc_signal" for c, _k, _p in consents if c.status == "denied")
    # GPC is not a withdrawal of email consent.
    assert [c.status for c, _k, _p in consents if c.purpose == "email_marketing"] == ["granted"]


def test_honeypot_filled_stores_nothing(client: Any) -> None:
    resp = client.post(URL, data={"email": "bot@example.com", "website": "http://spam.example"})
    assert resp.status_code == 202
    assert set(resp.json()) == {"submission_id"}
    assert _count(client, SourceRecord) == 0
    assert _consents(client) == []


def test_unknown_form_is_404(client: Any) -> None:
    assert_problem(client.post("/v1/forms/nope", data={"email": "a@example.com"}), 404)


def test_wrong_content_type_is_415(client: Any) -> None:
    resp = client.post(URL, content=b"email=a@example.com", headers={"Content-Type": "text/plain"})
    assert_problem(resp, 415, type_="/problems/unsupported-media-type")


def test_validation_errors_do_not_echo_values(client: Any) -> None:
    resp = client.post(URL, data={"first_name": "Zeta-Secret-Name"})
    assert_problem(resp, 422, forbid=["Zeta-Secret-Name"])
    resp = client.post(URL, data={"email": "not-an-email-zzq", "first_name": "Zeta-Secret-Name"})
    assert_problem(resp, 422, forbid=["not-an-email-zzq", "Zeta-Secret-Name"])
    resp = client.post(URL, data={f"f{i}": "x" for i in range(31)} | {"email": "a@example.com"})
    assert_problem(resp, 422)
    assert _count(client, SourceRecord) == 0


def test_form_size_limit_is_413(client: Any) -> None:
    resp = client.post(URL, data={"email": "a@example.com", "notes": "x" * 20_000})
    assert_problem(resp, 413)
