"""c0a5e47e0001 on a ledger that already holds events: one record id per subject, state follows its event."""

import datetime as dt
import uuid

import sqlalchemy as sa

from cdp import migrate
from cdp.db import make_engine

BEFORE = "de27f5bab515"
AT = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def _event(profile_id: uuid.UUID, purpose: str, status: str, minutes: int) -> dict[str, object]:
    return {
        "id": uuid.uuid4(),
        "profile_id": profile_id,
        "identity_id": None,
        "purpose": purpose,
        "status": status,
        "lawful_basis": "consent",
        "method": "import",
        "source": "crm",
        "occurred_at": AT + dt.timedelta(minutes=minutes),
        "recorded_at": AT,
        "has_proof": False,
    }


def _table(engine: sa.Engine, name: str) -> sa.Table:
    """The table as it stands before the migration, with UUID columns typed so both backends bind them."""
    reflected = sa.Table(name, sa.MetaData(), autoload_with=engine)
    return sa.Table(
        name,
        sa.MetaData(),
        *(
            sa.Column(c.name, sa.Uuid() if c.name == "id" or c.name.endswith("_id") else c.type)
            for c in reflected.columns
        ),
    )


def test_existing_events_get_a_record_id_per_subject_and_states_follow(databases):
    pair = databases.clone("ledger_backfill")
    try:
        migrate.downgrade("data", pair.data_url, BEFORE)
        engine = make_engine(pair.data_url)
        profile, events, states = (_table(engine, t) for t in ("profile", "consent_event", "consent_state"))
        pid = uuid.uuid4()
        rows = [_event(pid, "email_marketing", "granted", 0), _event(pid, "email_marketing", "withdrawn", 5)]
        rows.append(_event(pid, "sms_marketing", "granted", 0))
        with engine.begin() as conn:
            conn.execute(
                sa.insert(profile),
                {
                    "id": pid,
                    "status": "active",
                    "golden": b"",
                    "field_provenance": {},
                    "created_at": AT,
                    "updated_at": AT,
                },
            )
            conn.execute(sa.insert(events), rows)
            conn.execute(
                sa.insert(states),
                {
                    "id": uuid.uuid4(),
                    "profile_id": pid,
                    "purpose": "email_marketing",
                    "status": "withdrawn",
                    "event_id": rows[1]["id"],
                    "occurred_at": rows[1]["occurred_at"],
                    "updated_at": AT,
                },
            )
        engine.dispose()

        migrate.upgrade("data", pair.data_url)

        engine = make_engine(pair.data_url)
        with engine.connect() as conn:
            got = conn.execute(sa.text("SELECT id, purpose, record_id, schema_version, actor FROM consent_event")).all()
            state_record = conn.execute(sa.text("SELECT record_id FROM consent_state")).scalar_one()
        engine.dispose()
        by_purpose: dict[str, set[object]] = {}
        for _, purpose, record_id, schema_version, actor in got:
            assert record_id is not None and schema_version == "cdp-27560/1" and actor == "system"
            by_purpose.setdefault(purpose, set()).add(str(record_id).replace("-", ""))
        assert {p: len(ids) for p, ids in by_purpose.items()} == {"email_marketing": 1, "sms_marketing": 1}
        assert by_purpose["email_marketing"] != by_purpose["sms_marketing"]
        assert {str(state_record).replace("-", "")} == by_purpose["email_marketing"]

        migrate.downgrade("data", pair.data_url, BEFORE)  # and back, with the rows still there
        migrate.upgrade("data", pair.data_url)
    finally:
        databases.drop(pair)
