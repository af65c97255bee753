"""Request dependencies: one unit of work per request, the authenticated principal, and permission checks."""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from cdp.audit.log import Actor, append
from cdp.auth.keys import authenticate
from cdp.bootstrap import Runtime
from cdp.db import unit_of_work
from cdp.errors import PermissionDenied, Unauthenticated

_bearer = HTTPBearer(auto_error=False, description="An API key from `cdp keys create`.")


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def get_session(runtime: RuntimeDep) -> Iterator[Session]:
    with unit_of_work(runtime.stores) as session:
        yield session


# scope="function": the commit happens before the response is sent, so a failed commit is a 500
# problem and never a 200 followed by a silent loss (FastAPI >= 0.121).
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


@dataclass(frozen=True)
class Principal:
    key_id: str
    role: str

    @property
    def actor(self) -> Actor:
        return Actor(self.key_id, self.role)


def get_principal(
    runtime: RuntimeDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Principal:
    if credentials is None:
        raise Unauthenticated("send an API key as `Authorization: Bearer <key>`")
    with unit_of_work(runtime.stores) as session:
        key = authenticate(session, credentials.credentials)
        return Principal(key.id, key.role)


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def require(*permissions: str) -> Callable[..., Principal]:
    """A dependency that lets the request through if the caller's role has any of `permissions`.

    A refusal is written to the audit log in its own transaction, since the request's will roll back.
    """

    def check(request: Request, runtime: RuntimeDep, principal: PrincipalDep) -> Principal:
        access = runtime.policies.access
        if any(access.allows(principal.role, p) for p in permissions):
            return principal
        route = getattr(request.scope.get("route"), "path", "(unmatched)")
        with unit_of_work(runtime.stores) as session:
            append(
                session,
                actor=principal.actor,
                action="access.denied",
                resource_type="route",
                resource_id=None,
                outcome="denied",
                details={"route": route, "method": request.method},
            )
        allowed = sorted({r for p in permissions for r in access.roles_with(p)})
        raise PermissionDenied(
            f"role {principal.role!r} may not do this; allowed roles: {', '.join(allowed) or 'none'}",
            allowed_roles=allowed,
        )

    return check
