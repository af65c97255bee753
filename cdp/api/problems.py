"""The only place errors become HTTP responses: RFC 9457 `application/problem+json`.

Domain errors map through their nearest category in the MRO; framework errors (validation, 404/405) and
unexpected exceptions get the same shape. Nothing here echoes request input.
"""

import logging
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from cdp import errors
from cdp.connectors.http import ConnectorRejected
from cdp.ingest.validate import safe_loc, safe_message
from cdp.profiles.errors import ProfileMerged

log = logging.getLogger(__name__)
MEDIA_TYPE = "application/problem+json"

STATUS: dict[type[errors.CdpError], int] = {
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.Unauthenticated: 401,
    errors.PermissionDenied: 403,
    errors.InvalidInput: 422,
    errors.TooLarge: 413,
    errors.UnsupportedMedia: 415,
    errors.Unavailable: 503,
    errors.IntegrityError: 500,
    ConnectorRejected: 502,  # a tool refused cdp's call (bad credentials, bad request): a gateway error
}


RESERVED = frozenset({"type", "title", "status", "detail", "instance"})
"""RFC 9457 §3.1 members: an extension never overrides them (a connector's upstream `status` once did: 500)."""


def safe_extensions(extensions: Any) -> dict[str, Any]:
    """Extensions without the reserved members; a clashing key is kept as `upstream_<key>` rather than lost."""
    out: dict[str, Any] = {}
    for key, value in dict(extensions).items():
        name = f"upstream_{key}" if key in RESERVED else str(key)
        out.setdefault(name, value)
    return out


def request_id_of(request: Request) -> str:
    return str(request.scope.get("state", {}).get("request_id", "-"))


def problem_response(
    request: Request,
    *,
    status: int,
    type_: str,
    title: str,
    detail: str,
    headers: dict[str, str] | None = None,
    extensions: Any = None,
    **ext: Any,
) -> JSONResponse:
    ext = {**dict(extensions or {}), **ext}
    body = {
        "type": type_,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": f"urn:cdp:request:{request_id_of(request)}",
        **safe_extensions(ext),
    }
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def _same_uuid(raw: object, value: uuid.UUID) -> bool:
    try:
        return uuid.UUID(str(raw)) == value
    except ValueError:
        return False


async def _cdp_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, errors.CdpError)
    status = next((STATUS[c] for c in type(exc).__mro__ if c in STATUS), 500)
    headers: dict[str, str] = {}
    if isinstance(exc, errors.Unauthenticated):
        headers["WWW-Authenticate"] = 'Bearer realm="cdp"'
    if isinstance(exc, ProfileMerged) and _same_uuid(request.path_params.get("profile_id"), exc.profile_id):
        # The resource in the URL moved: redirect. A merged id given in a body is a plain 409 conflict.
        status = 308
        headers["Location"] = str(request.url.path).replace(
            str(request.path_params.get("profile_id")), str(exc.survivor_id)
        )
    if status >= 500:
        log.error("api.integrity_error", extra={"error": type(exc).__name__, "request_id": request_id_of(request)})
    return problem_response(
        request,
        status=status,
        type_=f"/problems/{exc.slug}",
        title=exc.title,
        detail=exc.detail,
        headers=headers,
        extensions=exc.extensions,
    )


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errs = [
        {
            "loc": safe_loc(e.get("loc", ()), str(e.get("type", ""))),
            "msg": safe_message(e),
            "type": str(e.get("type", "")),
        }
        for e in exc.errors()
    ]
    return problem_response(
        request,
        status=422,
        type_="/problems/invalid-input",
        title="Invalid input",
        detail="the request does not match the expected shape; see `errors`",
        errors=errs,
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else "request failed"
    return problem_response(
        request,
        status=exc.status_code,
        type_="about:blank",
        title=detail,
        detail=detail,
        headers=dict(exc.headers or {}),
    )


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error("api.unhandled", extra={"error": type(exc).__name__, "request_id": request_id_of(request)})
    return problem_response(
        request,
        status=500,
        type_="/problems/internal",
        title="Internal error",
        detail=f"an unexpected error occurred; quote request id {request_id_of(request)}",
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(errors.CdpError, _cdp_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)


def problem_types() -> list[dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    stack: list[type[errors.CdpError]] = [errors.CdpError]
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        if cls is errors.CdpError:
            continue
        status = 308 if cls is ProfileMerged else next((STATUS[c] for c in cls.__mro__ if c in STATUS), 500)
        seen.setdefault(cls.slug, {"type": f"/problems/{cls.slug}", "title": cls.title, "status": status})
    for extra in (
        {"type": "/problems/internal", "title": "Internal error", "status": 500},
        {"type": "/problems/malformed-body", "title": "Malformed request body", "status": 400},
    ):
        seen.setdefault(str(extra["type"]), extra)
    return sorted(seen.values(), key=lambda p: str(p["type"]))
