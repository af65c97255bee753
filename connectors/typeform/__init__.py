"""Typeform: `form_response` webhooks signed with HMAC-SHA256 (CONNECTORS.md §6)."""

from cdp.connectors import register
from connectors.typeform.mapping import FieldMap
from connectors.typeform.webhooks import TypeformWebhook

SOURCE = register(TypeformWebhook())

__all__ = ["SOURCE", "FieldMap", "TypeformWebhook"]
