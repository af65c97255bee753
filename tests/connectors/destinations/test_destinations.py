"""Each destination against a local server speaking the tool's documented API (CONNECTORS.md §4.2, §5.1):
request shapes as in the fixtures, per-member errors, 429 + Retry-After / X-RateLimit-Reset, 5xx retries."""

import csv
import datetime as dt
import hashlib
import hmac
import json
import os
import stat
import time

import pytest

from cdp.connectors import get_destination, get_pull_source
from cdp.connectors.base import ConnectorConfig, Destination, Member
from cdp.connectors.http import ConnectorFailed, HttpClient, RetryPolicy
from connectors.mailchimp.destination import subscriber_hash
from tests.connectors.fakes import LIST_ID, FakeMailchimp, FakeReceiver, FakeSendGrid
from tests.connectors.helpers import fixture

CONSENTED = dt.datetime(2026, 11, 2, 9, 20, 2, tzinfo=dt.UTC)


def member(email: str, ref: str = "", **kw) -> Member:
    return Member(ref=ref or f"cdp-{hashlib.sha256(email.encode()).hexdigest()[:32]}", email=email, **kw)


def client(base_url: str, waits: list[float], **kw) -> HttpClient:
    policy = RetryPolicy(attempts=kw.pop("attempts", 4), base=0.0, max_wait=10_000)
    return HttpClient(base_url, sleep=waits.append, policy=policy, rng=lambda: 0.0, **kw)


def with_ref(dest: Destination, m: Member) -> Member:
    from dataclasses import replace

    return replace(m, ref=dest.member_ref(m))


def test_every_destination_is_registered():
    for name in ("mailchimp", "sendgrid", "webhook", "csv_file"):
        assert isinstance(get_destination(name), Destination), name


# --- Mailchimp -------------------------------------------------------------------------------------------


def test_subscriber_hash_is_md5_of_the_lowercased_address():
    expected = fixture("mailchimp_member_upsert_request.json")["_request"].rsplit("/", 1)[-1]
    assert subscriber_hash(" Ada.Lovelace@Example.com ") == expected


def test_mailchimp_batch_upsert_matches_the_documented_request_and_maps_errors(httpserver):
    fake = FakeMailchimp().install(httpserver)
    dest = get_destination("mailchimp")
    config = ConnectorConfig(
        "mailchimp",
        {"base_url": httpserver.url_for("/3.0/"), "api_key": "k-us19", "list_id": LIST_ID,
         "unsubscribe_merge_field": "UNSUBURL"},
    )  # fmt: skip
    ada = with_ref(dest, member("ada.lovelace@example.com", first_name="Ada", last_name="Lovelace",
                                consented_at=CONSENTED, consent_ip="203.0.113.7",
                                unsubscribe_url="https://cdp.example.test/v1/unsubscribe/t"))  # fmt: skip
    bad = with_ref(dest, member("not-an-email@", first_name="X"))
    fake.deleted.add(subscriber_hash("not-an-email@"))  # Mailchimp refuses it

    with dest.client(config) as http:
        result = dest.upsert(http, config, [ada, bad])

    assert result.done == [subscriber_hash("ada.lovelace@example.com")]
    assert result.failed == {bad.ref: "ERROR_GENERIC"}
    body = fake.received[0].body
    documented = fixture("mailchimp_batch_subscribe_request.json")["body"]
    assert set(body) == set(documented)
    assert body["update_existing"] is True and body["sync_tags"] is False
    sent = body["members"][0]
    assert {k: sent[k] for k in documented["members"][0] if k != "merge_fields"} == {
        k: v for k, v in documented["members"][0].items() if k != "merge_fields"
    }
    assert sent["merge_fields"] == {**documented["members"][0]["merge_fields"], "UNSUBURL": ada.unsubscribe_url}
    assert fake.received[0].headers["Authorization"] == "Basic Y2RwOmstdXMxOQ=="  # cdp:<api key>


def test_mailchimp_waits_retry_after_on_429_and_retries_5xx(httpserver):
    fake = FakeMailchimp().install(httpserver)
    fake.fail_next(429, headers={"Retry-After": "7"}, body=fixture("mailchimp_error_problem.json"))
    fake.fail_next(502)
    dest = get_destination("mailchimp")
    waits: list[float] = []

    result = dest.upsert(
        client(httpserver.url_for("/3.0/"), waits),
        ConnectorConfig("mailchimp", {"list_id": LIST_ID}),
        [with_ref(dest, member("ada@example.com"))],
    )

    assert result.done == [subscriber_hash("ada@example.com")]
    assert waits == [7.0]  # then an immediate retry after the 502 (backoff jitter pinned to 0)
    assert len(fake.calls("POST")) == 3


