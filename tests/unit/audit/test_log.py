"""The hash-chained, append-only audit log: appending, the database guard, tamper detection and the CLI."""

import datetime as dt
import re

import pytest
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import DBAPIError

from cdp.audit.log import GENESIS, SYSTEM, Actor, append, entry_hash, verify_chain
from cdp.audit.models import AuditEntry
from cdp.db import make_engine, unit_of_work
from cdp.ingest.pipeline import ingest_batch
from tests.factories import contact_row, contact_rows

ADMIN = Actor("key-123", "admin")


def _append(session, n=1, **details):
    return append(
        session,
        actor=ADMIN,
        action="profile.read",
        resource_type="profile",
        resource_id=f"p-{n}",
        details={"n": n, **details},
    )


@pytest.fixture
def chain(session):
    """Five entries, flushed."""
    return [_append(session, n) for n in range(1, 6)]


def _disable_guard(conn):
    """What an attacker with DDL rights would do first; inside a test transaction it rolls back afterwards."""
    if conn.dialect.name == "sqlite":
        conn.execute(text("DROP TRIGGER audit_log_no_update"))
        conn.execute(text("DROP TRIGGER audit_log_no_delete"))
    else:
        conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only"))


# --- appending -------------------------------------------------------------------------------------------


def test_appended_entries_form_a_chain_that_verifies(session, chain):
    report = verify_chain(session)

    assert report.ok is True
    assert report.entries == 5
    assert report.head_hash == chain[-1].hash


def test_sequence_numbers_run_from_one_without_gaps(session, chain):
    assert [e.seq for e in chain] == [1, 2, 3, 4, 5]


def test_first_entry_links_to_the_genesis_hash(session, chain):
    assert chain[0].prev_hash == GENESIS == "0" * 64


def test_each_entry_links_to_the_hash_of_the_entry_before_it(session, chain):
    assert [e.prev_hash for e in chain[1:]] == [e.hash for e in chain[:-1]]


def test_an_empty_log_verifies_with_the_genesis_head(session):
    report = verify_chain(session)

    assert (report.ok, report.entries, report.head_hash) == (True, 0, GENESIS)


def test_append_refuses_details_that_look_like_an_email(session):
    with pytest.raises(ValueError, match="personal data"):
        _append(session, target="ada.lovelace@analytical.example")


def test_append_refuses_an_email_hidden_in_a_list(session):
    with pytest.raises(ValueError, match="personal data"):
        _append(session, targets=["p-1", "ada.lovelace@analytical.example"])


@pytest.mark.parametrize(
    "value", [{"email": "x"}, [["nested"]], b"bytes", dt.date(2026, 1, 1)], ids=["dict", "nested-list", "bytes", "date"]
)
def test_append_refuses_non_scalar_details(session, value):
    with pytest.raises(TypeError, match="scalar"):
        _append(session, value=value)


def test_refused_details_write_nothing(session):
    with pytest.raises(ValueError):
        _append(session, target="ada.lovelace@analytical.example")

    assert session.scalars(select(AuditEntry)).all() == []


@pytest.mark.parametrize(
    "at",
    [
        dt.datetime(2026, 3, 1, 9, 0, 0, tzinfo=dt.UTC),
        dt.datetime(2026, 3, 1, 9, 0, 0, 123456, tzinfo=dt.UTC),
        dt.datetime(2026, 3, 1, 23, 30, 0, 1, tzinfo=dt.timezone(dt.timedelta(hours=-5))),
        None,
    ],
    ids=["whole-second", "microseconds", "non-utc-offset", "now"],
)
def test_hash_recomputed_from_the_reloaded_entry_equals_the_stored_hash(session, at):
    details = {
        "count": 3,
        "ratio": 0.1,
        "big": 1e16,
        "flag": True,
        "none": None,
        "name": "Zoë ✓",
        "fields": ["email", "first_name"],
        "neg": -2.5,
    }
    entry = append(
        session,
        actor=ADMIN,
        action="profile.exported",
        resource_type="profile",
        resource_id="p-1",
        details=details,
        at=at,
    )
    stored_hash, seq = entry.hash, entry.seq
    session.expunge(entry)

    reloaded = session.scalars(select(AuditEntry).where(AuditEntry.seq == seq)).one()

    assert reloaded is not entry
    assert reloaded.hash == stored_hash
    assert entry_hash(reloaded) == stored_hash


# --- the database guard ----------------------------------------------------------------------------------


def test_database_refuses_to_update_an_audit_entry(session, chain):
    with pytest.raises(DBAPIError, match="append-only"), session.begin_nested():
        session.execute(update(AuditEntry).where(AuditEntry.seq == 2).values(outcome="denied"))

    session.expire_all()
    assert session.get(AuditEntry, 2).outcome == "ok"


