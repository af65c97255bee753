"""The one HTTP client connectors use: retries with exponential backoff and full jitter on network errors and
5xx, and each tool's own throttling signal honoured (CONNECTORS.md §0.9, §1.4).

A tool package passes a `Throttle` that reads its signal: `429` + `Retry-After` (the default), SendGrid's
`X-RateLimit-Reset`, Salesforce's 403 `REQUEST_LIMIT_EXCEEDED`, Mailchimp's bare 403. A wait longer than
`RetryPolicy.max_wait` is not slept through: `Throttled` stops the sync with its checkpoint kept, to resume
when the window rolls. Logs carry the host, method, status and attempt only (paths can hold addresses).
"""

import email.utils
import logging
import math
import random
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from cdp.errors import CdpError, Unavailable

if TYPE_CHECKING:
    from cdp.connectors.base import ConnectorConfig

log = logging.getLogger(__name__)

Throttle = Callable[[httpx.Response], float | None]
"""Seconds to wait before retrying a throttled response; None: not a throttle; `math.inf`: stop the sync."""


class ConnectorFailed(Unavailable):
    """The tool refused or kept failing; the sync stops and its checkpoint is kept."""

    slug = "connector-failed"
    title = "Connector call failed"


class Throttled(ConnectorFailed):
    slug = "connector-throttled"
    title = "Connector throttled"


class ConnectorRejected(CdpError):
    """A 4xx that retrying cannot fix (bad credentials, bad request); carries the status and the tool's code.

    A 502 problem on the API (cdp/api/problems.py): the tool, cdp's upstream, refused the call."""

    slug = "connector-rejected"
    title = "Connector call rejected"

    def __init__(self, detail: str, *, status: int, code: str | None = None, response: httpx.Response) -> None:
        super().__init__(detail, upstream_status=status, code=code)
        self.status = status
        self.code = code
        self.response = response


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6
    base: float = 0.5
    cap: float = 30.0
    max_wait: float = 120.0

    @classmethod
    def from_config(cls, config: "ConnectorConfig") -> "RetryPolicy":
        return cls(
            attempts=int(config.get("retry_attempts", cls.attempts)),
            base=float(config.get("retry_base_seconds", cls.base)),
            cap=float(config.get("retry_cap_seconds", cls.cap)),
            max_wait=float(config.get("max_wait_seconds", cls.max_wait)),
        )


def _seconds_from_http_date(value: str, now: float) -> float | None:
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now)


