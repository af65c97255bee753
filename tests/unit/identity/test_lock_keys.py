"""Resolution's advisory locks on PostgreSQL: bounded however large the batch (a 2,000-record import once
overflowed the shared lock table)."""

import pytest
from sqlalchemy import text

from cdp.identity.resolve import LOCK_BUCKETS, LOCK_NAMESPACE, lock_keys


def _held(session) -> list[int]:
    return list(
        session.execute(
            text(
                "SELECT objid::bigint FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() "
                "AND classid = CAST(:ns AS bigint)::oid AND objsubid = 2"
            ),
            {"ns": LOCK_NAMESPACE},
        ).scalars()
    )


@pytest.fixture
def pg_session(session):
    if session.get_bind().dialect.name != "postgresql":
        pytest.skip("advisory locks exist on PostgreSQL only; SQLite serialises writers itself")
    return session


def test_a_huge_batch_holds_at_most_one_lock_per_bucket(pg_session):
    lock_keys(pg_session, [f"key-{i}" for i in range(20_000)])

    held = _held(pg_session)
    assert 0 < len(held) <= LOCK_BUCKETS
    assert all(0 <= b < LOCK_BUCKETS for b in held)


def test_the_same_key_always_takes_the_same_single_lock(pg_session):
    lock_keys(pg_session, ["email:abc", "email:abc"])
    first = _held(pg_session)

    lock_keys(pg_session, ["email:abc"])

    assert len(first) == 1 and _held(pg_session) == first


def test_no_keys_takes_no_lock(pg_session):
    lock_keys(pg_session, [])

    assert _held(pg_session) == []
