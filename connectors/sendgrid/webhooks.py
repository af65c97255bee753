"""SendGrid signed Event Webhook: ECDSA P-256 / SHA-256 over `timestamp + raw body`, base64 DER signature.

The key is the base64 SPKI DER public key SendGrid shows for the webhook (`CDP_CONNECTOR_SENDGRID_SECRET`).
SendGrid documents no replay window; cdp refuses timestamps more than 300 s from now.
"""

import base64
import binascii
import datetime as dt
import json
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key

from cdp.connectors import NO_QUERY, BadSignature, Headers, Query, check_timestamp
from connectors.sendgrid.mapping import EventMap, map_events

SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"


def load_public_key(key: str) -> ec.EllipticCurvePublicKey:
    try:
        loaded = load_der_public_key(base64.b64decode(key, validate=True))
    except (binascii.Error, ValueError) as exc:
        raise BadSignature("the configured SendGrid verification key is not a base64 SPKI DER key") from exc
    if not isinstance(loaded, ec.EllipticCurvePublicKey) or not isinstance(loaded.curve, ec.SECP256R1):
        raise BadSignature("the configured SendGrid verification key is not a P-256 key")
    return loaded


def verify_signature(public_key: str, signature: str, timestamp: str, raw_body: bytes) -> None:
    """SendGrid's algorithm exactly; raises BadSignature (no timestamp freshness check here)."""
    key = load_public_key(public_key)
    try:
        der = base64.b64decode(signature, validate=True)
        key.verify(der, timestamp.encode() + raw_body, ec.ECDSA(hashes.SHA256()))
    except (binascii.Error, InvalidSignature, ValueError) as exc:
        raise BadSignature("the webhook signature does not match the body") from exc


class SendGridWebhook:
    name = "sendgrid"

    def __init__(self, event_map: EventMap | None = None) -> None:
        self.event_map = event_map or EventMap()

    def verify(
        self, headers: Headers, raw_body: bytes, now: dt.datetime, *, secret: str | None, query: Query = NO_QUERY
    ) -> None:
        if not secret:
            raise BadSignature("no verification key is configured for this connector")
        signature, timestamp = headers.get(SIGNATURE_HEADER), headers.get(TIMESTAMP_HEADER)
        if not signature or not timestamp:
            raise BadSignature(f"missing {SIGNATURE_HEADER} or {TIMESTAMP_HEADER} header")
        if not timestamp.isdigit() or len(timestamp) > 12:
            raise BadSignature(f"malformed {TIMESTAMP_HEADER} header")
        verify_signature(secret, signature, timestamp, raw_body)
        check_timestamp(dt.datetime.fromtimestamp(int(timestamp), dt.UTC), now)

    def parse(self, raw_body: bytes, headers: Headers) -> list[dict[str, Any]]:
        events = json.loads(raw_body)
        if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
            raise ValueError("a SendGrid Event Webhook body is a JSON array of objects")
        return map_events(events, self.event_map)
