"""Creating, checking and revoking API keys. Tokens are 256-bit random, so a plain SHA-256 is a safe hash."""

import hashlib
import secrets

from sqlalchemy.orm import Session
from sqlmodel import col, select

from cdp.auth.models import ApiKey
from cdp.db import utcnow
from cdp.errors import InvalidInput, NotFound, Unauthenticated

TOKEN_PREFIX = "cdp_"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_key(session: Session, *, name: str, role: str, known_roles: set[str]) -> tuple[ApiKey, str]:
    if role not in known_roles:
        raise InvalidInput(f"unknown role {role!r}; roles are {', '.join(sorted(known_roles))}")
    if not name.strip() or len(name) > 128:
        raise InvalidInput("a key name must be 1 to 128 characters")
    key_id = f"key_{secrets.token_hex(6)}"
    token = f"{TOKEN_PREFIX}{secrets.token_urlsafe(32)}"
    key = ApiKey(id=key_id, name=name.strip(), role=role, token_hash=_hash(token))
    session.add(key)
    session.flush()
    return key, token


def authenticate(session: Session, token: str) -> ApiKey:
    if not token.startswith(TOKEN_PREFIX) or len(token) > 100:
        raise Unauthenticated("the API key is not a cdp key")
    key = session.scalars(select(ApiKey).where(ApiKey.token_hash == _hash(token))).first()
    if key is None or key.revoked_at is not None:
        raise Unauthenticated("the API key is unknown or revoked")
    return key


def list_keys(session: Session) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).order_by(col(ApiKey.created_at))))


def revoke_key(session: Session, key_id: str) -> ApiKey:
    key = session.get(ApiKey, key_id)
    if key is None:
        raise NotFound(f"no API key {key_id!r}")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        session.flush()
    return key
