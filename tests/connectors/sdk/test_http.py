"""The connectors' HTTP client against a local server: backoff on 5xx and network errors, each throttling signal
honoured, hopeless 4xx not retried, long waits not slept through."""

import math
from typing import Any

import httpx
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from cdp.connectors.base import ConnectorConfig
from cdp.connectors.http import (
    ConnectorFailed,
    ConnectorRejected,
    HttpClient,
    RetryPolicy,
    Throttled,
    make_client,
    retry_after,
)


def client(server: HTTPServer, **kwargs: Any) -> tuple[HttpClient, list[float]]:
    slept: list[float] = []
    http = HttpClient(server.url_for("/"), sleep=slept.append, rng=lambda: 1.0, **kwargs)
    return http, slept


def test_retries_5xx_with_exponential_backoff_then_succeeds(httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request("/x").respond_with_data("down", status=503)
    httpserver.expect_ordered_request("/x").respond_with_data("down", status=502)
    httpserver.expect_ordered_request("/x").respond_with_json({"ok": True})
    http, slept = client(httpserver, policy=RetryPolicy(base=0.5, cap=30))
    assert http.get_json("/x") == {"ok": True}
    assert slept == [0.5, 1.0]  # jitter pinned to its maximum: base * 2^attempt


def test_jitter_spreads_waits_below_the_cap(httpserver: HTTPServer) -> None:
    http = HttpClient(httpserver.url_for("/"), rng=lambda: 0.25, policy=RetryPolicy(base=1, cap=4))
    assert [http.backoff(a) for a in range(5)] == [0.25, 0.5, 1.0, 1.0, 1.0]


def test_429_waits_retry_after(httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request("/x").respond_with_data("", status=429, headers={"Retry-After": "7"})
    httpserver.expect_ordered_request("/x").respond_with_json([1])
    http, slept = client(httpserver)
    assert http.get_json("/x") == [1]
    assert slept == [7.0]


def test_a_throttle_longer_than_max_wait_stops_instead_of_sleeping(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/x").respond_with_data("", status=429, headers={"Retry-After": "3600"})
    http, slept = client(httpserver, policy=RetryPolicy(max_wait=60))
    with pytest.raises(Throttled) as caught:
        http.get_json("/x")
    assert caught.value.extensions["retry_after_seconds"] == 3600
    assert slept == []


def test_a_tool_specific_throttle_signal(httpserver: HTTPServer) -> None:
    def salesforce_like(response: httpx.Response) -> float | None:
        if response.status_code == 403 and b"REQUEST_LIMIT_EXCEEDED" in response.content:
            return math.inf
        return None

    httpserver.expect_request("/x").respond_with_json(
        [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}], status=403
    )
    http, slept = client(httpserver, throttle=salesforce_like)
    with pytest.raises(Throttled):
        http.get_json("/x")
    assert slept == [] and len(httpserver.log) == 1  # not retried hot


def test_4xx_is_not_retried_and_carries_the_tools_code_not_its_message(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/x").respond_with_json(
        {"status": "error", "message": "Property values were not valid: a@b.example", "category": "VALIDATION_ERROR"},
        status=400,
    )
    http, slept = client(httpserver)
    with pytest.raises(ConnectorRejected) as caught:
        http.get_json("/x")
    assert caught.value.status == 400 and caught.value.code == "VALIDATION_ERROR"
    assert "a@b.example" not in caught.value.detail
    assert slept == [] and len(httpserver.log) == 1


def test_gives_up_after_the_attempts_and_keeps_going_no_further(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/x").respond_with_data("boom", status=500)
    http, slept = client(httpserver, policy=RetryPolicy(attempts=3, base=0.1))
    with pytest.raises(ConnectorFailed, match="after 3 attempts"):
        http.get_json("/x")
    assert len(httpserver.log) == 3 and len(slept) == 2


def test_network_errors_are_retried() -> None:
    calls = {"n": 0}

    def flaky(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if calls["n"] < 3:
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(200, json={"n": calls["n"]})

    slept: list[float] = []
    http = HttpClient("http://tool.invalid", transport=httpx.MockTransport(flaky), sleep=slept.append)
    assert http.get_json("/x") == {"n": 3}
    assert len(slept) == 2


def test_retry_after_reads_seconds_and_http_dates() -> None:
    def resp(value: str) -> httpx.Response:
        return httpx.Response(429, headers={"Retry-After": value})

    assert retry_after(resp("120")) == 120
    assert retry_after(resp("Wed, 21 Oct 2015 07:28:00 GMT"), now=1445412470.0) == 10.0
    assert retry_after(resp("soon")) is None


def test_make_client_takes_base_url_and_policy_from_settings(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/ping").respond_with_handler(
        lambda request: Response("pong" if isinstance(request, Request) else "?", status=200)
    )
    config = ConnectorConfig("tool", {"base_url": httpserver.url_for("/"), "retry_attempts": "2"})
    with make_client(config) as http:
        assert http.request("GET", "/ping").text == "pong"
        assert http.policy.attempts == 2
