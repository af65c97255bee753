"""HubSpot's HTTP client: private-app bearer token, and its rate-limit signals (CONNECTORS.md §1.4).

A 429 carries `Retry-After` (honoured when present) and a body naming the policy that tripped. A `DAILY` limit
(or `X-HubSpot-RateLimit-Daily-Remaining: 0`) will not reset within a sync, so the sync stops at its checkpoint;
the rolling ten-second and per-second limits (search has its own 4 req/s) wait out their interval.
"""

import math

import httpx

from cdp.connectors import ConnectorConfig
from cdp.connectors.http import HttpClient, make_client, retry_after

DEFAULT_BASE_URL = "https://api.hubapi.com"
DAILY_REMAINING = "X-HubSpot-RateLimit-Daily-Remaining"
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
    interval = response.headers.get(INTERVAL_MS, "").strip()
    if interval.isdigit():
        return int(interval) / 1000
    return POLICY_WAIT_S.get(policy or "", 0.0)


def hubspot_client(config: ConnectorConfig) -> HttpClient:
    token = config.require("token")
    return make_client(
        config,
        default_base_url=DEFAULT_BASE_URL,
        headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
        throttle=hubspot_throttle,
    )
