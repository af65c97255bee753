"""HubSpot's HTTP client: private-app bearer token, and its rate-limit signals (CONNECTORS.md §1.4).

A 429 carries `Retry-After` (honoured when present) and a body naming the policy that tripped. A `DAILY` limit
(or `X-HubSpot-RateLimit-Daily-Remaining: 0`) will not reset within a sync, so the sync stops at its checkpoint;
the rolling ten-second and per-second limits (search has its own 4 req/s) wait out their interval. Successful
responses carry the same headers: when one says the burst budget is spent (`X-HubSpot-RateLimit-Remaining: 0`
or `-Secondly-Remaining: 0`), the next request waits out the interval instead of drawing a 429.
"""

import math
import time
from collections.abc import Callable

import httpx

from cdp.connectors import ConnectorConfig
from cdp.connectors.http import HttpClient, make_client, retry_after

DEFAULT_BASE_URL = "https://api.hubapi.com"
DAILY_REMAINING = "X-HubSpot-RateLimit-Daily-Remaining"
REMAINING = "X-HubSpot-RateLimit-Remaining"
SECONDLY_REMAINING = "X-HubSpot-RateLimit-Secondly-Remaining"
INTERVAL_MS = "X-HubSpot-RateLimit-Interval-Milliseconds"
POLICY_WAIT_S = {"SECONDLY": 1.0, "TEN_SECONDLY_ROLLING": 10.0}


def _policy(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    policy = body.get("policyName") if isinstance(body, dict) else None
    return policy if isinstance(policy, str) else None


def hubspot_throttle(response: httpx.Response) -> float | None:
    if response.status_code != 429:
        return None
    policy = _policy(response)
    if policy == "DAILY" or response.headers.get(DAILY_REMAINING, "").strip() == "0":
        return math.inf
    wait = retry_after(response)
    if wait is not None:
        return wait
    if policy == "SECONDLY" or _spent(response, SECONDLY_REMAINING):
        return 1.0
    interval = _interval_s(response)
    if interval is not None:
        return interval
    return POLICY_WAIT_S.get(policy or "", 0.0)


def _spent(response: httpx.Response, header: str) -> bool:
    return str(response.headers.get(header, "")).strip() == "0"


def _interval_s(response: httpx.Response) -> float | None:
    interval = str(response.headers.get(INTERVAL_MS, "")).strip()
    return int(interval) / 1000 if interval.isdigit() else None


class PacingTransport(httpx.BaseTransport):
    """Waits before a request when the previous response said the burst budget was spent."""

    def __init__(
        self,
        inner: httpx.BaseTransport | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.inner = inner or httpx.HTTPTransport()
        self._sleep = sleep
        self._clock = clock
        self._resume_at = 0.0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        wait = self._resume_at - self._clock()
        if wait > 0:
            self._sleep(wait)
        response = self.inner.handle_request(request)
        if response.status_code < 400:
            pause = 0.0
            if _spent(response, SECONDLY_REMAINING):
                pause = 1.0
            if _spent(response, REMAINING):
                pause = max(pause, _interval_s(response) or POLICY_WAIT_S["TEN_SECONDLY_ROLLING"])
            if pause:
                self._resume_at = self._clock() + pause
        return response

    def close(self) -> None:
        self.inner.close()


def hubspot_client(config: ConnectorConfig) -> HttpClient:
    token = config.require("token")
    return make_client(
        config,
        default_base_url=DEFAULT_BASE_URL,
        headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
        throttle=hubspot_throttle,
        transport=PacingTransport(),
    )
