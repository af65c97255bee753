"""Fixtures: one suite, two backends.

SQLite by default; `CDP_TEST_DATABASE_URL=postgresql+psycopg://…/test` runs everything on PostgreSQL.
Each run migrates a pair of template databases once (data + compliance store). Tests get either a
per-test SAVEPOINT over the shared migrated pair (`stores`, `session`, `client`: everything rolls back),
or, when other processes must see commits, a fresh committed pair cloned from the template (`committed`).
"""

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import make_url
from sqlalchemy.orm import Session

from cdp import migrate
from cdp.bootstrap import Runtime, open_runtime
from cdp.crypto.envelope import KEYRING_INFO_KEY
from cdp.crypto.keyring import Keyring, create_key_file, keyring_from_file
from cdp.db import Stores, make_engine, make_session_factory, unit_of_work
from cdp.policies import POLICIES_INFO_KEY, load_policies
from cdp.settings import DEFAULT_POLICIES_DIR, Settings

PG_URL = os.environ.get("CDP_TEST_DATABASE_URL")
BACKEND = "postgresql" if PG_URL else "sqlite"
REPO = Path(__file__).resolve().parent.parent


def pytest_report_header() -> str:
    return f"cdp test backend: {BACKEND}"


@dataclass
class DbPair:
    data_url: str
    compliance_url: str
    files: tuple[Path, ...] = ()


def _pg_admin(sql: str) -> None:
    import psycopg

    assert PG_URL
    url = make_url(PG_URL)
    with psycopg.connect(
        host=url.host or "127.0.0.1",
        port=url.port or 5432,
        user=url.username or "postgres",
        password=url.password,
        dbname=url.database or "postgres",
        autocommit=True,
    ) as conn:
        conn.execute(sql)  # type: ignore[arg-type]


def _pg_url(name: str) -> str:
    assert PG_URL
    return make_url(PG_URL).set(database=name).render_as_string(hide_password=False)


