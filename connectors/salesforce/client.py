"""The Salesforce HTTP client: a bearer token on `instance_url`, the org's 24-hour API quota honoured (§3.5).

- 403 `REQUEST_LIMIT_EXCEEDED` means the quota is spent: never retried hot, the sync stops at its checkpoint
  (`Throttled`) and resumes when the window has rolled.
- `Sforce-Limit-Info: api-usage=N/M` comes back on every response; once N/M reaches `api_usage_stop` (0.95 by
  default) the next call is not made and the sync stops the same way, leaving the rest of the quota to the
  org's other integrations. The page already received is still committed with its checkpoint.
- 5xx, network errors and 429 are retried by the SDK client with backoff.
- 401 (`INVALID_SESSION_ID`, an expired session): with `refresh_token` and `client_id` (and `client_secret`
  for a confidential app) set, the OAuth 2.0 refresh-token flow gets a new access token from `token_url`
  (`https://login.salesforce.com/services/oauth2/token` by default) once, and the call is repeated. The new
  token lives in memory for this sync only.
"""

import logging
import math
import re
from collections.abc import Callable, Generator, Iterable
from typing import Any

import httpx

from cdp.connectors.base import ConnectorConfig
from cdp.connectors.http import ConnectorRejected, HttpClient, RetryPolicy, Throttled, default_throttle
from cdp.errors import InvalidInput

log = logging.getLogger(__name__)

LIMIT_INFO = re.compile(r"api-usage=(\d+)/(\d+)")
DEFAULT_API_VERSION = "62.0"
DEFAULT_TOKEN_URL = "https://login.salesforce.com/services/oauth2/token"
API_VERSION = re.compile(r"\d{2,3}\.\d")


def error_code(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    if isinstance(body, list) and body and isinstance(body[0], dict):
        code = body[0].get("errorCode")
        return code if isinstance(code, str) else None
    return None


def throttle(response: httpx.Response) -> float | None:
    if response.status_code == 403 and error_code(response) == "REQUEST_LIMIT_EXCEEDED":
        return math.inf
    return default_throttle(response)


def api_usage(response: httpx.Response) -> tuple[int, int] | None:
    match = LIMIT_INFO.search(response.headers.get("sforce-limit-info", ""))
    return (int(match.group(1)), int(match.group(2))) if match else None


class BearerAuth(httpx.Auth):
    """The access token on every call; on a 401, one refresh (when configured) and one retry."""

    def __init__(self, token: str, refresh: Callable[[], str] | None = None) -> None:
        self._token = token
        self._refresh = refresh

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._token}"
        response = yield request
        if response.status_code == 401 and self._refresh is not None:
            self._token = self._refresh()
            request.headers["Authorization"] = f"Bearer {self._token}"
            yield request

    def __repr__(self) -> str:  # never the token
        return "BearerAuth()"


def token_refresher(config: ConnectorConfig, timeout: float) -> Callable[[], str] | None:
    refresh_token, client_id = config.get("refresh_token"), config.get("client_id")
    if not refresh_token or not client_id:
        return None
    form = {"grant_type": "refresh_token", "refresh_token": str(refresh_token), "client_id": str(client_id)}
    if config.get("client_secret"):
        form["client_secret"] = str(config.get("client_secret"))
    url = str(config.get("token_url") or DEFAULT_TOKEN_URL)

    def refresh() -> str:
        with httpx.Client(timeout=timeout, follow_redirects=False) as client:
            response = client.post(url, data=form, headers={"Accept": "application/json"})
        token = None
        if response.status_code == 200:
            try:
                token = response.json().get("access_token")
            except ValueError:
                token = None
        if not isinstance(token, str) or not token:
            code = None
            try:
                error = response.json().get("error")
                code = error if isinstance(error, str) and len(error) <= 80 else None
            except (ValueError, AttributeError):
                pass
            raise ConnectorRejected(
                f"Salesforce refused to refresh the access token (HTTP {response.status_code})",
                status=response.status_code,
                code=code,
                response=response,
            )
        log.info("salesforce.token_refreshed")
        return token

    return refresh


class SalesforceHttp(HttpClient):
    def __init__(self, base_url: str, *, usage_stop: float, api_version: str, **kwargs: Any) -> None:
        super().__init__(base_url, **kwargs)
        self.usage_stop = usage_stop
        self.usage: tuple[int, int] | None = None
        self.data_path = f"/services/data/v{api_version}"

    def request(self, method: str, url: str, *, accept: Iterable[int] = (), **kwargs: Any) -> httpx.Response:
        if self.usage is not None:
            used, limit = self.usage
            if limit > 0 and used >= limit * self.usage_stop:
                raise Throttled(
                    "the Salesforce org has used most of its 24-hour API quota; the sync stopped at its checkpoint "
                    "and resumes when more is available",
                    api_usage=used,
                    api_limit=limit,
                )
        response = super().request(method, url, accept=accept, **kwargs)
        usage = api_usage(response)
        if usage is not None:
            self.usage = usage
        return response


def make_salesforce_client(config: ConnectorConfig) -> SalesforceHttp:
    """From settings `instance_url`, `access_token` (secret), `api_version`, `api_usage_stop`, optionally
    `refresh_token` + `client_id` (+ `client_secret`, `token_url`), and the SDK's `retry_attempts`,
    `retry_base_seconds`, `retry_cap_seconds`, `max_wait_seconds`, `timeout_seconds`."""
    base_url = str(config.get("instance_url") or config.require("base_url"))
    timeout = float(config.get("timeout_seconds", 30.0))
    refresh = token_refresher(config, timeout)
    token = config.get("access_token")
    if not token:
        if refresh is None:
            config.require("access_token")
        token = ""  # the first call's 401 fetches one
    version = str(config.get("api_version", DEFAULT_API_VERSION)).removeprefix("v")
    if not API_VERSION.fullmatch(version):
        raise InvalidInput("connector 'salesforce': api_version must look like 62.0", setting="api_version")
    policy = RetryPolicy.from_config(config)
    return SalesforceHttp(
        base_url,
        usage_stop=float(config.get("api_usage_stop", 0.95)),
        api_version=version,
        headers={"Accept": "application/json"},
        auth=BearerAuth(str(token), refresh),
        throttle=throttle,
        policy=policy,
        timeout=timeout,
    )
