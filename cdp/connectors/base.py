"""The webhook contract: verify a tool's signature over the raw body, then map the body to ContactRecords."""

import datetime as dt
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Protocol, runtime_checkable

from cdp.errors import Unauthenticated
from cdp.settings import Settings

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