def test_database_refuses_to_delete_an_audit_entry(session, chain):
    with pytest.raises(DBAPIError, match="append-only"), session.begin_nested():
        session.execute(delete(AuditEntry).where(AuditEntry.seq == 5))

    session.expire_all()
    assert session.get(AuditEntry, 5) is not None


# --- tamper detection (guard removed, as by an attacker with DDL rights) -----------------------------------


def test_modified_entry_is_reported_at_its_seq(session, chain):
    _disable_guard(session.connection())
    session.execute(update(AuditEntry).where(AuditEntry.seq == 3).values(details={"n": 999}))
    session.expire_all()

    report = verify_chain(session)

    assert (report.ok, report.broken_at) == (False, 3)
    assert report.entries == 2


def test_modified_entry_with_a_recomputed_hash_is_reported_at_the_next_entry(session, chain):
    _disable_guard(session.connection())
    forged = chain[2]
    forged.outcome = "denied"
    forged.hash = entry_hash(forged)
    session.flush()
    session.expire_all()

    report = verify_chain(session)

    assert (report.ok, report.broken_at) == (False, 4)


def test_deleted_middle_entry_is_reported_as_a_gap(session, chain):
    _disable_guard(session.connection())
    session.execute(delete(AuditEntry).where(AuditEntry.seq == 3))
    session.expire_all()

    report = verify_chain(session)

    assert (report.ok, report.broken_at) == (False, 4)
    assert "3..3" in report.problem


def test_deleted_first_entry_is_reported_as_a_gap(session, chain):
    _disable_guard(session.connection())
    session.execute(delete(AuditEntry).where(AuditEntry.seq == 1))
    session.expire_all()

    report = verify_chain(session)

    assert (report.ok, report.broken_at) == (False, 2)


def test_deleted_last_entry_still_verifies_without_an_expected_head(session, chain):
    _disable_guard(session.connection())
    session.execute(delete(AuditEntry).where(AuditEntry.seq == 5))
    session.expire_all()

    report = verify_chain(session)

    assert (report.ok, report.entries) == (True, 4)


def test_deleted_last_entry_fails_verification_against_the_recorded_head(session, chain):
    recorded_head = verify_chain(session).head_hash
    _disable_guard(session.connection())
    session.execute(delete(AuditEntry).where(AuditEntry.seq == 5))
    session.expire_all()

    report = verify_chain(session, expected_head=recorded_head)

    assert report.ok is False
    assert "removed" in report.problem


def test_untouched_log_verifies_against_a_head_recorded_earlier(session, chain):
    recorded_head = verify_chain(session).head_hash
    _append(session, 6)

    assert verify_chain(session, expected_head=recorded_head).ok is True


def test_unknown_expected_head_fails_verification(session, chain):
    assert verify_chain(session, expected_head="f" * 64).ok is False


# --- `cdp audit` end to end ------------------------------------------------------------------------------


def _ingest_and_report(committed):
    rt = committed.open_runtime()
    try:
        with unit_of_work(rt.stores) as s:
            ingest_batch(s, "crm", [*contact_rows(3), contact_row(email="not-an-email")], actor=SYSTEM)
        with unit_of_work(rt.stores) as s:
            return verify_chain(s)
    finally:
        rt.close()


@pytest.mark.committed
def test_cli_verify_exits_zero_on_an_untampered_log(committed):
    report = _ingest_and_report(committed)

    proc = committed.cli("audit", "verify", "--expect-head", report.head_hash)

    assert report.entries >= 4
    assert proc.stdout.startswith(f"ok: {report.entries} entries")


@pytest.mark.committed
def test_cli_verify_exits_one_and_names_the_tampered_entry(committed):
    _ingest_and_report(committed)
    engine = make_engine(committed.pair.data_url)
    try:
        with engine.begin() as conn:
            _disable_guard(conn)
            conn.execute(update(AuditEntry).where(AuditEntry.seq == 2).values(outcome="denied"))
    finally:
        engine.dispose()

    proc = committed.cli("audit", "verify", check=False)

    assert proc.returncode == 1
    assert "entry 2" in proc.stderr
    assert "ok:" not in proc.stdout


@pytest.mark.committed
def test_cli_head_prints_the_entry_count_and_head_hash(committed):
    report = _ingest_and_report(committed)

    proc = committed.cli("audit", "head")

    count, head = proc.stdout.strip().split("\t")
    assert re.fullmatch(r"[0-9a-f]{64}", head)
    assert (int(count), head) == (report.entries, report.head_hash)
