"""Stateful fakes of the destinations' documented APIs, served by pytest-httpserver on 127.0.0.1.

Each fake records every request it received (method, path, query, JSON body) so tests assert on what left
cdp, and can be scripted to answer the next N calls with a 429 + Retry-After or a 5xx first.
"""

import hashlib
import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

LIST_ID = "a6b5da1054"


@dataclass
class Received:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    headers: dict[str, str]
    raw: bytes = b""


@dataclass
class Fake:
    received: list[Received] = field(default_factory=list)
    script: list[tuple[int, dict[str, str], Any]] = field(default_factory=list)

    def fail_next(self, status: int, times: int = 1, headers: dict[str, str] | None = None, body: Any = None) -> None:
        self.script.extend([(status, headers or {}, body)] * times)

    def handle(self, request: Request) -> Response:
        raw = request.get_data()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode()
        self.received.append(
            Received(request.method, request.path, dict(request.args), body, dict(request.headers), raw)
        )
        if self.script:
            status, headers, reply = self.script.pop(0)
            return Response(json.dumps(reply or {}), status=status, headers=headers, content_type="application/json")
        return self.answer(request, body)

    def answer(self, request: Request, body: Any) -> Response:
        return Response("{}", status=200, content_type="application/json")

    def install(self, server: HTTPServer) -> "Fake":
        server.expect_request(re.compile(".*")).respond_with_handler(self.handle)
        return self

    def calls(self, method: str, path_re: str = ".*") -> list[Received]:
        return [r for r in self.received if r.method == method and re.fullmatch(path_re, r.path)]


def md5(email: str) -> str:
    return hashlib.md5(email.strip().lower().encode()).hexdigest()


class FakeMailchimp(Fake):
    """`POST /3.0/lists/{id}` (batch subscribe), `DELETE .../members/{hash}`, `POST .../actions/delete-permanent`."""

    def __init__(self) -> None:
        super().__init__()
        self.members: dict[str, dict[str, Any]] = {}
        self.deleted: set[str] = set()

    def answer(self, request: Request, body: Any) -> Response:
        path = request.path
        if request.method == "POST" and path == f"/3.0/lists/{LIST_ID}":
            new, updated, errors = [], [], []
            for m in body["members"]:
                email = m["email_address"]
                if "@" not in email or md5(email) in self.deleted:
                    errors.append(
                        {"email_address": email, "error": "invalid", "error_code": "ERROR_GENERIC",
                         "field": "email_address", "field_message": ""}
                    )  # fmt: skip
                    continue
                h = md5(email)
                row = {"id": h, "email_address": email, "status": m["status"], "list_id": LIST_ID}
                (updated if h in self.members else new).append(row)
                self.members[h] = {**m}
            reply = {
                "new_members": new, "updated_members": updated, "errors": errors,
                "total_created": len(new), "total_updated": len(updated), "error_count": len(errors),
            }  # fmt: skip
            return Response(json.dumps(reply), status=200, content_type="application/json")
        match = re.fullmatch(rf"/3.0/lists/{LIST_ID}/members/([0-9a-f]{{32}})(/actions/delete-permanent)?", path)
        if match:
            h = match.group(1)
            if h not in self.members:
                problem = {"type": "x", "title": "Resource Not Found", "status": 404, "detail": "", "instance": ""}
                return Response(json.dumps(problem), status=404, content_type="application/problem+json")
            self.members.pop(h)
            if match.group(2):
                self.deleted.add(h)
            return Response("", status=204)
        return Response("{}", status=404, content_type="application/json")


class FakeSendGrid(Fake):
    """`PUT /v3/marketing/contacts` (202 job), `POST .../contacts/search/identifiers/external_id`, `DELETE ?ids=`."""

    def __init__(self) -> None:
        super().__init__()
        self.contacts: dict[str, dict[str, Any]] = {}  # sendgrid id -> contact

    def _by_external(self, external_id: str) -> str | None:
        return next((k for k, c in self.contacts.items() if c.get("external_id") == external_id), None)

    def answer(self, request: Request, body: Any) -> Response:
        path = request.path
        if request.method == "PUT" and path == "/v3/marketing/contacts":
            for c in body["contacts"]:
                key = self._by_external(c["external_id"]) or str(uuid.uuid4())
                self.contacts[key] = {**c, "id": key}
            return Response(json.dumps({"job_id": str(uuid.uuid4())}), status=202, content_type="application/json")
        if request.method == "POST" and path == "/v3/marketing/contacts/search/identifiers/external_id":
            result: dict[str, Any] = {}
            for wanted in body["identifiers"]:
                key = self._by_external(wanted)
                result[wanted] = {"contact": self.contacts[key]} if key else {"error": "contact not found"}
            if not any("contact" in r for r in result.values()):
                return Response('{"errors":[{"message":"no contacts found"}]}', status=404)
            return Response(json.dumps({"result": result}), status=200, content_type="application/json")
        if request.method == "DELETE" and path == "/v3/marketing/contacts":
            for key in request.args.get("ids", "").split(","):
                self.contacts.pop(key, None)
            return Response(json.dumps({"job_id": str(uuid.uuid4())}), status=202, content_type="application/json")
        return Response('{"errors":[{"message":"not found"}]}', status=404, content_type="application/json")


class FakeReceiver(Fake):
    """Any JSON webhook receiver: answers 200 to every POST."""
