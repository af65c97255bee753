"""Explain, manual merge and unmerge through the API, as a compliance officer uses them."""

from typing import Any

import pytest

from tests.api.helpers import assert_problem, audit_entries, dump
from tests.factories import contact_row


def _ingest(client, keys, source, *rows) -> list[dict[str, Any]]:
    resp = client.post(f"/v1/ingest/{source}", json=list(rows), headers=keys["connector"])
    assert resp.status_code == 200, resp.text
    return resp.json()["results"]


@pytest.fixture
def two_people(client, api_keys) -> tuple[str, str]:
    a = _ingest(
        client,
        api_keys,
        "crm",
        contact_row(email="rosa.quintero@acme.example", first_name="Rosa", last_name="Quintero"),
    )
    b = _ingest(
        client, api_keys, "webform", contact_row(email="rq@home.example", first_name="Rosa", last_name="Quinteros")
    )
    assert a[0]["profile_id"] != b[0]["profile_id"]
    return a[0]["profile_id"], b[0]["profile_id"]


def test_explain_lists_each_record_with_the_evidence_that_linked_it(client, api_keys):
    first = _ingest(
        client,
        api_keys,
        "crm",
        contact_row(email="lena.vogelsang@acme.example", first_name="Lena", last_name="Vogelsang"),
    )
    _ingest(
        client,
        api_keys,
        "email_tool",
        contact_row(email="Lena.Vogelsang@acme.example", first_name="Lena", last_name="Vogelsang"),
    )
    pid = first[0]["profile_id"]

    resp = client.get(f"/v1/profiles/{pid}/explain", headers=api_keys["compliance"])

    assert resp.status_code == 200
    records = resp.json()["records"]
    assert [r["source"] for r in records] == ["crm", "email_tool"]
    assert records[0]["evidence"]["method"] == "new"
    linked = records[1]["evidence"]
    assert linked["decision"] == "merge" and linked["matched_profile"] == pid
    assert linked["levels"]["email"] == "exact_personal" and linked["weight"] > 0
    assert "vogelsang" not in dump(linked).lower()
    assert audit_entries(client.app.state.runtime, "profile.explained")[-1]["resource_id"] == pid


def test_manual_merge_redirects_the_merged_id_and_records_the_reason(client, api_keys, two_people):
    survivor, other = two_people
    resp = client.post(
        f"/v1/profiles/{survivor}/merge",
        json={"other_profile_id": other, "reason": "same person, confirmed by phone"},
        headers=api_keys["compliance"],
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert {i["value"] for i in body["profile"]["identities"] if i["kind"] == "email"} == {
        "rosa.quintero@acme.example",
        "rq@home.example",
    }
    redirect = client.get(f"/v1/profiles/{other}", headers=api_keys["sales"], follow_redirects=False)
    assert redirect.status_code == 308 and redirect.headers["location"] == f"/v1/profiles/{survivor}"
    merges = client.get(f"/v1/profiles/{survivor}/explain", headers=api_keys["sales"]).json()["merges"]
    assert [(m["kind"], m["reason"], m["merged_id"]) for m in merges] == [
        ("manual", "same person, confirmed by phone", other)
    ]
    entry = audit_entries(client.app.state.runtime, "profile.merged")[-1]
    assert entry["resource_id"] == survivor and entry["details"]["merged_id"] == other


def test_merge_refuses_itself_unknown_and_already_merged_profiles(client, api_keys, two_people):
    survivor, other = two_people
    headers = api_keys["admin"]
    itself = client.post(
        f"/v1/profiles/{survivor}/merge", json={"other_profile_id": survivor, "reason": "oops"}, headers=headers
    )
    assert_problem(itself, 422)
    unknown = client.post(
        f"/v1/profiles/{survivor}/merge",
        json={"other_profile_id": "00000000-0000-4000-8000-000000000000", "reason": "x y z"},
        headers=headers,
    )
    assert_problem(unknown, 404, type_="/problems/profile-not-found")
    client.post(f"/v1/profiles/{survivor}/merge", json={"other_profile_id": other, "reason": "same"}, headers=headers)
    again = client.post(
        f"/v1/profiles/{survivor}/merge", json={"other_profile_id": other, "reason": "same"}, headers=headers
    )
    assert_problem(again, 409, type_="/problems/profile-merged")
    no_reason = client.post(f"/v1/profiles/{survivor}/merge", json={"other_profile_id": other}, headers=headers)
    assert_problem(no_reason, 422)


def test_undoing_a_merge_restores_the_old_profile_and_forbids_the_link(client, api_keys, two_people):
    survivor, other = two_people
    merge = client.post(
        f"/v1/profiles/{survivor}/merge",
        json={"other_profile_id": other, "reason": "looked alike"},
        headers=api_keys["compliance"],
    ).json()["merge"]

    resp = client.post(
        f"/v1/profiles/{survivor}/unmerge",
        json={"merge_id": merge["id"], "reason": "two different people"},
        headers=api_keys["compliance"],
    )

    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["split_profile"]["id"] == other
    assert body["split_profile"]["golden"]["email"] == "rq@home.example"
    assert {i["value"] for i in body["profile"]["identities"] if i["kind"] == "email"} == {"rosa.quintero@acme.example"}
    assert client.get(f"/v1/profiles/{other}", headers=api_keys["sales"]).status_code == 200
    twice = client.post(
        f"/v1/profiles/{survivor}/unmerge",
        json={"merge_id": merge["id"], "reason": "again"},
        headers=api_keys["compliance"],
    )
    assert_problem(twice, 422)
    vetoed = client.post(
        f"/v1/profiles/{survivor}/merge",
        json={"other_profile_id": other, "reason": "try again"},
        headers=api_keys["compliance"],
    )
    assert_problem(vetoed, 409)


@pytest.mark.parametrize(
    "body",
    [
        {"reason": "neither given"},
        {
            "reason": "both given",
            "merge_id": "00000000-0000-4000-8000-000000000000",
            "source_record_ids": ["00000000-0000-4000-8000-000000000001"],
        },
        {"reason": "not this profile's", "source_record_ids": ["00000000-0000-4000-8000-000000000001"]},
        {"reason": "unknown merge", "merge_id": "00000000-0000-4000-8000-000000000000"},
    ],
    ids=["neither", "both", "foreign-record", "unknown-merge"],
)
def test_bad_unmerge_requests_are_4xx_problems(client, api_keys, two_people, body):
    resp = client.post(f"/v1/profiles/{two_people[0]}/unmerge", json=body, headers=api_keys["compliance"])
    assert 400 <= resp.status_code < 500
    assert_problem(resp, resp.status_code)


def test_unmerge_cannot_empty_a_profile(client, api_keys):
    first = _ingest(client, api_keys, "crm", contact_row(email="solo.person@acme.example"))[0]
    explain = client.get(f"/v1/profiles/{first['profile_id']}/explain", headers=api_keys["compliance"]).json()
    only = explain["records"][0]["source_record_id"]
    resp = client.post(
        f"/v1/profiles/{first['profile_id']}/unmerge",
        json={"source_record_ids": [only], "reason": "split everything"},
        headers=api_keys["compliance"],
    )
    assert_problem(resp, 422)
