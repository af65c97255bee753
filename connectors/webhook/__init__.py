"""A generic JSON webhook destination: audience batches POSTed to a configured URL, signed with HMAC-SHA256."""

from cdp.connectors import register
from connectors.webhook.destination import WebhookDestination

DESTINATION = register(WebhookDestination())

__all__ = ["DESTINATION", "WebhookDestination"]
