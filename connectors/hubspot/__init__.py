"""HubSpot: the contacts pull (full, incremental search, archived) and the v3-signed webhook (CONNECTORS.md §2)."""

from cdp.connectors import register
from connectors.hubspot.mapping import ContactMap
from connectors.hubspot.pull import HubSpotSource
from connectors.hubspot.webhooks import HubSpotWebhook

PULL = register(HubSpotSource())
WEBHOOK = register(HubSpotWebhook())

__all__ = ["PULL", "WEBHOOK", "ContactMap", "HubSpotSource", "HubSpotWebhook"]
