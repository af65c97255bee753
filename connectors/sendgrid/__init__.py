"""SendGrid: the signed Event Webhook (CONNECTORS.md §5.2-5.3) and the Marketing Contacts destination (§5.1)."""

from cdp.connectors import register
from connectors.sendgrid.destination import SendGridDestination
from connectors.sendgrid.mapping import EventMap
from connectors.sendgrid.webhooks import SendGridWebhook

SOURCE = register(SendGridWebhook())
DESTINATION = register(SendGridDestination())

__all__ = ["DESTINATION", "SOURCE", "EventMap", "SendGridDestination", "SendGridWebhook"]
