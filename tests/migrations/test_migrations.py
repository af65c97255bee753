from alembic import command
from alembic.script import ScriptDirectory

from cdp import migrate
from cdp.db import make_engine


def _drift(url: str, store: str) -> list[object]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return migrate.schema_drift(conn, store)  # type: ignore[arg-type]
    finally:
        engine.dispose()


def test_models_and_migration_head_agree_on_both_stores(databases):
    pair = databases.clone("drift")
    try:
        for store, url in (("data", pair.data_url), ("compliance", pair.compliance_url)):
            engine = make_engine(url)
            with engine.connect() as conn:
                assert migrate.is_at_head(conn, store)
            engine.dispose()
            assert _drift(url, store) == []
    finally:
        databases.drop(pair)


def test_every_migration_downgrades_and_upgrades_again(databases):
    pair = databases.clone("updown")
    try:
        for store, url in (("data", pair.data_url), ("compliance", pair.compliance_url)):
            script = ScriptDirectory.from_config(migrate.alembic_config(store))
            revisions = list(script.walk_revisions())
            migrate.downgrade(store, url, "base")
            engine = make_engine(url)
            with engine.connect() as conn:
                assert migrate.current_revision(conn, store) is None
            engine.dispose()
            migrate.upgrade(store, url)
            assert _drift(url, store) == []
            assert revisions, "each store has at least its initial migration"
    finally:
        databases.drop(pair)


def test_each_store_holds_only_its_own_tables(databases):
    from sqlalchemy import inspect

    pair = databases.clone("split")
    try:
        data_tables = set(inspect(make_engine(pair.data_url)).get_table_names())
        compliance_tables = set(inspect(make_engine(pair.compliance_url)).get_table_names())
        assert {"data_key", "suppression", "privacy_request"} <= compliance_tables
        assert not {"data_key", "suppression", "privacy_request"} & data_tables
        assert {
            "profile",
            "identity",
            "source_record",
            "event",
            "consent_event",
            "consent_state",
            "audit_log",
            "audience",
            "audience_membership_snapshot",
            "connector_state",
            "quarantine",
            "api_key",
        } <= data_tables
        assert "profile" not in compliance_tables
    finally:
        databases.drop(pair)


def test_postgresql_ddl_renders_offline_for_review(capsys):
    for store in ("data", "compliance"):
        cfg = migrate.alembic_config(store, url="postgresql+psycopg://reviewer@db.invalid/cdp")
        command.upgrade(cfg, "head", sql=True)
    ddl = capsys.readouterr().out
    assert "CREATE TABLE profile" in ddl and "CREATE TABLE data_key" in ddl
    assert "CREATE TRIGGER audit_log_append_only" in ddl
