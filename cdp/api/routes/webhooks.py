"""POST /v1/webhooks/{connector}: a tool's webhook, authenticated by the tool's own signature, not an API key.

The signature is checked over the raw bytes before anything is parsed (tools without one, such as Mailchimp,
check a secret in the URL query instead); a refusal is audited (ids only) and nothing is ingested. Accepted
records go through `ingest_batch` like every other source; events and consents carry the tool's event ids, so a
redelivered webhook is recorded once.
"""

import datetime as dt
import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel

from cdp.api.deps import RuntimeDep, SessionDep
from cdp.audit.log import Actor, append
from cdp.connectors import (
    BadSignature,
    RequestSignedWebhook,
    SignalingWebhook,
    connector_secret,
    get_webhook_source,
)
from cdp.connectors.config import connector_config
from cdp.db import unit_of_work, utcnow
from cdp.errors import InvalidInput, NotFound
from cdp.ingest.pipeline import ingest_batch
from cdp.privacy.requests import open_from_signal

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])
ConnectorName = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_\-]{0,63}$")]


class WebhookRecordResult(BaseModel):
    index: int
    outcome: Literal["created", "merged", "updated", "unchanged", "quarantined", "suppressed"]
    profile_id: uuid.UUID | None = None
    quarantine_id: uuid.UUID | None = None


class WebhookResponse(BaseModel):
    connector: str
    counts: dict[str, int]
    results: list[WebhookRecordResult]
    privacy_requests: int = 0


async def raw_body(request: Request) -> bytes:
    """The body exactly as received: signatures cover these bytes, never re-serialised JSON."""
    return await request.body()


def webhook_now() -> dt.datetime:
    """The clock signatures' timestamps are checked against (a dependency, so tests can pin it)."""
    return utcnow()


def connector_actor(name: str) -> Actor:
    return Actor(f"connector:{name}", "connector")


class WebhookValidated(BaseModel):
    connector: str


@router.get("/{connector}", response_model=WebhookValidated)
def validate_webhook(
    request: Request,
    runtime: RuntimeDep,
    connector: ConnectorName,
    now: Annotated[dt.datetime, Depends(webhook_now)],
) -> WebhookValidated:
    """Answer a tool's check of the webhook URL (Mailchimp sends a GET before it saves a webhook): 200 when
    the URL's credential is right; nothing is read or stored. Only for tools whose credential is in the URL."""
    source = get_webhook_source(connector)
    if source is None or not getattr(source, "validates_with_get", False):
        raise NotFound(f"no webhook connector named {connector!r} answers a GET", connector=connector)
    source.verify(
        request.headers, b"", now, secret=connector_secret(runtime.settings, connector), query=request.query_params
    )
    return WebhookValidated(connector=connector)


@router.post("/{connector}", response_model=WebhookResponse)
def receive_webhook(
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    connector: ConnectorName,
    body: Annotated[bytes, Depends(raw_body)],
    now: Annotated[dt.datetime, Depends(webhook_now)],
) -> WebhookResponse:
    """Verify the tool's signature, map its payload to ContactRecords and ingest them."""
    source = get_webhook_source(connector)
    if source is None:
        raise NotFound(f"no webhook connector named {connector!r}", connector=connector)
    actor = connector_actor(connector)
    secret = connector_secret(runtime.settings, connector)
    try:
        if isinstance(source, RequestSignedWebhook):
            url = connector_config(runtime.settings, connector).get("webhook_url") or str(request.url)
            source.verify_request(request.method, str(url), request.headers, body, now, secret=secret)
        else:
            source.verify(request.headers, body, now, secret=secret, query=request.query_params)
    except BadSignature as exc:
        # Its own transaction: the request's rolls back with the error.
        with unit_of_work(runtime.stores) as audit_session:
            append(
                audit_session,
                actor=actor,
                action="webhook.denied",
                resource_type="connector",
                resource_id=connector,
                outcome="denied",
                details={"reason": exc.detail},
            )
        raise
    try:
        records = source.parse(body, request.headers)
        signals = source.signals(body, request.headers) if isinstance(source, SignalingWebhook) else []
    except ValueError as exc:
        raise InvalidInput(f"the {connector} payload could not be read ({type(exc).__name__})") from exc
    result = ingest_batch(session, connector, records, actor=actor)
    # After the records, so a signal names a contact this very delivery may have created.
    opened = [r for r in (open_from_signal(session, s, actor) for s in signals) if r is not None]
    return WebhookResponse(
        connector=connector,
        counts=result.counts,
        results=[
            WebhookRecordResult(
                index=r.index, outcome=r.outcome, profile_id=r.profile_id, quarantine_id=r.quarantine_id
            )
            for r in result.results
        ],
        privacy_requests=len(opened),
    )