def test_mailchimp_archives_on_removal_and_deletes_permanently_on_erasure(httpserver):
    fake = FakeMailchimp().install(httpserver)
    dest = get_destination("mailchimp")
    config = ConnectorConfig("mailchimp", {"list_id": LIST_ID})
    http = client(httpserver.url_for("/3.0/"), [])
    a, b = subscriber_hash("a@example.com"), subscriber_hash("b@example.com")
    fake.members.update({a: {}, b: {}})

    assert dest.remove(http, config, [a], erase=False).done == [a]
    assert dest.remove(http, config, [b, "0" * 32], erase=True).done == [b, "0" * 32]  # a 404 is already gone

    assert [(r.method, r.path) for r in fake.received] == [
        ("DELETE", f"/3.0/lists/{LIST_ID}/members/{a}"),
        ("POST", f"/3.0/lists/{LIST_ID}/members/{b}/actions/delete-permanent"),
        ("POST", f"/3.0/lists/{LIST_ID}/members/{'0' * 32}/actions/delete-permanent"),
    ]
    assert fake.deleted == {b}


def test_mailchimp_gives_up_after_persistent_5xx(httpserver):
    fake = FakeMailchimp().install(httpserver)
    fake.fail_next(503, times=4)
    dest = get_destination("mailchimp")
    with pytest.raises(ConnectorFailed):
        dest.upsert(
            client(httpserver.url_for("/3.0/"), []),
            ConnectorConfig("mailchimp", {"list_id": LIST_ID}),
            [with_ref(dest, member("ada@example.com"))],
        )


# --- SendGrid --------------------------------------------------------------------------------------------


def test_sendgrid_upsert_is_an_async_job_keyed_by_cdps_external_id(httpserver):
    fake = FakeSendGrid().install(httpserver)
    dest = get_destination("sendgrid")
    config = ConnectorConfig("sendgrid", {"list_id": "ca7a3796-e8a8-4029-9ccb-df8937940562"})
    ada = with_ref(dest, member("ada.lovelace@example.com", ref="cdp-abc", first_name="Ada", last_name="Lovelace"))

    result = dest.upsert(client(httpserver.url_for("/"), []), config, [ada])

    assert result.done == ["cdp-abc"] and len(result.job_ids) == 1
    call = fake.calls("PUT", "/v3/marketing/contacts")[0]
    documented = fixture("sendgrid_contacts_upsert_request.json")["body"]
    assert call.body["list_ids"] == documented["list_ids"]
    assert call.body["contacts"] == [
        {"email": "ada.lovelace@example.com", "external_id": "cdp-abc", "first_name": "Ada", "last_name": "Lovelace"}
    ]


def test_sendgrid_waits_until_the_rate_limit_reset(httpserver):
    fake = FakeSendGrid().install(httpserver)
    reset = int(time.time()) + 30
    body = {k: v for k, v in fixture("sendgrid_error_429.json").items() if not k.startswith("_")}
    fake.fail_next(429, headers={"X-RateLimit-Reset": str(reset), "X-RateLimit-Remaining": "0"}, body=body)
    dest = get_destination("sendgrid")
    waits: list[float] = []

    dest.upsert(client(httpserver.url_for("/"), waits, throttle=_sendgrid_throttle()), ConnectorConfig("sendgrid", {}),
                [member("a@example.com", ref="cdp-a")])  # fmt: skip

    assert len(waits) == 1 and 20 < waits[0] <= 30


def _sendgrid_throttle():
    from connectors.sendgrid.destination import sendgrid_throttle

    return sendgrid_throttle


def test_sendgrid_removal_looks_up_external_ids_then_deletes_by_contact_id(httpserver):
    fake = FakeSendGrid().install(httpserver)
    dest = get_destination("sendgrid")
    http = client(httpserver.url_for("/"), [])
    config = ConnectorConfig("sendgrid", {})
    dest.upsert(http, config, [member("a@example.com", ref="cdp-a"), member("b@example.com", ref="cdp-b")])
    ids = {c["external_id"]: k for k, c in fake.contacts.items()}

    result = dest.remove(http, config, ["cdp-a", "cdp-gone", "x' OR '1'='1"], erase=True)

    assert result.done == ["cdp-a", "cdp-gone"] and result.failed == {"x' OR '1'='1": "invalid_ref"}
    lookup = fake.calls("POST", "/v3/marketing/contacts/search/identifiers/external_id")[0].body
    assert lookup == {"identifiers": ["cdp-a", "cdp-gone"]}
    assert fake.calls("DELETE")[0].query == {"ids": ids["cdp-a"]}
    assert [c["external_id"] for c in fake.contacts.values()] == ["cdp-b"]
    assert not fake.calls("DELETE", "/v3/asm/.*"), "suppressions are never deleted"
    again = dest.remove(http, config, ["cdp-a"])  # none left: SendGrid answers 404
    assert again.done == ["cdp-a"] and len(fake.calls("DELETE")) == 1


