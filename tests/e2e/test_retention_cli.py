"""`cdp retention` end to end on a committed database: preview, hold, refuse without --yes, run, release."""

import datetime as dt
import uuid

from cdp.audit.log import SYSTEM
from cdp.db import unit_of_work, utcnow
from cdp.ingest.pipeline import ingest_batch
from cdp.profiles.models import Profile
from tests.factories import contact_row


def _lead(committed) -> str:
    rt = committed.open_runtime()
    try:
        with unit_of_work(rt.stores) as s:
            result = ingest_batch(s, "crm", [contact_row(lifecycle_stage="lead")], actor=SYSTEM)
        return str(result.results[0].profile_id)
    finally:
        rt.close()


def _status(committed, profile_id: str) -> str:
    rt = committed.open_runtime()
    try:
        with unit_of_work(rt.stores) as s:
            return s.get(Profile, uuid.UUID(profile_id)).status
    finally:
        rt.close()


def test_retention_cli_previews_holds_refuses_and_runs(committed):
    lead = _lead(committed)
    later = (utcnow() + dt.timedelta(days=25 * 31)).isoformat()

    soon = committed.cli("retention", "preview", "--at", utcnow().isoformat()).stdout
    assert lead not in soon and "total: 0 rows due" in soon
    listed = committed.cli("retention", "preview", "--at", later).stdout
    assert lead in listed and "prospect-inactive" in listed and "total: 1 rows due" in listed

    refused = committed.cli("retention", "run", "--at", later, check=False)
    assert refused.returncode == 1 and "--yes" in refused.stderr
    assert _status(committed, lead) == "active"

    committed.cli("retention", "hold", lead, "--reason", "case 2026-7")
    held = committed.cli("retention", "run", "--at", later, "--yes").stdout
    assert "total: 0 rows done" in held and "legal_hold 1" in held
    assert _status(committed, lead) == "active"

    committed.cli("retention", "release", lead)
    dry = committed.cli("retention", "run", "--at", later, "--dry-run").stdout
    assert "total: 1 rows would" in dry and _status(committed, lead) == "active"
    done = committed.cli("retention", "run", "--at", later, "--yes").stdout
    assert "total: 1 rows done" in done
    assert _status(committed, lead) == "erased"
    assert "total: 0 rows done" in committed.cli("retention", "run", "--at", later, "--yes").stdout
    assert committed.cli("audit", "verify").stdout.startswith("ok:")


def test_a_hold_reason_with_an_email_is_refused(committed):
    lead = _lead(committed)
    proc = committed.cli("retention", "hold", lead, "--reason", "asked by jo@example.com", check=False)
    assert proc.returncode == 1 and proc.stderr.startswith("error:") and "Traceback" not in proc.stderr
