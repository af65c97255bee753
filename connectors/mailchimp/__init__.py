"""Mailchimp: the audience webhook (CONNECTORS.md §4.3), authenticated by a secret in the URL query, and the
audience destination (§4.2)."""

from cdp.connectors import register
from connectors.mailchimp.destination import MailchimpDestination
from connectors.mailchimp.mapping import EventMap
from connectors.mailchimp.webhooks import MailchimpWebhook

SOURCE = register(MailchimpWebhook())
DESTINATION = register(MailchimpDestination())

__all__ = ["DESTINATION", "SOURCE", "EventMap", "MailchimpDestination", "MailchimpWebhook"]
