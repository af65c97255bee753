"""Two ingestion processes receiving records of the same new people at the same time end with one profile each."""

import subprocess
import sys
import textwrap
import time

from sqlalchemy import func
from sqlmodel import select

from cdp.db import unit_of_work
from cdp.profiles.models import Profile

PEOPLE = 12

WORKER = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    from cdp.audit.log import Actor
    from cdp.bootstrap import open_runtime
    from cdp.db import unit_of_work
    from cdp.ingest.pipeline import ingest_batch
    from cdp.settings import Settings

    source, go = sys.argv[1], Path(sys.argv[2])
    rows = [
        {"external_id": f"{source}-{n}", "observed_at": "2026-05-01T10:00:00Z",
         "email": f"racer{n}.quickstep@acme.example", "first_name": "Racer", "last_name": f"Quickstep{n}"}
        for n in range(int(sys.argv[3]))
    ]
    rt = open_runtime(Settings())
    while not go.exists():
        time.sleep(0.005)
    for row in rows:  # one transaction per record maximises interleaving between the two processes
        with unit_of_work(rt.stores) as session:
            ingest_batch(session, source, [row], actor=Actor(source, "system"))
    rt.close()
    """
)


def test_two_processes_ingesting_the_same_new_people_create_one_profile_each(committed):
    committed.cli("db", "upgrade")
    go = committed.workdir / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, source, str(go), str(PEOPLE)],
            env=committed.env,
            cwd=committed.workdir,
            stderr=subprocess.PIPE,
            text=True,
        )
        for source in ("crm", "webform")
    ]
    time.sleep(1.5)  # both workers have imported everything and are spinning on the start file
    go.touch()
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    rt = committed.open_runtime()
    try:
        with unit_of_work(rt.stores) as s:
            live = s.scalar(select(func.count()).select_from(Profile).where(Profile.merged_into == None))  # noqa: E711
    finally:
        rt.close()
    assert live == PEOPLE
