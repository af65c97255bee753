"""POST /v1/unsubscribe/{token}: RFC 8058 one-click unsubscribe from a mail client's `List-Unsubscribe-Post`.

Public and cookie-less by design (the mail client has no credentials); the token is signed and opaque. Only a
POST whose form body is `List-Unsubscribe=One-Click` acts, so link scanners that GET or prefetch the URL never
unsubscribe anyone (RFC 8058 §3.2). The answer is the same whether or not there was a consent to withdraw.
"""

from typing import Annotated
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel

from cdp.api.deps import SessionDep
from cdp.api.routes.webhooks import raw_body
from cdp.audiences.unsubscribe import one_click_unsubscribe
from cdp.audit.log import Actor
from cdp.errors import InvalidInput

router = APIRouter(prefix="/v1/unsubscribe", tags=["unsubscribe"])
Token = Annotated[str, Path(max_length=200)]
ACTOR = Actor("one-click-unsubscribe", "public")


class Unsubscribed(BaseModel):
    status: str = "unsubscribed"


@router.post("/{token}", response_model=Unsubscribed)
def unsubscribe(token: Token, session: SessionDep, body: Annotated[bytes, Depends(raw_body)]) -> Unsubscribed:
    try:
        fields = dict(parse_qsl(body.decode("ascii"), keep_blank_values=True))
    except UnicodeDecodeError:
        fields = {}
    if fields.get("List-Unsubscribe") != "One-Click":
        raise InvalidInput("the body must be `List-Unsubscribe=One-Click` (RFC 8058)", field="List-Unsubscribe")
    one_click_unsubscribe(session, token, actor=ACTOR)
    return Unsubscribed()
