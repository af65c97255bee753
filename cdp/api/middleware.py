"""Pure ASGI middleware: a request id, a body-size limit, and an access line with the route *template*.

Uvicorn's own access log is off: it prints the raw path with its query string, which may carry
personal data.
"""

import json
import logging
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("cdp.access")


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = uuid.uuid4().hex[:16]
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status_holder: dict[str, int] = {"status": 500}

        declared = _content_length(scope)
        if declared is not None and declared > self.max_body_bytes:
            await _too_large(send, request_id, self.max_body_bytes)
            status_holder["status"] = 413
            self._log(scope, 413, started, request_id)
            return

        if scope.get("method") in ("POST", "PUT", "PATCH"):
            # Buffer the body (bounded by the limit) before the app sees it: a streamed body over the limit
            # is refused with 413 here, since the framework would turn an exception raised while it reads
            # the body into a generic 400.
            chunks: list[bytes] = []
            received = 0
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    await _too_large(send, request_id, self.max_body_bytes)
                    self._log(scope, 413, started, request_id)
                    return
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    break
            body = b"".join(chunks)
            replayed = False

            async def replay() -> Message:
                nonlocal replayed
                if not replayed:
                    replayed = True
                    return {"type": "http.request", "body": body, "more_body": False}
                return await receive()

            receive = replay

        async def capture_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, capture_send)
        finally:
            self._log(scope, status_holder["status"], started, request_id)

    @staticmethod
    def _log(scope: Scope, status: int, started: float, request_id: str) -> None:
        route = scope.get("route")
        template = getattr(route, "path", None) or "(unmatched)"
        log.info(
            "http.request",
            extra={
                "method": scope.get("method"),
                "route": template,
                "status": status,
                "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                "request_id": request_id,
            },
        )


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _too_large(send: Send, request_id: str, limit: int) -> None:
    body: dict[str, Any] = {
        "type": "/problems/too-large",
        "title": "Request too large",
        "status": 413,
        "detail": f"the request body exceeds {limit} bytes",
        "instance": f"urn:cdp:request:{request_id}",
    }
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(payload)).encode()),
                (b"x-request-id", request_id.encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
