"""A local Mailchimp list-members API (127.0.0.1, own thread): basic auth with the API key, `count`/`offset`
paging against `total_items`, `since_last_changed`/`before_last_changed` windows ("after" / "before": both
exclusive), and queued faults (429 problem+json, 5xx, a bare 403) served before the next real answers."""

import base64
import copy
import datetime as dt
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.connectors.helpers import fixture

API_KEY = "0123456789abcdef0123456789abcdef-us6"
LIST_ID = "a6b5da1054"


def when(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value)


@dataclass
class Fault:
    status: int
    body: bytes = b""
    content_type: str = "application/problem+json"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class FakeMailchimp:
    members: list[dict[str, Any]] = field(
        default_factory=lambda: copy.deepcopy(fixture("mailchimp_list_members.json")["members"])
    )
    faults: list[Fault] = field(default_factory=list)
    requests: list[dict[str, str]] = field(default_factory=list)
    url: str = ""

    def member(self, email: str) -> dict[str, Any]:
        return next(m for m in self.members if m["email_address"] == email)

    def answer(self, path: str, query: dict[str, str], auth: str | None) -> tuple[int, bytes, str, dict[str, str]]:
        self.requests.append({"path": path, **query})
        expected = "Basic " + base64.b64encode(f"cdp:{API_KEY}".encode()).decode()
        if auth != expected:
            return 401, json.dumps({"title": "API Key Invalid", "status": 401}).encode(), "application/problem+json", {}
        if self.faults:
            fault = self.faults.pop(0)
            return fault.status, fault.body, fault.content_type, fault.headers
        if path != f"/3.0/lists/{LIST_ID}/members":
            return (
                404,
                json.dumps({"title": "Resource Not Found", "status": 404}).encode(),
                "application/problem+json",
                {},
            )
        chosen = self.members
        if "since_last_changed" in query:
            chosen = [m for m in chosen if when(m["last_changed"]) > when(query["since_last_changed"])]
        if "before_last_changed" in query:
            chosen = [m for m in chosen if when(m["last_changed"]) < when(query["before_last_changed"])]
        offset, count = int(query.get("offset", 0)), int(query.get("count", 10))
        body = {
            "members": chosen[offset : offset + count],
            "list_id": LIST_ID,
            "total_items": len(chosen),
            "_links": [],
        }
        return 200, json.dumps(body).encode(), "application/json", {}


@contextmanager
def serve(fake: FakeMailchimp) -> Iterator[FakeMailchimp]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
            status, body, content_type, headers = fake.answer(parts.path, query, self.headers.get("Authorization"))
            self.send_response(status)
            if body:
                self.send_header("Content-Type", content_type)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
