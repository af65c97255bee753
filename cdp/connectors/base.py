"""The connector contract: webhook sources (verify over the raw body, then map), pull sources (pages with a
cursor) and destinations (upsert / remove audience members)."""

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from pydantic import SecretStr

from cdp.errors import Conflict, Unauthenticated
from cdp.settings import Settings

if TYPE_CHECKING:
    from cdp.connectors.http import HttpClient

Headers = Mapping[str, str]
"""Request headers; lookups must be case-insensitive (Starlette's `Headers` is)."""

Query = Mapping[str, str]
"""The webhook URL's query parameters (for tools such as Mailchimp whose only credential is a URL secret)."""

NO_QUERY: Query = MappingProxyType({})

REPLAY_WINDOW = dt.timedelta(seconds=300)


class BadSignature(Unauthenticated):
    """A webhook whose signature is missing, malformed, wrong or too old: nothing from it is stored."""

    slug = "bad-signature"
    title = "Webhook signature not valid"


@runtime_checkable
class WebhookSource(Protocol):
    """One tool's inbound webhook. `verify` runs on the exact bytes received, before anything is parsed."""

    name: str

    def verify(
        self, headers: Headers, raw_body: bytes, now: dt.datetime, *, secret: str | None, query: Query = NO_QUERY
    ) -> None:
        """Return if the request is authentic and fresh; raise `BadSignature` otherwise (also when no secret).

        `query` is the webhook URL's query string; sources signing the body ignore it."""
        ...

    def parse(self, raw_body: bytes, headers: Headers) -> list[dict[str, Any]]:
        """ContactRecord-shaped dicts (`cdp.ingest.records.ContactRecord`); events and consents carry the
        tool's own event ids as `external_id`, so a redelivered webhook is recorded once."""
        ...


@runtime_checkable
class RequestSignedWebhook(Protocol):
    """A webhook source whose signature also covers the request method and URL (HubSpot v3); the route calls
    `verify_request` instead of `verify`. `url` is the URL the tool called: the connector's `webhook_url`
    setting when configured (cdp behind a proxy), else the URL the request arrived on."""

    def verify_request(
        self, method: str, url: str, headers: Headers, raw_body: bytes, now: dt.datetime, *, secret: str | None
    ) -> None: ...


@runtime_checkable
class SignalingWebhook(Protocol):
    """A webhook source whose bodies can also carry privacy requests raised in the tool (optional)."""

    def signals(self, raw_body: bytes, headers: Headers) -> list["SourceSignal"]: ...


def connector_secret(settings: Settings, name: str) -> str | None:
    """The verification secret (or public key) of connector `name`: `CDP_CONNECTOR_<NAME>_SECRET`.

    The value is never logged, returned, audited or put in an error message.
    """
    secret = settings.connector_secrets.get(name)
    return secret.get_secret_value() if secret is not None else None


def check_timestamp(signed_at: dt.datetime, now: dt.datetime, window: dt.timedelta = REPLAY_WINDOW) -> None:
    """Refuse a signed timestamp outside `now ± window` (a replay, or a clock far off)."""
    if abs(now - signed_at) > window:
        raise BadSignature("the webhook timestamp is outside the replay window", window_seconds=window.seconds)


# --- Pull sources ---------------------------------------------------------------------------------------------

Cursor = dict[str, Any]
"""A connector's checkpoint: JSON-serialisable, opaque to cdp, saved after each page in the page's transaction."""

SignalType = Literal["erasure", "access", "restriction", "objection"]


@dataclass(frozen=True)
class SourceSignal:
    """A privacy request raised inside a tool (HubSpot `contact.privacyDeletion`, Salesforce `ShouldForget`).

    cdp opens a privacy request for the contact whose source record is `(source, external_id)`; the tool's own
    id of the signal (`signal_id`) makes a redelivery a no-op.
    """

    type: SignalType
    source: str
    external_id: str
    occurred_at: dt.datetime
    signal_id: str
    notes: str = ""


