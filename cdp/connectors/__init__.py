"""The connector SDK contract: what a tool package in top-level `connectors/` implements to feed cdp.

Domain code never imports the tool packages; the API finds them through `cdp.connectors.registry`.
"""

from cdp.connectors.base import NO_QUERY, BadSignature, Headers, Query, WebhookSource, check_timestamp, connector_secret
from cdp.connectors.registry import get_webhook_source, register, webhook_sources

__all__ = [
    "NO_QUERY",
    "BadSignature",
    "Headers",
    "Query",
    "WebhookSource",
    "check_timestamp",
    "connector_secret",
    "get_webhook_source",
    "register",
    "webhook_sources",
]
