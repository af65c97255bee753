"""Typeform webhook: `Typeform-Signature: sha256=<base64 HMAC-SHA256(secret, raw body)>`; no timestamp."""

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
from typing import Any

from cdp.connectors import NO_QUERY, BadSignature, Headers, Query
from connectors.typeform.mapping import FieldMap, map_response

SIGNATURE_HEADER = "Typeform-Signature"
PREFIX = "sha256="


def sign(secret: str, raw_body: bytes) -> str:
    digest = hmac.new(secret.encode(), raw_body, hashlib.sha256).digest()
    return PREFIX + base64.b64encode(digest).decode()


class TypeformWebhook:
    name = "typeform"

    def __init__(self, field_map: FieldMap | None = None) -> None:
        self.field_map = field_map or FieldMap()

    def verify(
        self, headers: Headers, raw_body: bytes, now: dt.datetime, *, secret: str | None, query: Query = NO_QUERY
    ) -> None:
        if not secret:
            raise BadSignature("no secret is configured for this connector")
        header = headers.get(SIGNATURE_HEADER)
        if not header or not header.startswith(PREFIX):
            raise BadSignature(f"missing or malformed {SIGNATURE_HEADER} header")
        try:
            given = base64.b64decode(header.removeprefix(PREFIX), validate=True)
        except binascii.Error as exc:
            raise BadSignature(f"malformed {SIGNATURE_HEADER} header") from exc
        expected = hmac.new(secret.encode(), raw_body, hashlib.sha256).digest()
        if not hmac.compare_digest(given, expected):
            raise BadSignature("the webhook signature does not match the body")

    def parse(self, raw_body: bytes, headers: Headers) -> list[dict[str, Any]]:
        payload = json.loads(raw_body)
        if not isinstance(payload, dict):
            raise ValueError("a Typeform webhook body is a JSON object")
        if payload.get("event_type") != "form_response":
            return []  # partial responses carry no submission; nothing to record yet
        return [map_response(payload, raw_body, self.field_map)]
