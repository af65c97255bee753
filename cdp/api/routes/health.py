"""Liveness, readiness and the list of problem types."""

from typing import Any

from fastapi import APIRouter
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from cdp.api.deps import RuntimeDep
from cdp.api.problems import problem_types
from cdp.errors import Unavailable

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
def readyz(runtime: RuntimeDep) -> dict[str, Any]:
    """Both stores reachable and migrated to head."""
    from cdp import migrate  # alembic costs ~0.25 s to import; only readiness needs it

    checks: dict[str, str] = {}
    stores: tuple[tuple[migrate.Store, sessionmaker[Session]], ...] = (
        ("data", runtime.stores.data),
        ("compliance", runtime.stores.compliance),
    )
    for store_name, factory in stores:
        try:
            with factory() as session:
                session.execute(text("SELECT 1"))
                at_head = migrate.is_at_head(session.connection(), store_name)
        except Exception as exc:
            raise Unavailable(f"{store_name} store is unreachable ({type(exc).__name__})", store=store_name) from exc
        if not at_head:
            raise Unavailable(f"{store_name} store is not migrated to head; run `cdp db upgrade`", store=store_name)
        checks[store_name] = "ok"
    return {"status": "ready", "checks": checks}


@router.get("/problems")
def problems() -> list[dict[str, Any]]:
    return problem_types()
