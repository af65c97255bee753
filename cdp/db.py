"""Engines, sessions and the unit of work for the two stores: the data store and the compliance store.

Nothing here runs at import. `open_stores(settings)` builds both engines; `unit_of_work(stores)` yields the
data session with its sibling compliance session in `session.info["compliance"]`, so domain functions keep
the shape `f(session, ...)` and never commit. The compliance store commits first: a data key must exist
before rows encrypted under it are visible, and an erasure must destroy the key even if the row deletion
has to be retried.
"""

import datetime as dt
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import DateTime, Engine, create_engine, event
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.types import TypeDecorator

STORE_INFO_KEY = "store"
COMPLIANCE = "compliance"


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Aware UTC datetimes on both backends: SQLite drops the zone, so it is put back on read."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where an aware UTC datetime is required")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def is_sqlite(url_or_engine: str | Engine) -> bool:
    url = url_or_engine if isinstance(url_or_engine, str) else str(url_or_engine.url)
    return url.startswith("sqlite")


def make_engine(url: str, *, busy_timeout_ms: int = 30_000, echo: bool = False) -> Engine:
    if not is_sqlite(url):
        return create_engine(url, pool_pre_ping=True, echo=echo)
    engine = create_engine(url, echo=echo, connect_args={"check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # SQLAlchemy's documented pysqlite recipe: let SQLAlchemy emit BEGIN itself so that SAVEPOINTs,
        # transactional DDL and BEGIN IMMEDIATE work as on PostgreSQL.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in (
            "journal_mode=WAL",
            "foreign_keys=ON",
            f"busy_timeout={int(busy_timeout_ms)}",
            "secure_delete=ON",
            "synchronous=NORMAL",
        ):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Every unit of work may write (reads append audit entries), so take the write lock up front:
        # a deferred transaction that later upgrades can fail with SQLITE_BUSY instead of waiting.
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def make_session_factory(bind: Any, **kwargs: Any) -> sessionmaker[Session]:
    return sessionmaker(bind=bind, expire_on_commit=False, **kwargs)


@dataclass
class Stores:
    """The two session factories a unit of work needs, plus what every session carries (the keyring)."""

    data: sessionmaker[Session]
    compliance: sessionmaker[Session]
    info: Mapping[str, Any] = field(default_factory=dict)
    engines: tuple[Engine, ...] = ()

    def dispose(self) -> None:
        for engine in self.engines:
            engine.dispose()


def open_stores(
    data_url: str, compliance_url: str, *, info: Mapping[str, Any], busy_timeout_ms: int = 30_000
) -> Stores:
    data_engine = make_engine(data_url, busy_timeout_ms=busy_timeout_ms)
    compliance_engine = make_engine(compliance_url, busy_timeout_ms=busy_timeout_ms)
    return Stores(
        data=make_session_factory(data_engine),
        compliance=make_session_factory(compliance_engine),
        info=info,
        engines=(data_engine, compliance_engine),
    )


@contextmanager
def unit_of_work(stores: Stores) -> Iterator[Session]:
    """Commit both stores on success (compliance first), roll both back on any exception."""
    with stores.compliance() as compliance, stores.data() as data:
        data.info.update(stores.info)
        data.info[COMPLIANCE] = compliance
        try:
            yield data
            data.flush()
            compliance.commit()
            data.commit()
        except BaseException:
            data.rollback()
            compliance.rollback()
            raise


def compliance_session(session: Session) -> Session:
    compliance = session.info.get(COMPLIANCE)
    if not isinstance(compliance, Session):
        raise RuntimeError("this session was not opened by cdp.db.unit_of_work: it has no compliance store")
    return compliance
