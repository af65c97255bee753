"""Shared assertions for the API tests: problem+json shape, audit read-back, route enumeration."""

import json
from collections.abc import Iterable, Iterator
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from cdp.audit.models import AuditEntry
from cdp.bootstrap import Runtime
from cdp.db import unit_of_work

PROBLEM_KEYS = ("type", "title", "status", "detail", "instance")
GRANTED_EMAIL_MARKETING = {"purpose": "email_marketing", "status": "granted", "occurred_at": "2026-01-01T00:00:00Z"}


def assert_problem(
    resp: httpx.Response, status: int, *, type_: str | None = None, forbid: Iterable[str] = ()
) -> dict[str, Any]:
    """An RFC 9457 body with every member, the response's own status, and none of `forbid` in it."""
    assert resp.status_code == status, (resp.status_code, resp.text)
    assert resp.headers["content-type"].startswith("application/problem+json"), resp.headers
    body: dict[str, Any] = resp.json()
    missing = [k for k in PROBLEM_KEYS if k not in body]
    assert not missing, f"problem body lacks {missing}: {body}"
    assert body["status"] == status
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str) and body["detail"]
    assert body["instance"] == f"urn:cdp:request:{resp.headers['x-request-id']}"
    if type_ is not None:
        assert body["type"] == type_, body
    for value in forbid:
        assert value.lower() not in resp.text.lower(), f"response echoes {value!r}: {resp.text}"
    return body


def audit_entries(runtime: Runtime, action: str | None = None) -> list[dict[str, Any]]:
    """The audit log as plain dicts, in seq order, read through a unit of work on the runtime's stores."""
    with unit_of_work(runtime.stores) as session:
        query = select(AuditEntry).order_by(AuditEntry.seq)  # type: ignore[arg-type]
        if action is not None:
            query = query.where(AuditEntry.action == action)
        return [e.model_dump() for e in session.scalars(query)]


def dump(value: Any) -> str:
    return json.dumps(value, default=str, sort_keys=True)


def iter_routes(app: FastAPI) -> Iterator[tuple[str, str]]:
    """(method, path template) for every route the app serves, including routers FastAPI includes lazily."""
    try:
        from fastapi.routing import iter_route_contexts  # FastAPI >= 0.13x: included routers are lazy
    except ImportError:  # pragma: no cover - older FastAPI flattens routes itself
        routes: Iterable[Any] = app.routes
    else:
        routes = iter_route_contexts(app.routes)
    for route in routes:
        path = getattr(route, "path", None)
        assert path is not None, f"cannot tell the path of route {route!r}"
        for method in sorted(getattr(route, "methods", None) or {"GET"}):
            if method != "HEAD":
                yield method, path
