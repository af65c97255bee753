"""Mailchimp: the audience webhook (CONNECTORS.md §4.3), authenticated by a secret in the URL query, and the
list-members pull (§4.1, §4.4)."""

from cdp.connectors import register
from connectors.mailchimp.mapping import EventMap
from connectors.mailchimp.members import MemberMap
from connectors.mailchimp.pull import MailchimpPull
from connectors.mailchimp.webhooks import MailchimpWebhook

SOURCE = register(MailchimpWebhook())
PULL = register(MailchimpPull())

__all__ = ["PULL", "SOURCE", "EventMap", "MailchimpPull", "MailchimpWebhook", "MemberMap"]
