"""SendGrid: the signed Event Webhook (CONNECTORS.md §5.2-5.3)."""

from cdp.connectors import register
from connectors.sendgrid.mapping import EventMap
from connectors.sendgrid.webhooks import SendGridWebhook

SOURCE = register(SendGridWebhook())

__all__ = ["SOURCE", "EventMap", "SendGridWebhook"]
