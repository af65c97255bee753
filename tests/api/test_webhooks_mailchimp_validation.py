"""Mailchimp checks a webhook URL before saving it: a GET (older docs) or an empty POST (newer guides)."""

from collections.abc import Callable
from typing import Any

from tests.api.helpers import assert_problem

SECRET = "mc-url-secret-0123456789"


def test_the_validation_get_answers_200_with_the_right_secret(webhook_client: Callable[..., Any]) -> None:
    client = webhook_client({"mailchimp": SECRET})
    resp = client.get(f"/v1/webhooks/mailchimp?secret={SECRET}")
    assert resp.status_code == 200 and resp.json() == {"connector": "mailchimp"}


def test_the_validation_get_with_a_wrong_secret_is_refused(webhook_client: Callable[..., Any]) -> None:
    client = webhook_client({"mailchimp": SECRET})
    assert_problem(client.get("/v1/webhooks/mailchimp?secret=nope"), 401, forbid=[SECRET, "nope"])
    assert_problem(client.get("/v1/webhooks/mailchimp"), 401)


def test_a_get_to_a_signed_webhook_is_not_found(webhook_client: Callable[..., Any]) -> None:
    client = webhook_client({"sendgrid": "key"})
    assert_problem(client.get("/v1/webhooks/sendgrid"), 404)
    assert_problem(client.get("/v1/webhooks/nosuchtool"), 404)


def test_an_empty_validation_post_answers_200_and_stores_nothing(webhook_client: Callable[..., Any]) -> None:
    client = webhook_client({"mailchimp": SECRET})
    resp = client.post(
        f"/v1/webhooks/mailchimp?secret={SECRET}",
        content=b"",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["results"] == [] and sum(resp.json()["counts"].values()) == 0
