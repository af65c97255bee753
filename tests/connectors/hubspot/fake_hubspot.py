"""A local HubSpot (127.0.0.1, own thread) speaking the documented CRM v3 shapes: list pages with `after`,
`archived=true`, the search API (GTE filter, ascending sort, a result cap answered with 400), communication
preferences, and injected faults (429 + Retry-After and rate-limit body, 5xx). A request can be held until
the test releases it, so a sync can be killed mid-page."""

import datetime as dt
import json
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from tests.connectors.helpers import fixture

TOKEN = "pat-test-token"


def iso(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def ms_of(value: str) -> int:
    return int(dt.datetime.fromisoformat(value).timestamp() * 1000)


def contact(n: int, modified_ms: int, **props: Any) -> dict[str, Any]:
    created = iso(modified_ms - 86_400_000)
    properties = {
        "email": f"person{n}@example.test",
        "firstname": f"First{n}",
        "lastname": f"Last{n}",
        "phone": None,
        "company": "Example Ltd",
        "createdate": created,
        "lastmodifieddate": iso(modified_ms),
        "hs_email_optout": "false",
        "hs_object_id": str(n),
        **props,
    }
    return {
        "id": str(n),
        "properties": properties,
        "createdAt": created,
        "updatedAt": iso(modified_ms),
        "archived": False,
    }


def fixture_contacts() -> list[dict[str, Any]]:
    return [*fixture("hubspot_contact_page.json")["results"], *fixture("hubspot_contact_page_last.json")["results"]]


@dataclass
class Fault:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class FakeHubSpot:
    contacts: dict[str, dict[str, Any]] = field(default_factory=dict)
    archived: dict[str, dict[str, Any]] = field(default_factory=dict)
    preferences: dict[str, dict[str, Any]] = field(default_factory=dict)
    search_cap: int = 10_000
    faults: dict[str, deque[Fault]] = field(default_factory=dict)
    log: list[tuple[str, str, Any]] = field(default_factory=list)
    sleeps: list[float] = field(default_factory=list)  # the client's pauses, recorded instead of slept
    rate_headers: dict[str, str] = field(default_factory=dict)  # sent with every 2xx
    hold_after: str | None = None  # hold the list request with this `after` ...
    reached: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    url: str = ""

    def add(self, *contacts: dict[str, Any]) -> None:
        for c in contacts:
            self.contacts[c["id"]] = c

    def archive(self, contact_id: str, at_ms: int) -> None:
        c = self.contacts.pop(contact_id)
        self.archived[contact_id] = {
            **c,
            "properties": {"hs_object_id": contact_id},
            "archived": True,
            "archivedAt": iso(at_ms),
            "updatedAt": iso(at_ms),
        }

    def fail(self, route: str, *faults: Fault) -> None:
        self.faults.setdefault(route, deque()).extend(faults)

    def requests(self, route: str) -> list[Any]:
        return [params for r, _m, params in self.log if r == route]

    # --- the API -------------------------------------------------------------------------------------------

    def page(self, items: list[dict[str, Any]], after: str | None, limit: int, route: str) -> dict[str, Any]:
        start = int(after or 0)
        chunk = items[start : start + limit]
        body: dict[str, Any] = {"results": chunk}
        if start + limit < len(items):
            nxt = str(start + limit)
            body["paging"] = {"next": {"after": nxt, "link": f"{self.url}{route}?after={nxt}"}}
        return body

    def list_contacts(self, query: dict[str, str]) -> tuple[int, Any]:
        archived = query.get("archived") == "true"
        source = self.archived if archived else self.contacts
        items = [source[k] for k in sorted(source, key=int)]
        wanted = [p for p in query.get("properties", "").split(",") if p]
        if wanted and not archived:
            items = [{**c, "properties": {p: c["properties"].get(p) for p in wanted}} for c in items]
        return 200, self.page(items, query.get("after"), int(query.get("limit", 10)), "/crm/v3/objects/contacts")

    def search(self, body: dict[str, Any]) -> tuple[int, Any]:
        [group] = body["filterGroups"]
        [flt] = group["filters"]
        assert (flt["propertyName"], flt["operator"]) == ("lastmodifieddate", "GTE")
        assert body["sorts"] == [{"propertyName": "lastmodifieddate", "direction": "ASCENDING"}]
        since = int(flt["value"])
        hits = [c for c in self.contacts.values() if ms_of(c["properties"]["lastmodifieddate"]) >= since]
        hits.sort(key=lambda c: (ms_of(c["properties"]["lastmodifieddate"]), int(c["id"])))
        after, limit = int(body.get("after") or 0), int(body["limit"])
        if after + limit > self.search_cap:
            return 400, {"status": "error", "category": "VALIDATION_ERROR", "message": "paging past the result cap"}
        page = self.page(hits, str(after), limit, "/crm/v3/objects/contacts/search")
        page["total"] = len(hits)
        page.get("paging", {}).get("next", {}).pop("link", None)
        return 200, page

    def handle(self, method: str, path: str, query: dict[str, str], body: Any) -> tuple[int, Any, dict[str, str]]:
        route = path if not path.startswith("/communication-preferences/") else "/communication-preferences"
        self.log.append((route, method, body if method == "POST" else query))
        queued = self.faults.get(route)
        if queued:
            fault = queued.popleft()
            return fault.status, fault.body, fault.headers
        if route == "/crm/v3/objects/contacts" and method == "GET":
            if self.hold_after is not None and query.get("after") == self.hold_after:
                self.reached.set()
                self.release.wait(60)
            return (*self.list_contacts(query), {})
        if route == "/crm/v3/objects/contacts/search" and method == "POST":
            return (*self.search(body), {})
        if route == "/communication-preferences":
            email = unquote(path.rsplit("/", 1)[-1])
            if email in self.preferences:
                return 200, self.preferences[email], {}
            return 404, {"status": "error", "category": "OBJECT_NOT_FOUND"}, {}
        return 404, {"status": "error", "category": "OBJECT_NOT_FOUND"}, {}


def _handler(fake: FakeHubSpot) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self, method: str) -> None:
            parts = urlsplit(self.path)
            query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                status, body, headers = 401, {"status": "error", "category": "INVALID_AUTHENTICATION"}, {}
            else:
                status, body, headers = fake.handle(method, parts.path, query, json.loads(raw) if raw else None)
            data = b"" if body is None else json.dumps(body).encode()
            if status < 300:
                headers = {**fake.rate_headers, **headers}
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json;charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client was killed while this request was held

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def serve(fake: FakeHubSpot) -> Iterator[FakeHubSpot]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    server.daemon_threads = True
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        fake.release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)
