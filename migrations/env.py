"""Shared Alembic environment for both stores; each store's env.py calls `run(store)`."""

from typing import Any

from alembic import context
from sqlalchemy import Connection, engine_from_config, pool

import cdp.models
from cdp.db import STORE_INFO_KEY


def _belongs_to(store: str):  # type: ignore[no-untyped-def]
    def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        if type_ != "table":
            return True
        table = cdp.models.metadata.tables.get(name or "")
        if table is None:
            return not (name or "").startswith("alembic_version")
        return bool(table.info.get(STORE_INFO_KEY, "data") == store)

    return include_object


def _configure(connection: Connection, store: str) -> None:
    context.configure(
        connection=connection,
        target_metadata=cdp.models.metadata,
        include_object=_belongs_to(store),
        compare_type=True,
        render_as_batch=connection.dialect.name == "sqlite",
        # cdp.db's pysqlite recipe makes SQLite DDL transactional: a failed migration leaves nothing behind.
        transactional_ddl=True,
        version_table=f"alembic_version_{store}" if store != "data" else "alembic_version",
    )


def run(store: str) -> None:
    config = context.config
    if context.is_offline_mode():
        # `alembic upgrade --sql`: render DDL for review without a connection (PostgreSQL; SQLite's
        # batch migrations need a live database to reflect).
        context.configure(
            url=config.get_main_option("sqlalchemy.url"),
            target_metadata=cdp.models.metadata,
            include_object=_belongs_to(store),
            literal_binds=True,
            version_table=f"alembic_version_{store}" if store != "data" else "alembic_version",
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection, store)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = engine_from_config(
        config.get_section(config.config_ini_section) or {}, prefix="sqlalchemy.", poolclass=pool.NullPool
    )
    with engine.connect() as conn:
        _configure(conn, store)
        with context.begin_transaction():
            context.run_migrations()
