"""`cdp sync hubspot` killed with SIGKILL mid-sync, then restarted, ends with exactly the data of one clean run
(compared against a clean run in a separate committed database)."""

import dataclasses
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select

from cdp.consent.models import ConsentEvent
from cdp.crypto.envelope import vault
from cdp.db import unit_of_work
from cdp.ingest.models import ConnectorState
from cdp.profiles import store
from cdp.profiles.models import Event, Identity, Profile, SourceRecord
from cdp.settings import DEFAULT_POLICIES_DIR
from tests.conftest import REPO, Committed, Databases, make_settings
from tests.connectors.helpers import fixture
from tests.connectors.hubspot.fake_hubspot import TOKEN, FakeHubSpot, contact, fixture_contacts, serve

pytestmark = pytest.mark.committed
BASE_MS = 1_794_787_200_000  # 2026-11-16


@pytest.fixture
def hubspot() -> Iterator[FakeHubSpot]:
    fake = FakeHubSpot()
    fake.add(*fixture_contacts())
    fake.add(*(contact(n, BASE_MS + n * 60_000) for n in range(154, 161)))
    archived = fixture("hubspot_contact_page_archived.json")["results"][0]
    fake.archived[archived["id"]] = archived
    with serve(fake):
        yield fake


@pytest.fixture
def clean_db(databases: Databases, tmp_path: Path) -> Iterator[Committed]:
    """A second committed pair (with its own key file) for the reference run."""
    pair = databases.clone("clean")
    workdir = tmp_path / f"clean-{uuid.uuid4().hex[:6]}"
    workdir.mkdir()
    key_file = workdir / "cdp.keys.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDP_")}
    env.update(
        {
            "CDP_DATABASE_URL": pair.data_url,
            "CDP_COMPLIANCE_DATABASE_URL": pair.compliance_url,
            "CDP_KEY_FILE": str(key_file),
            "CDP_POLICIES_DIR": str(DEFAULT_POLICIES_DIR),
        }
    )
    yield Committed(pair=pair, settings=make_settings(pair, key_file), env=env, workdir=workdir)
    databases.drop(pair)


def with_hubspot(db: Committed, fake: FakeHubSpot) -> Committed:
    return dataclasses.replace(
        db,
        env={
            **db.env,
            # This checkout's code, not whichever one the virtualenv points at.
            "PYTHONPATH": os.pathsep.join([str(REPO), *filter(None, [db.env.get("PYTHONPATH")])]),
            "CDP_CONNECTOR_HUBSPOT__BASE_URL": fake.url,
            "CDP_CONNECTOR_HUBSPOT__TOKEN": TOKEN,
            "CDP_CONNECTOR_HUBSPOT__PAGE_SIZE": "2",
            "CDP_CONNECTOR_HUBSPOT__RETRY_ATTEMPTS": "2",
        },
    )


def snapshot(db: Committed) -> dict[str, Any]:
    """Everything the sync stored, decrypted, independent of ids, keys and the time it ran."""
    runtime = db.open_runtime()
    try:
        with unit_of_work(runtime.stores) as s:
            v = vault(s)
            records = s.scalars(select(SourceRecord).where(SourceRecord.source == "hubspot")).all()
            payloads = sorted((store.source_payload(s, r) for r in records), key=lambda p: p["external_id"])
            events = sorted(
                (
                    e.type,
                    e.occurred_at.isoformat(),
                    repr(v.decrypt_json(e.profile_id, e.properties, context=store.EVENT_PROPERTIES))
                    if e.properties
                    else "",
                )
                for e in s.scalars(select(Event).where(col(Event.source) == "hubspot")).all()
            )
            consents = sorted(
                (c.purpose, c.status, c.method, c.occurred_at.isoformat())
                for c in s.scalars(select(ConsentEvent).where(col(ConsentEvent.source) == "hubspot")).all()
            )
            return {
                "payloads": payloads,
                "events": events,
                "consents": consents,
                "profiles": len(s.scalars(select(Profile.id)).all()),
                "identities": sorted(i.kind for i in s.scalars(select(Identity)).all()),
            }
    finally:
        runtime.close()


def checkpoint(db: Committed) -> dict[str, Any]:
    runtime = db.open_runtime()
    try:
        with unit_of_work(runtime.stores) as s:
            state = s.get(ConnectorState, "hubspot")
            return dict(state.cursor) if state is not None else {}
    finally:
        runtime.close()


def test_a_killed_sync_resumes_to_the_result_of_one_clean_run(
    committed: Committed, clean_db: Committed, hubspot: FakeHubSpot
) -> None:
    killed = with_hubspot(committed, hubspot)
    hubspot.hold_after = "6"  # the fourth page of live contacts waits until the process is gone
    proc = subprocess.Popen(
        [sys.executable, "-m", "cdp", "sync", "hubspot"],
        env=killed.env,
        cwd=killed.workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        for _ in range(900):
            if hubspot.reached.wait(0.1) or proc.poll() is not None:
                break
        assert proc.poll() is None and proc.stderr, proc.stderr.read().decode() if proc.stderr else ""
        assert hubspot.reached.is_set()
        # Three pages are committed with their cursor; the fourth is in flight.
        assert checkpoint(killed)["after"] == "6"
        assert len(snapshot(killed)["payloads"]) == 6
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
        if proc.stderr:
            proc.stderr.close()
    hubspot.hold_after = None
    hubspot.release.set()
    hubspot.log.clear()

    resumed = killed.cli("sync", "hubspot")
    assert "resumed from checkpoint" in resumed.stdout
    # Only the page in flight and those after it are read again.
    assert [q.get("after") for q in hubspot.requests("/crm/v3/objects/contacts")] == ["6", "8", None]

    with_hubspot(clean_db, hubspot).cli("sync", "hubspot")
    after_kill, clean = snapshot(killed), snapshot(clean_db)
    assert (
        len(clean["payloads"]) == 10 and clean["consents"]
    )  # 10 live contacts (+1 archived, never seen); Grace's opt-out
    assert len(clean["events"]) > 11 and after_kill == clean
