"""Alembic, driven from code: `cdp db upgrade`, `cdp db current`, readiness and the schema-drift check.

Two stores, two migration histories (`migrations/data`, `migrations/compliance`), one command.
"""

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine

from cdp.db import COMPLIANCE, STORE_INFO_KEY, make_engine

Store = Literal["data", "compliance"]
STORES: tuple[Store, ...] = ("compliance", "data")
MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def version_table(store: Store) -> str:
    return "alembic_version" if store == "data" else f"alembic_version_{store}"


def alembic_config(store: Store, *, url: str | None = None, connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR / store))
    cfg.set_main_option("file_template", "%%(year)d_%%(month).2d_%%(day).2d_%%(rev)s_%%(slug)s")
    if url is not None:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["connection"] = connection
    return cfg


@contextmanager
def _connect(url: str) -> Iterator[Connection]:
    engine: Engine = make_engine(url)
    try:
        with engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()


def upgrade(store: Store, url: str, revision: str = "head") -> None:
    with _connect(url) as conn:
        command.upgrade(alembic_config(store, connection=conn), revision)
        conn.commit()


def downgrade(store: Store, url: str, revision: str) -> None:
    with _connect(url) as conn:
        command.downgrade(alembic_config(store, connection=conn), revision)
        conn.commit()


@functools.cache
def head_revision(store: Store) -> str | None:
    return ScriptDirectory.from_config(alembic_config(store)).get_current_head()


def current_revision(conn: Connection, store: Store) -> str | None:
    return MigrationContext.configure(conn, opts={"version_table": version_table(store)}).get_current_revision()


def is_at_head(conn: Connection, store: Store) -> bool:
    head: str | None = head_revision(store)
    return current_revision(conn, store) == head


def schema_drift(conn: Connection, store: Store) -> list[object]:
    """Differences between the models and the migrated schema; empty when they agree."""
    import cdp.models

    def include(obj: object, name: str | None, type_: str, reflected: bool, _compare: object) -> bool:
        if type_ != "table":
            return True
        table = cdp.models.metadata.tables.get(name or "")
        if table is None:
            return not (name or "").startswith("alembic_version")
        table_store: str = table.info.get(STORE_INFO_KEY, "data")
        return (table_store == COMPLIANCE) == (store == COMPLIANCE)

    ctx = MigrationContext.configure(
        conn, opts={"include_object": include, "compare_type": True, "version_table": version_table(store)}
    )
    return list(compare_metadata(ctx, cdp.models.metadata))
