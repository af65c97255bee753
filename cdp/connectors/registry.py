"""Which webhook sources exist: tool packages register themselves when imported.

The built-in tool packages and any distribution exposing the entry point group `cdp.connectors` are imported
on first lookup; importing is by name, so domain code never depends on a tool package.
"""

import importlib
import importlib.metadata

from cdp.connectors.base import WebhookSource

BUILTIN = ("connectors.typeform", "connectors.sendgrid", "connectors.mailchimp")
ENTRY_POINT_GROUP = "cdp.connectors"

_SOURCES: dict[str, WebhookSource] = {}
_loaded = False


def register(source: WebhookSource) -> WebhookSource:
    if not isinstance(source, WebhookSource):
        raise TypeError(f"{source!r} does not implement WebhookSource")
    existing = _SOURCES.get(source.name)
    if existing is not None and existing is not source:
        raise ValueError(f"connector {source.name!r} is already registered")
    _SOURCES[source.name] = source
    return source


def _load() -> None:
    global _loaded
    if _loaded:
        return
    for module in BUILTIN:
        importlib.import_module(module)
    for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        entry.load()
    _loaded = True


def webhook_sources() -> dict[str, WebhookSource]:
    _load()
    return dict(_SOURCES)


def get_webhook_source(name: str) -> WebhookSource | None:
    _load()
    return _SOURCES.get(name)
