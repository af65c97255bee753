"""Mailchimp: the audience webhook (CONNECTORS.md §4.3), authenticated by a secret in the URL query."""

from cdp.connectors import register
from connectors.mailchimp.mapping import EventMap
from connectors.mailchimp.webhooks import MailchimpWebhook

SOURCE = register(MailchimpWebhook())

__all__ = ["SOURCE", "EventMap", "MailchimpWebhook"]
