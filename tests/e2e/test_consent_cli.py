"""`cdp consent rebuild`: re-derive consent_state from the ledger, reporting differences; --dry-run changes nothing."""

from sqlalchemy import update
from sqlmodel import select

from cdp.audit.log import SYSTEM
from cdp.consent.models import ConsentState
from cdp.db import unit_of_work
from cdp.ingest.pipeline import ingest_batch
from tests.factories import contact_row

GRANT = {"purpose": "email_marketing", "status": "granted", "occurred_at": "2026-01-01T00:00:00Z"}


def _statuses(rt):
    with unit_of_work(rt.stores) as s:
        return sorted(s.scalars(select(ConsentState.status)).all())


def test_rebuild_reports_and_repairs_a_drifted_state(committed):
    committed.cli("db", "upgrade")
    rt = committed.open_runtime()
    try:
        with unit_of_work(rt.stores) as s:
            ingest_batch(s, "crm", [contact_row(consents=[GRANT]), contact_row(consents=[GRANT])], actor=SYSTEM)
        with unit_of_work(rt.stores) as s:
            profile_id = s.scalars(select(ConsentState.profile_id)).first()
            s.execute(update(ConsentState).where(ConsentState.profile_id == profile_id).values(status="withdrawn"))
        assert _statuses(rt) == ["granted", "withdrawn"]

        clean = committed.cli("consent", "rebuild", "--dry-run").stdout
        assert f"profile {profile_id}" in clean and "stored withdrawn -> rebuilt granted" in clean
        assert "2 consent records of 2 profiles: 1 states differed" in clean and "would fix" in clean
        assert _statuses(rt) == ["granted", "withdrawn"], "--dry-run changes nothing"

        fixed = committed.cli("consent", "rebuild").stdout
        assert "fixed 1 states" in fixed
        assert _statuses(rt) == ["granted", "granted"]
        assert "nothing to do" in committed.cli("consent", "rebuild").stdout
    finally:
        rt.close()
