"""RFC 8058 one-click unsubscribe: a signed, opaque token per contact point and purpose, put on every member a
destination receives, that records a withdrawal when the mail client POSTs `List-Unsubscribe=One-Click`.

The token is `<identity id>.<purpose>.<HMAC>` under the blind-index key: no personal data, nothing to look up
in a URL log, and it cannot be forged for another contact point or purpose (CONNECTORS.md §7.3).
"""

import datetime as dt
import hmac
import re
import uuid

from sqlalchemy.orm import Session
from sqlmodel import select

from cdp.audit.log import Actor, append
from cdp.consent.fold import effective_status
from cdp.consent.ledger import change_consent
from cdp.consent.models import ConsentState
from cdp.crypto.envelope import vault
from cdp.db import utcnow
from cdp.errors import NotFound
from cdp.profiles.models import Identity

_TOKEN = re.compile(r"^([0-9a-f]{32})\.([a-z][a-z0-9_]{0,63})\.([0-9a-f]{32})$")
SOURCE = "unsubscribe_link"


class UnsubscribeTokenInvalid(NotFound):
    slug = "unsubscribe-token-invalid"
    title = "Unsubscribe link not valid"


def _signature(session: Session, identity_id: uuid.UUID, purpose: str) -> str:
    return vault(session).blind_index("unsubscribe-token", f"{identity_id.hex}.{purpose}")[:32]


def unsubscribe_token(session: Session, identity_id: uuid.UUID, purpose: str) -> str:
    return f"{identity_id.hex}.{purpose}.{_signature(session, identity_id, purpose)}"


def unsubscribe_url(base_url: str | None, token: str) -> str | None:
    return f"{base_url.rstrip('/')}/v1/unsubscribe/{token}" if base_url else None


def read_token(session: Session, token: str) -> tuple[uuid.UUID, str]:
    match = _TOKEN.fullmatch(token)
    if match is None:
        raise UnsubscribeTokenInvalid("this unsubscribe link is not one cdp issued")
    identity_id, purpose = uuid.UUID(match.group(1)), match.group(2)
    if not hmac.compare_digest(match.group(3), _signature(session, identity_id, purpose)):
        raise UnsubscribeTokenInvalid("this unsubscribe link is not one cdp issued")
    return identity_id, purpose


def one_click_unsubscribe(session: Session, token: str, *, actor: Actor, now: dt.datetime | None = None) -> bool:
    """Record a withdrawal for the token's contact point and purpose; False when there was nothing to withdraw
    (already withdrawn, lapsed, or the person was erased). The caller answers 200 either way (RFC 8058 §3.2)."""
    identity_id, purpose = read_token(session, token)
    now = now or utcnow()
    identity = session.get(Identity, identity_id)
    if identity is None:
        return False
    state = session.scalars(
        select(ConsentState).where(
            ConsentState.profile_id == identity.profile_id,
            ConsentState.identity_id == identity_id,
            ConsentState.purpose == purpose,
        )
    ).first()
    if state is None or effective_status(state.status, state.expires_at, now) != "granted":
        return False
    change_consent(
        session,
        identity.profile_id,
        identity=identity,
        actor=actor,
        purpose=purpose,
        status="withdrawn",
        occurred_at=now,
        source=SOURCE,
        method="one_click_unsubscribe",
        indicated_by="data_subject",
    )
    append(
        session,
        actor=actor,
        action="audience.one_click_unsubscribe",
        resource_type="profile",
        resource_id=identity.profile_id,
        details={"purpose": purpose},
    )
    return True
