"""The connector SDK contract: what a tool package in top-level `connectors/` implements to feed cdp.

Domain code never imports the tool packages; it finds them through `cdp.connectors.registry`.
"""

from cdp.connectors.base import (
    NO_QUERY,
    BadSignature,
    ConnectorConfig,
    ConnectorNotConfigured,
    Cursor,
    Destination,
    Headers,
    Member,
    Page,
    PullSource,
    PushResult,
    Query,
    RequestSignedWebhook,
    SignalingWebhook,
    SourceSignal,
    WebhookSource,
    check_timestamp,
    connector_secret,
)
from cdp.connectors.registry import (
    destinations,
    get_destination,
    get_pull_source,
    get_webhook_source,
    pull_sources,
    register,
    webhook_sources,
)

__all__ = [
    "NO_QUERY",
    "BadSignature",
    "ConnectorConfig",
    "ConnectorNotConfigured",
    "Cursor",
    "Destination",
    "Headers",
    "Member",
    "Page",
    "PullSource",
    "PushResult",
    "Query",
    "RequestSignedWebhook",
    "SignalingWebhook",
    "SourceSignal",
    "WebhookSource",
    "check_timestamp",
    "connector_secret",
    "destinations",
    "get_destination",
    "get_pull_source",
    "get_webhook_source",
    "pull_sources",
    "register",
    "webhook_sources",
]