def retry_after(response: httpx.Response, now: float | None = None) -> float | None:
    """`Retry-After` in seconds (RFC 9110: delay-seconds or an HTTP date), None when absent or unreadable."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    return _seconds_from_http_date(value, time.time() if now is None else now)


def default_throttle(response: httpx.Response) -> float | None:
    """429 is a throttle; wait `Retry-After` when given, else let the backoff decide (0)."""
    if response.status_code != 429:
        return None
    return retry_after(response) or 0.0


class HttpClient:
    """A synchronous httpx client with cdp's retry policy; one per sync, closed by its owner."""

    def __init__(
        self,
        base_url: str,
        *,
        headers: Mapping[str, str] | None = None,
        auth: httpx.Auth | tuple[str, str] | None = None,
        throttle: Throttle = default_throttle,
        policy: RetryPolicy = RetryPolicy(),
        sleep: Callable[[float], None] = time.sleep,
        rng: Callable[[], float] = random.random,
        timeout: float = 30.0,
        max_connections: int = 10,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._client = httpx.Client(
            base_url=base_url,
            headers=dict(headers or {}),
            auth=auth,
            timeout=timeout,
            limits=httpx.Limits(max_connections=max_connections),
            transport=transport,
            follow_redirects=False,
        )
        self.throttle = throttle
        self.policy = policy
        self._sleep = sleep
        self._rng = rng
        self.waits: list[float] = []

    @property
    def base_url(self) -> str:
        return str(self._client.base_url)

    def backoff(self, attempt: int) -> float:
        """Full jitter (AWS architecture blog): uniform in [0, min(cap, base * 2^attempt)]."""
        return float(self._rng() * min(self.policy.cap, self.policy.base * 2**attempt))

    def _wait(self, seconds: float) -> None:
        self.waits.append(seconds)
        if seconds > 0:
            self._sleep(seconds)

    def request(self, method: str, url: str, *, accept: Iterable[int] = (), **kwargs: Any) -> httpx.Response:
        """Send with retries; return a 2xx (or a status in `accept`), raise `ConnectorRejected` on other 4xx,
        `Throttled` when the tool asks for a wait past `max_wait`, `ConnectorFailed` when retries run out."""
        accepted = set(accept)
        host = self._client.base_url.host or httpx.URL(url).host
        last: str = ""
        for attempt in range(self.policy.attempts):
            try:
                response = self._client.request(method, url, **kwargs)
            except httpx.TransportError as exc:
                last = type(exc).__name__
                log.warning(
                    "connector.http_retry",
                    extra={"host": host, "method": method, "error": last, "attempt": attempt + 1},
                )
                if attempt + 1 < self.policy.attempts:
                    self._wait(self.backoff(attempt))
                continue
            status = response.status_code
            if 200 <= status < 300 or status in accepted:
                return response
            wait = self.throttle(response)
            if wait is not None:
                if math.isinf(wait) or wait > self.policy.max_wait:
                    raise Throttled(
                        f"{host} asked cdp to slow down; the sync stopped at its checkpoint and resumes later",
                        upstream_status=status,
                        retry_after_seconds=None if math.isinf(wait) else round(wait),
                    )
                last = f"HTTP {status} (throttled)"
                log.warning(
                    "connector.throttled",
                    extra={
                        "host": host,
                        "method": method,
                        "status": status,
                        "wait_s": round(wait, 2),
                        "attempt": attempt + 1,
                    },
                )
                if attempt + 1 < self.policy.attempts:
                    self._wait(max(wait, self.backoff(attempt)))
                continue
            if status >= 500:
                last = f"HTTP {status}"
                log.warning(
                    "connector.http_retry",
                    extra={"host": host, "method": method, "status": status, "attempt": attempt + 1},
                )
                if attempt + 1 < self.policy.attempts:
                    self._wait(self.backoff(attempt))
                continue
            raise ConnectorRejected(
                f"{host} refused the call with HTTP {status}",
                status=status,
                code=_error_code(response),
                response=response,
            )
        raise ConnectorFailed(
            f"{host} kept failing ({last}) after {self.policy.attempts} attempts; the checkpoint is kept",
            attempts=self.policy.attempts,
        )

    def get_json(self, url: str, **kwargs: Any) -> Any:
        return _json(self.request("GET", url, **kwargs))

    def post_json(self, url: str, body: Any, **kwargs: Any) -> Any:
        return _json(self.request("POST", url, json=body, **kwargs))

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> "HttpClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _json(response: httpx.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError as exc:
        raise ConnectorFailed(
            f"{response.url.host} answered HTTP {response.status_code} with a body that is not JSON"
        ) from exc


def _error_code(response: httpx.Response) -> str | None:
    """The tool's error code, when its body names one (Salesforce `errorCode`, HubSpot `category`, problem
    `title`); never the message, which can echo input."""
    try:
        body = response.json()
    except ValueError:
        return None
    if isinstance(body, list) and body and isinstance(body[0], dict):
        body = body[0]
    if not isinstance(body, dict):
        return None
    for key in ("errorCode", "category", "error_code", "type"):
        value = body.get(key)
        if isinstance(value, str) and len(value) <= 80:
            return value
    return None


def make_client(
    config: "ConnectorConfig",
    *,
    default_base_url: str | None = None,
    headers: Mapping[str, str] | None = None,
    auth: httpx.Auth | tuple[str, str] | None = None,
    throttle: Throttle = default_throttle,
    max_connections: int = 10,
    transport: httpx.BaseTransport | None = None,
) -> HttpClient:
    """A client from a connector's settings: `base_url`, and optionally `retry_attempts`,
    `retry_base_seconds`, `retry_cap_seconds`, `max_wait_seconds`, `timeout_seconds`."""
    base_url = config.get("base_url") or default_base_url
    if not base_url:
        config.require("base_url")
    policy = RetryPolicy.from_config(config)
    return HttpClient(
        str(base_url),
        headers=headers,
        auth=auth,
        throttle=throttle,
        policy=policy,
        timeout=float(config.get("timeout_seconds", 30.0)),
        max_connections=max_connections,
        transport=transport,
    )