@dataclass(frozen=True)
class Page:
    """One page of a pull: ContactRecord-shaped dicts, privacy signals, and the cursor to resume *after* it.

    A record deleted or archived at the source arrives as a record with only its `external_id` and a
    `crm_deleted` event (the source link is marked, nothing is erased). Such a notice (no contact data) adds its
    events to the stored contact and keeps the stored view; about a contact never stored it is dropped.
    """

    records: list[dict[str, Any]]
    cursor: Cursor
    signals: list[SourceSignal] = field(default_factory=list)
    last: bool = False
    """Set on the final page when the source knows it, so a bounded sync can say it has finished."""


class ConnectorConfig:
    """A connector's settings (base URL, credentials, field map, options): from the connectors file or
    `CDP_CONNECTOR_<NAME>__<KEY>` variables. Values are never logged, returned, audited or put in errors."""

    def __init__(self, name: str, values: Mapping[str, Any]) -> None:
        self.name = name
        self._values = dict(values)

    def get(self, key: str, default: Any = None) -> Any:
        value = self._values.get(key, default)
        return value.get_secret_value() if isinstance(value, SecretStr) else value

    def require(self, key: str) -> Any:
        value = self.get(key)
        if value in (None, ""):
            raise ConnectorNotConfigured(
                f"connector {self.name!r} needs setting {key!r} "
                f"(connectors file, or CDP_CONNECTOR_{self.name.upper()}__{key.upper()})",
                connector=self.name,
                setting=key,
            )
        return value

    def __repr__(self) -> str:  # never the values
        return f"ConnectorConfig({self.name!r}, keys={sorted(self._values)})"


class ConnectorNotConfigured(Conflict):
    slug = "connector-not-configured"
    title = "Connector not configured"


@runtime_checkable
class PullSource(Protocol):
    """A tool cdp pulls contacts from. `pages` resumes after `cursor` (None: a first, full load) and yields
    pages in order; the runner commits each page's records together with its cursor."""

    name: str

    def client(self, config: ConnectorConfig) -> "HttpClient":
        """The tool's HTTP client (`cdp.connectors.http.make_client` with its auth and throttle signal)."""
        ...

    def pages(self, http: "HttpClient", config: ConnectorConfig, cursor: Cursor | None) -> Iterator[Page]: ...


# --- Destinations ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Member:
    """One audience member as a destination receives it: a consented contact point and a few golden fields.

    `ref` is the destination's key for the member (e.g. Mailchimp's subscriber hash), stable across syncs so a
    later removal can address it; `consent` carries the grant's proof for tools that store it (Mailchimp
    `timestamp_opt` / `ip_opt`)."""

    ref: str
    email: str | None = None
    phone: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    purpose: str = ""
    consented_at: dt.datetime | None = None
    consent_ip: str | None = None
    unsubscribe_url: str | None = None
    """RFC 8058 one-click unsubscribe URL for this member and purpose (opaque signed token, no personal data)."""


@dataclass
class PushResult:
    """What a destination did: refs accepted, refs refused with the tool's reason code (no personal data)."""

    done: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    job_ids: list[str] = field(default_factory=list)


@runtime_checkable
class Destination(Protocol):
    name: str

    def client(self, config: ConnectorConfig) -> "HttpClient": ...

    def member_ref(self, member: Member) -> str:
        """The destination's key for a contact point (computed before the first push, kept in the snapshot)."""
        ...

    def upsert(self, http: "HttpClient", config: ConnectorConfig, members: Sequence[Member]) -> PushResult: ...

    def remove(
        self, http: "HttpClient", config: ConnectorConfig, refs: Sequence[str], *, erase: bool = False
    ) -> PushResult:
        """Take members off the audience; `erase` asks the tool to forget them (Art. 17/19), where it can."""
        ...
