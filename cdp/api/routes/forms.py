"""POST /v1/forms/{form_id}: a plain HTML form (or its JSON twin) posted straight from a browser.

Public: the browser has no key. The form's definition (policies/forms.yaml) says which field is which, which
checkbox grants which purpose under which notice. Each submission is one ContactRecord under a server-made
submission id; a ticked box is a `granted` consent with proof (IP, User-Agent, page, body hash). `Sec-GPC: 1`
then denies every sale/share and profiling purpose for the submitted email. The answer is the submission id
only: nothing the person typed is echoed, in successes or in problems.
"""

import datetime as dt
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response
from pydantic import BaseModel
from sqlmodel import select

from cdp.api.deps import RuntimeDep, SessionDep
from cdp.api.routes.webhooks import raw_body, webhook_now
from cdp.audit.log import Actor
from cdp.consent.ledger import record_gpc_signal
from cdp.crypto.envelope import vault
from cdp.errors import InvalidInput, NotFound, TooLarge, UnsupportedMedia
from cdp.identity.normalize import NormalizationError, normalize_email
from cdp.ingest.pipeline import ingest_batch
from cdp.profiles.models import Identity
from connectors.webform.mapping import (
    FORM_MEDIA,
    JSON_MEDIA,
    SOURCE,
    Proof,
    TooManyFields,
    body_sha256,
    map_submission,
    missing_required,
    parse_body,
)

router = APIRouter(prefix="/v1/forms", tags=["forms"])
FormId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_\-]{1,64}$")]


class FormSubmitted(BaseModel):
    submission_id: uuid.UUID


def _email_identity(session: SessionDep, profile_id: uuid.UUID, email: str | None) -> uuid.UUID | None:
    if not email:
        return None
    try:
        index = vault(session).blind_index("email", normalize_email(email))
    except NormalizationError:
        return None
    return session.scalars(
        select(Identity.id).where(
            Identity.profile_id == profile_id, Identity.kind == "email", Identity.blind_index == index
        )
    ).first()


@router.post(
    "/{form_id}",
    status_code=201,
    response_model=FormSubmitted,
    responses={202: {"description": "Accepted and discarded (a bot)"}, 415: {"description": "Not a form body"}},
)
def submit_form(
    request: Request,
    response: Response,
    runtime: RuntimeDep,
    session: SessionDep,
    form_id: FormId,
    body: Annotated[bytes, Depends(raw_body)],
    now: Annotated[dt.datetime, Depends(webhook_now)],
) -> FormSubmitted:
    """Record one web form submission: the contact, a form_submitted event and one consent per ticked box."""
    form = runtime.policies.forms.get(form_id)
    if form is None:
        raise NotFound(f"no form named {form_id!r}", form_id=form_id)
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in (FORM_MEDIA, JSON_MEDIA):
        raise UnsupportedMedia(f"send {FORM_MEDIA} or {JSON_MEDIA}", accepted=[FORM_MEDIA, JSON_MEDIA])
    if len(body) > form.max_bytes:
        raise TooLarge(f"a submission to this form is limited to {form.max_bytes} bytes", limit=form.max_bytes)
    try:
        fields = parse_body(media_type, body, form.max_fields)
    except TooManyFields as exc:
        raise InvalidInput(f"a submission to this form has at most {form.max_fields} fields") from exc
    except ValueError as exc:
        raise InvalidInput(f"the submission could not be read ({type(exc).__name__})") from exc
    submission_id = uuid.uuid4()
    if form.honeypot and fields.get(form.honeypot, "").strip():
        response.status_code = 202  # a bot: nothing stored, and nothing in the answer says so
        return FormSubmitted(submission_id=submission_id)
    missing = missing_required(form, fields)
    if missing:
        raise InvalidInput(
            "required fields are empty",
            errors=[{"loc": ["body", name], "msg": "required", "type": "missing"} for name in missing],
        )
    proof = Proof(
        ip=request.client.host if request.client else None,
        user_agent=request.headers.get("user-agent"),
        page_url=request.headers.get("referer") or request.headers.get("origin"),
        payload_sha256=body_sha256(body),
    )
    record = map_submission(form, fields, submission_id=submission_id, received_at=now, proof=proof)
    actor = Actor(f"form:{form.id}", "connector")
    result = ingest_batch(session, SOURCE, [record], actor=actor, now=now)
    [outcome] = result.results
    if outcome.outcome == "quarantined":
        reasons = outcome.reasons or []
        raise InvalidInput(
            "the submission could not be accepted",
            errors=[{"field": r.get("field"), "type": r.get("type")} for r in reasons if isinstance(r, dict)],
        )
    if outcome.profile_id is not None and request.headers.get("sec-gpc", "").strip() == "1":
        identity_id = _email_identity(session, outcome.profile_id, record.get("email"))
        record_gpc_signal(session, outcome.profile_id, identity_id, now, SOURCE, proof.as_dict(), actor=actor)
    return FormSubmitted(submission_id=submission_id)