# --- Webhook ---------------------------------------------------------------------------------------------


def test_webhook_posts_signed_json_batches(httpserver):
    fake = FakeReceiver().install(httpserver)
    dest = get_destination("webhook")
    config = ConnectorConfig("webhook", {"secret": "whsec-test", "batch_size": 2})
    people = [member(f"p{i}@example.com", ref=f"cdp-{i}", purpose="email_marketing") for i in range(3)]

    assert dest.upsert(client(httpserver.url_for("/hook"), []), config, people).done == ["cdp-0", "cdp-1", "cdp-2"]
    dest.remove(client(httpserver.url_for("/hook"), []), config, ["cdp-1"], erase=True)

    assert [len(r.body.get("members", [])) for r in fake.received] == [2, 1, 0]
    assert fake.received[-1].body == {"action": "remove", "refs": ["cdp-1"], "erase": True}
    for r in fake.received:
        stamp = r.headers["X-Cdp-Timestamp"]
        expected = hmac.new(b"whsec-test", stamp.encode() + b"." + r.raw, hashlib.sha256).hexdigest()
        assert r.headers["X-Cdp-Signature"] == f"sha256={expected}"


def test_webhook_retries_a_5xx_and_waits_on_429(httpserver):
    fake = FakeReceiver().install(httpserver)
    fake.fail_next(500)
    fake.fail_next(429, headers={"Retry-After": "2"})
    waits: list[float] = []
    dest = get_destination("webhook")
    dest.upsert(client(httpserver.url_for("/hook"), waits), ConnectorConfig("webhook", {"secret": "s"}),
                [member("a@example.com", ref="cdp-a")])  # fmt: skip
    assert waits == [2.0] and len(fake.received) == 3


# --- CSV file --------------------------------------------------------------------------------------------


def test_csv_file_holds_the_current_members_privately(tmp_path):
    path = tmp_path / "out" / "newsletter.csv"
    dest = get_destination("csv_file")
    config = ConnectorConfig("csv_file", {"path": str(path)})
    http = dest.client(config)
    dest.upsert(http, config, [member("a@example.com", ref="cdp-a", consented_at=CONSENTED),
                               member("b@example.com", ref="cdp-b")])  # fmt: skip
    dest.upsert(http, config, [member("a@example.com", ref="cdp-a", first_name="Ann")])
    dest.remove(http, config, ["cdp-b"])

    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["ref"], r["email"], r["first_name"]) for r in rows] == [("cdp-a", "a@example.com", "Ann")]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["newsletter.csv"]
    assert json.dumps(rows)  # plain strings only


def test_mailchimp_treats_a_bare_403_as_a_throttle_but_a_problem_403_as_a_refusal(httpserver):
    from cdp.connectors.http import ConnectorRejected
    from connectors.mailchimp.client import mailchimp_throttle

    fake = FakeMailchimp().install(httpserver)
    dest = get_destination("mailchimp")
    config = ConnectorConfig("mailchimp", {"list_id": LIST_ID})
    fake.script.append((403, {}, None))  # bare: an empty JSON object, no problem title
    ok = dest.upsert(client(httpserver.url_for("/3.0/"), [], throttle=mailchimp_throttle), config,
                     [with_ref(dest, member("ada@example.com"))])  # fmt: skip
    assert ok.done == [subscriber_hash("ada@example.com")]

    problem = {"type": "x", "title": "Forbidden", "status": 403, "detail": "no access", "instance": "i"}
    fake.fail_next(403, body=problem)
    with pytest.raises(ConnectorRejected) as caught:
        dest.upsert(client(httpserver.url_for("/3.0/"), [], throttle=mailchimp_throttle), config,
                    [with_ref(dest, member("bob@example.com"))])  # fmt: skip
    assert caught.value.status == 403


def test_the_mailchimp_destination_finds_its_data_centre_from_the_key_like_the_pull() -> None:
    config = ConnectorConfig("mailchimp", {"api_key": "0123abcd-us6", "list_id": LIST_ID})
    for connector in (get_destination("mailchimp"), get_pull_source("mailchimp")):
        assert connector is not None
        with connector.client(config) as http:
            assert str(http._client.base_url).rstrip("/") == "https://us6.api.mailchimp.com"
