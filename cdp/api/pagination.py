"""Opaque cursors for list endpoints (`?cursor=&limit=`, `next_cursor` in the body)."""

import base64
import json
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from cdp.errors import InvalidInput

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    data: list[T]
    next_cursor: str | None = None


def encode_cursor(position: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(position, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> dict[str, Any]:
    if not cursor:
        return {}
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput("`cursor` is not a cursor this API issued", parameter="cursor") from exc
    if not isinstance(value, dict):
        raise InvalidInput("`cursor` is not a cursor this API issued", parameter="cursor")
    return value
