"""POST audience changes as JSON to any HTTPS endpoint (an internal service, Zapier, a tool without a connector).

Settings: `base_url` (the receiving URL), `secret`; optional `batch_size` (default 500). Each request carries
`X-Cdp-Timestamp` (epoch seconds) and `X-Cdp-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." +
body)>`, the scheme Stripe and Slack use, so a receiver can verify the bytes and refuse replays. Bodies:

    {"action": "upsert", "members": [{"ref", "email", "phone", "first_name", "last_name", "purpose",
                                      "consented_at", "unsubscribe_url"}]}
    {"action": "remove", "refs": [...], "erase": false}
"""

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Sequence
from typing import Any

from cdp.connectors.base import ConnectorConfig, Member, PushResult
from cdp.connectors.http import HttpClient, make_client

SIGNATURE_HEADER = "X-Cdp-Signature"
TIMESTAMP_HEADER = "X-Cdp-Timestamp"


def sign(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def member_json(member: Member) -> dict[str, Any]:
    return {
        "ref": member.ref,
        "email": member.email,
        "phone": member.phone,
        "first_name": member.first_name,
        "last_name": member.last_name,
        "purpose": member.purpose,
        "consented_at": member.consented_at.isoformat() if member.consented_at else None,
        "unsubscribe_url": member.unsubscribe_url,
    }


class WebhookDestination:
    name = "webhook"

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock

    def client(self, config: ConnectorConfig) -> HttpClient:
        config.require("secret")
        return make_client(config)

    def member_ref(self, member: Member) -> str:
        return member.ref

    def _post(self, http: HttpClient, config: ConnectorConfig, payload: dict[str, Any]) -> None:
        body = json.dumps(payload, separators=(",", ":")).encode()
        timestamp = str(int(self._clock()))
        headers = {
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(str(config.require("secret")), timestamp, body),
        }
        http.request("POST", "", content=body, headers=headers)

    def _size(self, config: ConnectorConfig) -> int:
        return max(1, int(config.get("batch_size", 500)))

    def upsert(self, http: HttpClient, config: ConnectorConfig, members: Sequence[Member]) -> PushResult:
        result = PushResult()
        size = self._size(config)
        for start in range(0, len(members), size):
            chunk = members[start : start + size]
            self._post(http, config, {"action": "upsert", "members": [member_json(m) for m in chunk]})
            result.done += [m.ref for m in chunk]
        return result

    def remove(
        self, http: HttpClient, config: ConnectorConfig, refs: Sequence[str], *, erase: bool = False
    ) -> PushResult:
        result = PushResult()
        size = self._size(config)
        for start in range(0, len(refs), size):
            chunk = list(refs[start : start + size])
            self._post(http, config, {"action": "remove", "refs": chunk, "erase": erase})
            result.done += chunk
        return result
