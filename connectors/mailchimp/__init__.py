"""Mailchimp: the audience webhook (CONNECTORS.md §4.3), authenticated by a secret in the URL query, the
list-members pull (§4.1, §4.4) and the audience destination (§4.2)."""

from cdp.connectors import register
from connectors.mailchimp.destination import MailchimpDestination
from connectors.mailchimp.mapping import EventMap
from connectors.mailchimp.members import MemberMap
from connectors.mailchimp.pull import MailchimpPull
from connectors.mailchimp.webhooks import MailchimpWebhook

SOURCE = register(MailchimpWebhook())
PULL = register(MailchimpPull())
DESTINATION = register(MailchimpDestination())

__all__ = [
    "DESTINATION",
    "PULL",
    "SOURCE",
    "EventMap",
    "MailchimpDestination",
    "MailchimpPull",
    "MailchimpWebhook",
    "MemberMap",
]
