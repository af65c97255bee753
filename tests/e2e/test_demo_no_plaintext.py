"""The demo database holds no personal data in plaintext: not in the SQLite files, not in a pg_dump."""

import shutil
import subprocess

import phonenumbers
import pytest
from sqlalchemy import make_url

from cdp.cli.demo_data import demo_identifiers, generate_demo_records
from tests.conftest import BACKEND

PEOPLE = 120


def _needles() -> dict[str, set[str]]:
    ids = demo_identifiers(generate_demo_records(people=PEOPLE))
    needles = {"emails": set(), "phones": set(), "surnames": set(ids["surnames"])}
    for email in ids["emails"]:
        needles["emails"] |= {email.strip(), email.strip().lower()}
    for phone in ids["phones"]:
        needles["phones"].add(phone)
        parsed = phonenumbers.parse(phone, None if phone.startswith("+") else "US")
        needles["phones"].add(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))
        needles["phones"].add(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164).lstrip("+"))
    return needles


def _store_bytes(committed) -> bytes:
    if BACKEND == "sqlite":
        blobs = []
        for db in committed.pair.files:
            for suffix in ("", "-wal", "-shm", "-journal"):
                f = db.with_name(db.name + suffix)
                if f.exists():
                    blobs.append(f.read_bytes())
        return b"".join(blobs)
    if shutil.which("pg_dump") is None:
        pytest.fail("pg_dump is required for the PostgreSQL no-plaintext check")
    dumps = []
    for url in (committed.pair.data_url, committed.pair.compliance_url):
        u = make_url(url)
        proc = subprocess.run(
            [
                "pg_dump",
                "-h",
                u.host or "127.0.0.1",
                "-p",
                str(u.port or 5432),
                "-U",
                u.username or "postgres",
                u.database,
            ],
            capture_output=True,
            check=True,
        )
        dumps.append(proc.stdout)
    return b"".join(dumps)


def test_demo_database_holds_no_personal_data_in_plaintext(committed):
    proc = committed.cli("demo", "--no-serve", "--people", str(PEOPLE))
    assert "demo API keys" in proc.stdout
    for role in ("connector", "marketing", "sales", "compliance", "admin"):
        assert role in proc.stdout
    haystack = _store_bytes(committed)
    assert len(haystack) > 100_000, "the stores should hold the demo data"
    needles = _needles()
    assert sum(len(v) for v in needles.values()) > 3 * PEOPLE
    found = {
        kind: sorted(n for n in values if n.encode() in haystack or n.encode("utf-16-le") in haystack)
        for kind, values in needles.items()
    }
    assert found == {"emails": [], "phones": [], "surnames": []}


def test_demo_merges_duplicates_across_sources_and_is_repeatable(committed):
    from sqlalchemy import func, select

    from cdp.db import unit_of_work
    from cdp.profiles.models import Profile, SourceRecord

    first = committed.cli("demo", "--no-serve", "--people", "60")
    assert "merged" in first.stderr
    rt = committed.open_runtime()
    try:
        with unit_of_work(rt.stores) as s:
            profiles = s.scalar(select(func.count()).select_from(Profile))
            records = s.scalar(select(func.count()).select_from(SourceRecord))
    finally:
        rt.close()
    assert profiles is not None and records is not None
    assert 55 <= profiles < records, "duplicates across sources collapse into one profile per person"
    again = committed.cli("demo", "--no-serve", "--people", "60")
    rt = committed.open_runtime()
    try:
        with unit_of_work(rt.stores) as s:
            assert s.scalar(select(func.count()).select_from(Profile)) == profiles
    finally:
        rt.close()
    assert "unchanged" in again.stderr
