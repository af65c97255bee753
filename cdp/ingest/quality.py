"""Batch quality gates (great-expectations): a batch that looks wrong as a whole is refused before any row of
it is stored, so a broken field map or a looping cursor stops a sync instead of quarantining thousands of rows.

Per-row validation (pydantic, `cdp.ingest.validate`) decides about one record; the gate decides about the
batch. It runs on derived, non-personal columns only (valid or not, seconds in the future, a keyed hash of the
external id), so great-expectations' results, which quote unexpected values, can never carry personal data.
Batches smaller than `min_rows` pass: proportions over a few webhook events mean nothing.
"""

import datetime as dt
import functools
import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cdp.errors import InvalidInput
from cdp.settings import Settings

if TYPE_CHECKING:
    from great_expectations.core.expectation_suite import ExpectationSuite


class BatchRejected(InvalidInput):
    slug = "batch-rejected"
    title = "Batch failed its quality gate"


@dataclass(frozen=True)
class GateSettings:
    min_rows: int = 20
    min_valid_share: float = 0.5
    max_future_seconds: int = 300
    min_unique_share: float = 0.5


@dataclass(frozen=True)
class GateRow:
    valid: bool
    future_seconds: float | None
    external_key: str | None


def gate_settings(settings: Settings) -> GateSettings:
    return GateSettings(min_rows=settings.batch_gate_min_rows, min_valid_share=settings.batch_gate_min_valid_share)


def gate_row(valid: bool, external_id: object, observed_at: dt.datetime | None, now: dt.datetime) -> GateRow:
    key = hashlib.sha256(str(external_id).encode()).hexdigest()[:16] if external_id not in (None, "") else None
    future = (observed_at - now).total_seconds() if observed_at is not None else None
    return GateRow(valid, future, key)


@functools.cache
def _suite(settings: GateSettings) -> tuple[Any, "ExpectationSuite"]:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    context = gx.get_context(
        project_config=DataContextConfig(
            analytics_enabled=False,
            progress_bars=ProgressBarsConfig(globally=False),
            store_backend_defaults=InMemoryStoreBackendDefaults(),
        ),
        mode="ephemeral",
    )
    batch = (
        context.data_sources.add_pandas("cdp")
        .add_dataframe_asset("contact_batch")
        .add_batch_definition_whole_dataframe("whole")
    )
    suite = context.suites.add(gx.ExpectationSuite(name="contact_batch"))
    expect: Any = gx.expectations  # re-exported lazily; mypy cannot see the names
    suite.add_expectation(
        expect.ExpectColumnValuesToBeInSet(column="valid", value_set=[True], mostly=settings.min_valid_share)
    )
    suite.add_expectation(
        expect.ExpectColumnValuesToBeBetween(
            column="future_seconds", max_value=settings.max_future_seconds, mostly=0.95
        )
    )
    suite.add_expectation(
        expect.ExpectColumnProportionOfUniqueValuesToBeBetween(
            column="external_key", min_value=settings.min_unique_share
        )
    )
    return batch, suite


EXPLAIN = {
    "expect_column_values_to_be_in_set": "too many rows fail validation: check the field mapping",
    "expect_column_values_to_be_between": "too many rows are timestamped in the future: check the time zone",
    "expect_column_proportion_of_unique_values_to_be_between": "the batch repeats the same records: check paging",
}


def check_batch(rows: Sequence[GateRow], settings: GateSettings = GateSettings()) -> None:
    """Raise `BatchRejected` naming each failed expectation with its counts (never values)."""
    if len(rows) < settings.min_rows:
        return
    import pandas as pd

    frame = pd.DataFrame(
        {
            "valid": [r.valid for r in rows],
            "future_seconds": [r.future_seconds for r in rows],
            "external_key": [r.external_key for r in rows],
        }
    )
    batch_definition, suite = _suite(settings)
    result = batch_definition.get_batch(batch_parameters={"dataframe": frame}).validate(suite)
    if result.success:
        return
    failed: list[dict[str, Any]] = []
    for outcome in result.results:
        if outcome.success:
            continue
        kind = outcome.expectation_config.type if outcome.expectation_config else "unknown"
        observed = outcome.result.get("unexpected_percent", outcome.result.get("observed_value"))
        failed.append(
            {
                "expectation": kind,
                "why": EXPLAIN.get(kind, kind),
                "observed": round(float(observed), 3) if isinstance(observed, int | float) else None,
            }
        )
    raise BatchRejected(
        f"the batch of {len(rows)} records was refused before storing anything: " + "; ".join(f["why"] for f in failed),
        expectations=failed,
        rows=len(rows),
    )
