"""Which connectors exist: tool packages register their webhook sources, pull sources and destinations when
imported.

The built-in tool packages and any distribution exposing the entry point group `cdp.connectors` are imported
on first lookup; importing is by name, so domain code never depends on a tool package.
"""

import importlib
import importlib.metadata
from typing import TypeVar

from cdp.connectors.base import Destination, PullSource, WebhookSource

BUILTIN = (
    "connectors.typeform",
    "connectors.sendgrid",
    "connectors.mailchimp",
    "connectors.hubspot",
    "connectors.salesforce",
    "connectors.csv",
    "connectors.webhook",
    "connectors.csvfile",
)
ENTRY_POINT_GROUP = "cdp.connectors"

_WEBHOOKS: dict[str, WebhookSource] = {}
_PULLS: dict[str, PullSource] = {}
_DESTINATIONS: dict[str, Destination] = {}
_loaded = False

T = TypeVar("T", WebhookSource, PullSource, Destination)


def _put(table: dict[str, T], item: T) -> None:
    existing = table.get(item.name)
    if existing is not None and existing is not item:
        raise ValueError(f"connector {item.name!r} is already registered")
    table[item.name] = item


def register(connector: T) -> T:
    """Register a webhook source, pull source or destination (an object may be several)."""
    kinds = 0
    if isinstance(connector, WebhookSource):
        _put(_WEBHOOKS, connector)
        kinds += 1
    if isinstance(connector, PullSource):
        _put(_PULLS, connector)
        kinds += 1
    if isinstance(connector, Destination):
        _put(_DESTINATIONS, connector)
        kinds += 1
    if not kinds:
        raise TypeError(f"{connector!r} implements none of WebhookSource, PullSource, Destination")
    return connector


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
    return dict(_WEBHOOKS)


def get_webhook_source(name: str) -> WebhookSource | None:
    _load()
    return _WEBHOOKS.get(name)


def pull_sources() -> dict[str, PullSource]:
    _load()
    return dict(_PULLS)


def get_pull_source(name: str) -> PullSource | None:
    _load()
    return _PULLS.get(name)


def destinations() -> dict[str, Destination]:
    _load()
    return dict(_DESTINATIONS)


def get_destination(name: str) -> Destination | None:
    _load()
    return _DESTINATIONS.get(name)
