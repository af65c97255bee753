"""create_app: the one FastAPI app. Nothing is built at import; tests pass their own settings and stores."""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from cdp import __version__
from cdp.api import problems
from cdp.api.middleware import RequestContextMiddleware
from cdp.api.routes import (
    audiences,
    audit,
    connectors,
    consents,
    forms,
    health,
    identity,
    ingest,
    profiles,
    purposes,
    receipts,
    retention,
    unsubscribe,
    webhooks,
)
from cdp.api.routes import privacy as privacy_requests
from cdp.bootstrap import Runtime, open_runtime
from cdp.db import Stores
from cdp.logs import configure_logging
from cdp.settings import Settings, get_settings

DESCRIPTION = """
One API over one deduplicated, encrypted profile per person. Authenticate with
`Authorization: Bearer <key>` (create keys with `cdp keys create --role ROLE --name NAME`).
Errors are RFC 9457 `application/problem+json`; `GET /problems` lists their types.
"""


def create_app(
    settings: Settings | None = None, *, stores: Stores | None = None, runtime: Runtime | None = None
) -> FastAPI:
    settings = settings or get_settings()
    owned = runtime is None
    runtime = runtime or open_runtime(settings, stores=stores)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        if owned:
            runtime.close()

    app = FastAPI(title="cdp", version=__version__, description=DESCRIPTION, lifespan=lifespan)
    app.state.runtime = runtime
    problems.install(app)
    for module in (
        health,
        ingest,
        profiles,
        identity,
        consents,
        receipts,
        purposes,
        audit,
        retention,
        webhooks,
        forms,
        connectors,
        audiences,
        unsubscribe,
        privacy_requests,
    ):
        app.include_router(module.router)
    app.add_middleware(RequestContextMiddleware, max_body_bytes=settings.request_body_max_bytes)
    return app


def app_from_env() -> FastAPI:
    """Factory for `uvicorn --factory cdp.api.app:app_from_env`."""
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    app = create_app(settings)
    created = app.state.runtime.created_key_file
    if created is not None:
        logging.getLogger(__name__).warning("keys.key_file_created", extra={"path": str(created), "mode": "0600"})
    return app
