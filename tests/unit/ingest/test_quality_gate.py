"""The batch quality gate (great-expectations): a batch that is wrong as a whole stores nothing and says why,
with counts only; small batches and healthy ones pass through to per-row validation."""

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import func
from sqlalchemy.orm import Session
from sqlmodel import select

from cdp.audit.log import Actor
from cdp.ingest.models import Quarantine
from cdp.ingest.pipeline import ingest_batch
from cdp.ingest.quality import BatchRejected, GateRow, GateSettings, check_batch
from cdp.profiles.models import SourceRecord
from tests.factories import contact_row, contact_rows

ACTOR = Actor("test-gate", "system")
GATE = GateSettings()


def count(session: Session, model: Any) -> int:
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_a_healthy_batch_passes_and_is_stored(session: Session) -> None:
    result = ingest_batch(session, "crm", contact_rows(25), actor=ACTOR, gate=GATE)
    assert result.counts["created"] == 25


def test_a_batch_mostly_failing_validation_stores_nothing(session: Session) -> None:
    rows = contact_rows(8) + [contact_row(email="not-an-address", phone=None, external_id=None) for _ in range(17)]
    before = (count(session, SourceRecord), count(session, Quarantine))
    with pytest.raises(BatchRejected) as caught:
        ingest_batch(session, "crm", rows, actor=ACTOR, gate=GATE)
    assert (count(session, SourceRecord), count(session, Quarantine)) == before
    failed = caught.value.extensions["expectations"]
    assert [f["expectation"] for f in failed] == ["expect_column_values_to_be_in_set"]
    assert failed[0]["observed"] == pytest.approx(68.0)
    assert "field mapping" in caught.value.detail
    assert "not-an-address" not in str(caught.value.extensions) + caught.value.detail


def test_a_page_repeating_the_same_records_is_refused(session: Session) -> None:
    row = contact_row()
    with pytest.raises(BatchRejected, match="repeats the same records"):
        ingest_batch(session, "crm", [dict(row) for _ in range(30)], actor=ACTOR, gate=GATE)


def test_timestamps_in_the_future_point_at_a_time_zone_error(session: Session) -> None:
    ahead = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=5)).isoformat()
    with pytest.raises(BatchRejected, match="time zone"):
        ingest_batch(session, "crm", contact_rows(30, observed_at=ahead), actor=ACTOR, gate=GATE)


def test_small_batches_are_left_to_per_row_validation(session: Session) -> None:
    rows = [contact_row(email="broken", phone=None) for _ in range(5)]
    result = ingest_batch(session, "crm", rows, actor=ACTOR, gate=GATE)
    assert result.counts["quarantined"] == 5


def test_thresholds_are_settings() -> None:
    rows = [GateRow(valid=i < 30, future_seconds=0, external_key=str(i)) for i in range(100)]
    check_batch(rows, GateSettings(min_valid_share=0.3))
    with pytest.raises(BatchRejected):
        check_batch(rows, GateSettings(min_valid_share=0.31))
