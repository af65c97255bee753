"""Jobs the CLI and the API both start: a connector's pull sync, wired to the privacy-request log.

Each job opens its own units of work (a page, a batch), so it never runs inside a request's transaction.
"""

from cdp.audit.log import Actor
from cdp.bootstrap import Runtime
from cdp.connectors.base import PullSource
from cdp.connectors.config import connector_config
from cdp.connectors.registry import get_pull_source, pull_sources
from cdp.connectors.sync import Progress, SyncReport, run_pull
from cdp.errors import NotFound
from cdp.ingest.quality import gate_settings
from cdp.privacy.requests import open_from_signal


def require_pull_source(name: str) -> PullSource:
    source = get_pull_source(name)
    if source is None:
        raise NotFound(
            f"no pull connector named {name!r}; known: {', '.join(sorted(pull_sources())) or 'none'}",
            connector=name,
        )
    return source


def sync_source(
    runtime: Runtime,
    name: str,
    *,
    actor: Actor,
    full: bool = False,
    max_pages: int | None = None,
    progress: Progress | None = None,
) -> SyncReport:
    source = require_pull_source(name)
    config = connector_config(runtime.settings, name)
    with source.client(config) as http:
        return run_pull(
            runtime.stores,
            source,
            config,
            http,
            actor=actor,
            on_signal=open_from_signal,
            full=full,
            max_pages=max_pages,
            progress=progress,
            gate=gate_settings(runtime.settings),
        )
