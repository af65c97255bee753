"""Mailchimp webhook: no signature; the shared secret travels in the webhook URL (`?secret=...`) over HTTPS.

Configure the webhook URL as `https://<cdp>/v1/webhooks/mailchimp?secret=<CDP_CONNECTOR_MAILCHIMP_SECRET>`.
The secret is compared in constant time and never echoed; keep it out of proxy access logs.
"""

import datetime as dt
import hmac
from typing import Any

from cdp.connectors import NO_QUERY, BadSignature, Headers, Query
from connectors.mailchimp.mapping import EventMap, map_webhook

SECRET_PARAM = "secret"


class MailchimpWebhook:
    name = "mailchimp"
    validates_with_get = True
    """Mailchimp checks a new webhook URL with a GET (older docs) or an empty POST (newer guides): both get 200."""

    def __init__(self, event_map: EventMap | None = None) -> None:
        self.event_map = event_map or EventMap()

    def verify(
        self, headers: Headers, raw_body: bytes, now: dt.datetime, *, secret: str | None, query: Query = NO_QUERY
    ) -> None:
        if not secret:
            raise BadSignature("no secret is configured for this connector")
        given = query.get(SECRET_PARAM)
        if not given:
            raise BadSignature(f"missing `{SECRET_PARAM}` query parameter")
        if not hmac.compare_digest(given.encode(), secret.encode()):
            raise BadSignature(f"the `{SECRET_PARAM}` query parameter does not match")

    def parse(self, raw_body: bytes, headers: Headers) -> list[dict[str, Any]]:
        return map_webhook(raw_body, self.event_map)