class Databases:
    """Creates and drops database pairs for one test run."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.run_id = uuid.uuid4().hex[:10]
        self.created: list[str] = []
        self.template = self._new_empty("template")
        for store, url in (("data", self.template.data_url), ("compliance", self.template.compliance_url)):
            migrate.upgrade(store, url)  # type: ignore[arg-type]

    def _new_empty(self, label: str) -> DbPair:
        if BACKEND == "sqlite":
            folder = self.tmp / f"{label}-{uuid.uuid4().hex[:6]}"
            folder.mkdir()
            data, comp = folder / "cdp.db", folder / "cdp-compliance.db"
            return DbPair(f"sqlite:///{data}", f"sqlite:///{comp}", (data, comp))
        names = [f"cdp_test_{self.run_id}_{label}", f"cdp_test_{self.run_id}_{label}_compliance"]
        for name in names:
            _pg_admin(f'CREATE DATABASE "{name}"')
            self.created.append(name)
        return DbPair(_pg_url(names[0]), _pg_url(names[1]))

    def clone(self, label: str) -> DbPair:
        """A migrated pair from the template: a file copy on SQLite, CREATE DATABASE … TEMPLATE on PostgreSQL."""
        label = f"{label}_{uuid.uuid4().hex[:6]}"
        if BACKEND == "sqlite":
            folder = self.tmp / label
            folder.mkdir()
            files = []
            for src in self.template.files:
                dst = folder / src.name
                shutil.copyfile(src, dst)
                files.append(dst)
            return DbPair(f"sqlite:///{files[0]}", f"sqlite:///{files[1]}", tuple(files))
        src = [make_url(u).database for u in (self.template.data_url, self.template.compliance_url)]
        names = [f"cdp_test_{self.run_id}_{label}", f"cdp_test_{self.run_id}_{label}_compliance"]
        for name, template in zip(names, src, strict=True):
            _pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
            self.created.append(name)
        return DbPair(_pg_url(names[0]), _pg_url(names[1]))

    def drop(self, pair: DbPair) -> None:
        if BACKEND == "sqlite":
            return
        for url in (pair.data_url, pair.compliance_url):
            name = make_url(url).database
            _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            if name in self.created:
                self.created.remove(name)

    def drop_all(self) -> None:
        if BACKEND == "sqlite":
            return
        for name in list(self.created):
            _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.created.clear()


@pytest.fixture(scope="session")
def databases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Databases]:
    dbs = Databases(tmp_path_factory.mktemp("db"))
    try:
        yield dbs
    finally:
        dbs.drop_all()


@pytest.fixture(scope="session")
def shared_pair(databases: Databases) -> DbPair:
    return databases.clone("shared")


@pytest.fixture(scope="session")
def key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("keys") / "cdp.keys.json"
    create_key_file(path)
    return path


@pytest.fixture(scope="session")
def keyring(key_file: Path) -> Keyring:
    return keyring_from_file(key_file)


def make_settings(pair: DbPair, key_file: Path, **overrides: object) -> Settings:
    return Settings(
        database_url=pair.data_url,
        compliance_database_url=pair.compliance_url,
        key_file=key_file,
        policies_dir=DEFAULT_POLICIES_DIR,
        **overrides,  # type: ignore[arg-type]
    )


@pytest.fixture
def settings(shared_pair: DbPair, key_file: Path) -> Settings:
    return make_settings(shared_pair, key_file)


@pytest.fixture(scope="session")
def shared_engines(shared_pair: DbPair) -> Iterator[tuple[object, object]]:
    data, comp = make_engine(shared_pair.data_url), make_engine(shared_pair.compliance_url)
    yield data, comp
    data.dispose()
    comp.dispose()


@pytest.fixture
def stores(shared_engines: tuple[object, object], keyring: Keyring) -> Iterator[Stores]:
    """Both stores inside an outer transaction per test: code under test may commit; all of it rolls back."""
    data_engine, comp_engine = shared_engines
    data_conn = data_engine.connect()  # type: ignore[attr-defined]
    comp_conn = comp_engine.connect()  # type: ignore[attr-defined]
    data_tx, comp_tx = data_conn.begin(), comp_conn.begin()
    yield Stores(
        data=make_session_factory(data_conn, join_transaction_mode="create_savepoint"),
        compliance=make_session_factory(comp_conn, join_transaction_mode="create_savepoint"),
        info={KEYRING_INFO_KEY: keyring, POLICIES_INFO_KEY: load_policies(DEFAULT_POLICIES_DIR)},
    )
    data_tx.rollback()
    comp_tx.rollback()
    data_conn.close()
    comp_conn.close()


@pytest.fixture
def session(stores: Stores) -> Iterator[Session]:
    with unit_of_work(stores) as s:
        yield s


@pytest.fixture
def runtime(settings: Settings, stores: Stores) -> Runtime:
    return open_runtime(settings, stores=stores)


@pytest.fixture
def client(runtime: Runtime, settings: Settings) -> Iterator["object"]:
    from fastapi.testclient import TestClient

    from cdp.api.app import create_app

    with TestClient(create_app(settings, runtime=runtime), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def api_keys(runtime: Runtime) -> dict[str, dict[str, str]]:
    """Authorization headers for one key per role."""
    from cdp.auth.keys import create_key
    from cdp.policies import ROLES

    headers: dict[str, dict[str, str]] = {}
    with unit_of_work(runtime.stores) as s:
        for role in ROLES:
            _, token = create_key(s, name=f"test-{role}", role=role, known_roles=set(ROLES))
            headers[role] = {"Authorization": f"Bearer {token}"}
    return headers


@dataclass
class Committed:
    """A committed, migrated database pair and everything needed to run the CLI or API against it."""

    pair: DbPair
    settings: Settings
    env: dict[str, str]
    workdir: Path

    def cli(
        self, *args: str, check: bool = True, input: str | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [sys.executable, "-m", "cdp", *args],
            env=self.env,
            cwd=self.workdir,
            capture_output=True,
            text=True,
            input=input,
            timeout=timeout,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"cdp {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        return proc

    def open_runtime(self) -> Runtime:
        return open_runtime(self.settings)


@pytest.fixture
def committed(databases: Databases, tmp_path: Path) -> Iterator[Committed]:
    pair = databases.clone("committed")
    key_file = tmp_path / "cdp.keys.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDP_")}
    env.update(
        {
            "CDP_DATABASE_URL": pair.data_url,
            "CDP_COMPLIANCE_DATABASE_URL": pair.compliance_url,
            "CDP_KEY_FILE": str(key_file),
            "CDP_POLICIES_DIR": str(DEFAULT_POLICIES_DIR),
        }
    )
    settings = make_settings(pair, key_file)
    yield Committed(pair=pair, settings=settings, env=env, workdir=tmp_path)
    databases.drop(pair)


@pytest.fixture
def make_records() -> Callable[..., list[dict[str, object]]]:
    from tests.factories import contact_rows

    return contact_rows


@pytest.fixture
def webhook_client(settings: Settings, stores: Stores) -> Iterator[Callable[..., "object"]]:
    """A TestClient factory for webhook tests: connector secrets in settings and, optionally, a pinned clock."""
    import datetime as dt
    from contextlib import ExitStack

    from fastapi.testclient import TestClient

    from cdp.api.app import create_app
    from cdp.api.routes.webhooks import webhook_now

    exits = ExitStack()

    def make(secrets: dict[str, str], now: dt.datetime | None = None) -> TestClient:
        configured = settings.model_copy(update={"connector_secrets": {k: SecretStr(v) for k, v in secrets.items()}})
        app = create_app(configured, runtime=open_runtime(configured, stores=stores))
        if now is not None:
            app.dependency_overrides[webhook_now] = lambda: now
        return exits.enter_context(TestClient(app, raise_server_exceptions=False))

    with exits:
        yield make
