"""Erasure acceptance (COMPLIANCE §7 items 18, 19, 20-22, 24) on committed stores, SQLite and PostgreSQL.

One person, Xavia, is ingested from a CRM and a web form (merged), with events, consents with proof, a
quarantined row and an audience snapshot; others around her, one sharing her household phone. After
`erase_subject` + commit + `scrub_residue`:
- the bytes of the SQLite files (data and compliance, with -wal and -shm) and a SQL dump, or a `pg_dump` of
  both PostgreSQL databases, hold none of her identifiers, names or payload strings, and none of the
  ciphertext of her rows or her wrapped data key;
- a copy of the data store taken before the erasure, opened with today's keys, decrypts nothing of hers;
- every other row of both stores is unchanged, and every other person's decrypted content digests equal;
- `cdp audit verify` passes and no audit entry holds her identifiers;
- re-importing her original rows, or her CRM row with a changed email, creates nothing ("suppressed").
"""

import csv
import hashlib
import json
import shutil
import sqlite3
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import make_url, text
from sqlmodel import SQLModel, select

from cdp.audiences.models import Audience, AudienceMembershipSnapshot, DestinationRemoval
from cdp.audiences.removals import process_removals, seal_ref, task_refs
from cdp.audit.log import SYSTEM
from cdp.bootstrap import Runtime
from cdp.crypto.envelope import KEYRING_INFO_KEY, DataKeyDestroyed, vault
from cdp.crypto.models import DataKey
from cdp.db import COMPLIANCE, STORE_INFO_KEY, Stores, make_engine, make_session_factory, unit_of_work
from cdp.errors import IntegrityError
from cdp.ingest.pipeline import ingest_batch
from cdp.privacy.erasure import erase_subject, reapply_erasures, scrub_residue
from cdp.profiles import store
from cdp.profiles.models import Event, Identity, Profile, SourceRecord
from tests.api.helpers import GRANTED_EMAIL_MARKETING
from tests.conftest import BACKEND, Committed, _pg_admin, _pg_url
from tests.connectors.fakes import LIST_ID, FakeMailchimp, md5
from tests.factories import contact_rows

pytestmark = pytest.mark.committed

X_EMAIL = "Xavia.Quillfeather@Example.org"
X_WORK_EMAIL = "xq@quillfeather-zebra.example"
X_PHONE = "+44 20 7946 0017"
HOUSEHOLD_PHONE = "+44 161 496 0555"
X_CRM_ID = "crm-xq-77815"
X_STRINGS = [
    X_EMAIL,
    X_EMAIL.lower(),
    X_EMAIL.upper(),
    X_WORK_EMAIL,
    "+442079460017",
    "020 7946 0017",
    "2079460017",
    "+441614960555",
    "1614960555",
    "Xavia",
    "Quillfeather",
    "Quillfeather Zebra Works",
    "Zzyzxville",
    X_CRM_ID,
    "form-xq-4411",
    "QF-ORDER-99123",
    "198.51.100.77",
]

CRM_ROW: dict[str, Any] = {
    "external_id": X_CRM_ID,
    "observed_at": "2026-03-01T09:00:00Z",
    "email": X_EMAIL,
    "phone": X_PHONE,
    "first_name": "Xavia",
    "last_name": "Quillfeather",
    "company": "Quillfeather Zebra Works",
    "city": "Zzyzxville",
    "country": "GB",
    "consents": [
        {
            **GRANTED_EMAIL_MARKETING,
            "method": "web_form",
            "proof": {"ip": "198.51.100.77", "user_agent": "Mozilla/5.0 (Quillfeather)"},
        }
    ],
    "events": [
        {"type": "order_placed", "occurred_at": f"2026-02-0{d}T10:00:00Z", "properties": {"order": "QF-ORDER-99123"}}
        for d in range(1, 6)
    ],
}
FORM_ROW: dict[str, Any] = {
    "external_id": "form-xq-4411",
    "observed_at": "2026-03-02T09:00:00Z",
    "email": X_EMAIL,
    "phone": HOUSEHOLD_PHONE,
    "first_name": "Xavia",
    "last_name": "Quillfeather",
    "country": "GB",
}
BAD_ROW: dict[str, Any] = {
    "external_id": "crm-xq-bad",
    "email": X_EMAIL,
    "job_title": X_WORK_EMAIL,
    "observed_at": "yesterday-ish",
}


@dataclass
class Scenario:
    committed: Committed
    rt: Runtime
    xavia: uuid.UUID
    housemate: uuid.UUID
    others: list[uuid.UUID]
    x_ciphertexts: list[bytes] = field(default_factory=list)
    old_copy: Any = None


def _ingest(rt: Runtime, source: str, rows: list[dict[str, Any]]) -> list[Any]:
    with unit_of_work(rt.stores) as session:
        return ingest_batch(session, source, rows, actor=SYSTEM).results


def _engines(rt: Runtime) -> list[Any]:
    return list(rt.stores.engines)


@pytest.fixture
def scenario(committed: Committed) -> Iterator[Scenario]:
    rt = committed.open_runtime()
    others = [r.profile_id for r in _ingest(rt, "crm", contact_rows(12, consents=[GRANTED_EMAIL_MARKETING]))]
    [housemate] = _ingest(
        rt,
        "crm",
        [
            {
                "external_id": "crm-hh-1",
                "observed_at": "2026-03-01T09:00:00Z",
                "email": "harriet.homesharer@acme.example",
                "phone": HOUSEHOLD_PHONE,
                "first_name": "Harriet",
                "last_name": "Homesharer",
                "country": "GB",
                "events": [{"type": "page_viewed", "occurred_at": "2026-02-01T00:00:00Z", "properties": {"p": "/a"}}],
            }
        ],
    )
    [crm] = _ingest(rt, "crm", [CRM_ROW])
    [form] = _ingest(rt, "webform", [FORM_ROW])
    [bad] = _ingest(rt, "crm", [BAD_ROW])
    assert (crm.outcome, form.outcome, bad.outcome) == ("created", "merged", "quarantined")
    assert form.profile_id == crm.profile_id and housemate.profile_id not in (crm.profile_id, None)
    with unit_of_work(rt.stores) as session:
        audience = Audience(name="newsletter", purpose="email_marketing", destination="mailchimp")
        session.add(audience)
        session.flush()
        for pid in (crm.profile_id, others[0]):
            identity = session.scalars(
                select(Identity).where(Identity.profile_id == pid, Identity.kind == "email")
            ).one()
            session.add(
                AudienceMembershipSnapshot(
                    audience_id=audience.id,
                    destination="mailchimp",
                    profile_id=pid,
                    identity_id=identity.id,
                    member_ref=seal_ref(session, pid, md5(store.identity_value(session, identity))),
                )
            )
    yield Scenario(committed, rt, crm.profile_id, housemate.profile_id, others)
    rt.close()
    rt.stores.dispose()


# --- helpers: the person's ciphertext, the stores' bytes, every row -----------------------------------------


def _x_ciphertexts(session: Any, pid: uuid.UUID) -> list[bytes]:
    blobs = [session.get(Profile, pid).golden]
    blobs += [i.value for i in session.scalars(select(Identity).where(Identity.profile_id == pid))]
    blobs += [r.payload for r in session.scalars(select(SourceRecord).where(SourceRecord.profile_id == pid))]
    blobs += [e.properties for e in session.scalars(select(Event).where(Event.profile_id == pid)) if e.properties]
    blobs += [session.info[COMPLIANCE].get(DataKey, pid).wrapped_key]
    return blobs


def _needles(ciphertexts: list[bytes]) -> list[bytes]:
    # Plaintext compared case-folded; ciphertext as raw bytes (SQLite) and as bytea hex (dumps).
    out = [s.lower().encode() for s in X_STRINGS]
    for blob in ciphertexts:
        out += [blob[:48], blob[:48].hex().encode()]
    return out


def _sqlite_files(rt: Runtime) -> list[Path]:
    out = []
    for url in (rt.settings.database_url, rt.settings.compliance_url):
        db = Path(make_url(url).database or "")
        out += [p for p in (db, Path(f"{db}-wal"), Path(f"{db}-shm")) if p.exists()]
    return out


def _store_bytes(rt: Runtime, tmp: Path) -> dict[str, bytes]:
    """Every byte an attacker with the disk or a dump would see, case-folded."""
    out: dict[str, bytes] = {}
    if BACKEND == "sqlite":
        for path in _sqlite_files(rt):
            out[path.name] = path.read_bytes().lower()
        for url in (rt.settings.database_url, rt.settings.compliance_url):
            db = make_url(url).database or ""
            conn = sqlite3.connect(db)
            out[f"{Path(db).name}.sql"] = "\n".join(conn.iterdump()).lower().encode()
            conn.close()
        return out
    if shutil.which("pg_dump") is None:
        pytest.skip("pg_dump is not installed")
    for url in (rt.settings.database_url, rt.settings.compliance_url):
        u = make_url(url)
        dump = subprocess.run(
            [
                "pg_dump",
                "-h",
                u.host or "127.0.0.1",
                "-p",
                str(u.port or 5432),
                "-U",
                u.username or "postgres",
                u.database or "",
            ],
            capture_output=True,
            check=True,
            env={"PGPASSWORD": u.password or "", "PATH": "/usr/bin:/bin"},
        ).stdout
        out[f"{u.database}.sql"] = dump.lower()
    return out


def _found(haystacks: dict[str, bytes], needles: list[bytes]) -> list[tuple[str, int]]:
    return [(name, i) for name, hay in haystacks.items() for i, n in enumerate(needles) if n.lower() in hay]


def _tables(store_name: str) -> list[Any]:
    return [
        t
        for t in SQLModel.metadata.sorted_tables
        if (t.info.get(STORE_INFO_KEY) == COMPLIANCE) == (store_name == COMPLIANCE)
    ]


def _all_rows(session: Any) -> dict[str, set[tuple[Any, ...]]]:
    rows: dict[str, set[tuple[Any, ...]]] = {}
    for name, s in (("data", session), (COMPLIANCE, session.info[COMPLIANCE])):
        for table in _tables(name):
            rows[table.name] = {
                tuple(json.dumps(v, sort_keys=True, default=str) for v in r) for r in s.execute(table.select())
            }
    return rows


def _about(row: tuple[str, ...], ids: set[str]) -> bool:
    return any(v.strip('"') in ids for v in row)


def _decrypted_digest(session: Any, pid: uuid.UUID) -> str:
    profile = session.get(Profile, pid)
    content = {
        "golden": store.read_golden(session, profile),
        "identities": sorted(store.identity_value(session, i) for i in store.identities_of(session, pid)),
        "records": sorted(
            json.dumps(store.source_payload(session, r), sort_keys=True) for r in store.source_records_of(session, pid)
        ),
        "events": sorted(
            json.dumps(vault(session).decrypt_json(pid, e.properties, context=store.EVENT_PROPERTIES))
            if e.properties
            else e.type
            for e in session.scalars(select(Event).where(Event.profile_id == pid))
        ),
    }
    return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()


def _x_ids(session: Any, pid: uuid.UUID, quarantine_ids: list[uuid.UUID]) -> set[str]:
    """Every id of a row about Xavia, so the rest can be compared."""
    ids = {str(pid), *(str(q) for q in quarantine_ids)}
    for table in _tables("data"):
        if "profile_id" in table.c and "id" in table.c:
            ids |= {str(i) for i in session.scalars(select(table.c.id).where(table.c.profile_id == pid))}
    return ids


def _copy_data_store(sc: Scenario, tmp: Path) -> str:
    """A backup of the data store as it is now (the keystore is not in it)."""
    rt = sc.rt
    if BACKEND == "sqlite":
        scrub_residue(_engines(rt))
        src = Path(make_url(rt.settings.database_url).database or "")
        dst = tmp / "backup-before-erasure.db"
        shutil.copyfile(src, dst)
        return f"sqlite:///{dst}"
    rt.stores.dispose()  # CREATE DATABASE … TEMPLATE needs no open connections to the source
    name = f"{make_url(rt.settings.database_url).database}_backup"
    _pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{make_url(rt.settings.database_url).database}"')
    return _pg_url(name)


def _open_with_current_keys(sc: Scenario, data_url: str) -> tuple[Stores, Any]:
    engine = make_engine(data_url)
    stores = Stores(
        data=make_session_factory(engine),
        compliance=sc.rt.stores.compliance,
        info=sc.rt.stores.info,
        engines=(engine,),
    )
    return stores, engine


# --- the tests ------------------------------------------------------------------------------------------------


def test_erasure_leaves_no_bytes_no_decryptable_copy_and_no_trace_in_others_or_audit(
    scenario: Scenario, tmp_path: Path, httpserver: Any
) -> None:
    sc, rt = scenario, scenario.rt
    with unit_of_work(rt.stores) as session:
        ciphertexts = _x_ciphertexts(session, sc.xavia)
        from cdp.ingest.models import Quarantine

        quarantine_ids = list(session.scalars(select(Quarantine.id)))
        x_ids = _x_ids(session, sc.xavia, quarantine_ids)
        before_rows = _all_rows(session)
        before_digests = {pid: _decrypted_digest(session, pid) for pid in [*sc.others, sc.housemate]}
    backup_url = _copy_data_store(sc, tmp_path)
    scrub_residue(_engines(rt))
    needles = _needles(ciphertexts)
    before = _found(_store_bytes(rt, tmp_path), needles)
    # Positive control: her ciphertext is on disk before; her plaintext never is (encrypted at rest).
    assert any(i >= len(X_STRINGS) for _, i in before), "the byte search finds nothing even before erasure"
    assert [(f, X_STRINGS[i]) for f, i in before if i < len(X_STRINGS)] == []

    request_id = uuid.uuid4()
    with unit_of_work(rt.stores) as session:
        result = erase_subject(session, [sc.xavia], actor=SYSTEM, request_id=request_id)
    assert result.destinations == ("mailchimp",)
    assert result.counts["quarantine"] == 1 and result.counts["source_record"] == 2
    # Art. 19: the queued removal reaches Mailchimp as a permanent delete; then its member hash is cleared.
    fake = FakeMailchimp().install(httpserver)
    conf = tmp_path / "connectors.yaml"
    conf.write_text(
        json.dumps({"mailchimp": {"base_url": httpserver.url_for("/3.0/"), "api_key": "k-us19", "list_id": LIST_ID}})
    )
    with unit_of_work(rt.stores) as session:
        [task] = session.scalars(select(DestinationRemoval).where(DestinationRemoval.profile_id == sc.xavia)).all()
        assert task.reason == f"erasure:{request_id}" and task_refs(session, task) == [md5(X_EMAIL)]
        done = process_removals(session, settings=rt.settings.model_copy(update={"connectors_file": conf}))
    assert done.done == 1
    assert [(r.method, r.path) for r in fake.received] == [
        ("POST", f"/3.0/lists/{LIST_ID}/members/{md5(X_EMAIL)}/actions/delete-permanent")
    ]
    needles.append(md5(X_EMAIL).encode())
    # The pool stays open, as in a running server: closing SQLite's last connection would checkpoint by itself.
    assert all(busy == 0 for busy, _, _ in scrub_residue(_engines(rt)))

    # 18: no plaintext and none of her ciphertext or wrapped key, in any file, WAL or dump.
    assert _found(_store_bytes(rt, tmp_path), needles) == []

    # 19: the backup taken before still holds her rows, and today's keys open none of them.
    backup, engine = _open_with_current_keys(sc, backup_url)
    try:
        with unit_of_work(backup) as old:
            profile = old.get(Profile, sc.xavia)
            assert profile is not None and profile.golden
            with pytest.raises(DataKeyDestroyed):
                store.read_golden(old, profile)
            identities = old.scalars(select(Identity).where(Identity.profile_id == sc.xavia)).all()
            assert len(identities) >= 3
            for identity in identities:
                with pytest.raises(DataKeyDestroyed):
                    store.identity_value(old, identity)
            # No other key opens them either (AES-GCM authenticates the key and the row binding).
            v = vault(old)
            for blob in [profile.golden, *(i.value for i in identities)]:
                with pytest.raises(IntegrityError):
                    v.decrypt(sc.others[0], blob, context=store.GOLDEN)
            # The others in the same backup still decrypt: the backup is otherwise good.
            store.read_golden(old, old.get(Profile, sc.others[0]))
        # 28: restoring that backup and re-applying erasures leaves her erased, and only her.
        with unit_of_work(backup) as restored:
            reapplied = reapply_erasures(restored, actor=SYSTEM)
        assert reapplied.profiles == (sc.xavia,) and reapplied.quarantine_rows == 1
        with unit_of_work(backup) as restored:
            assert restored.get(Profile, sc.xavia).status == "erased"
            assert restored.scalars(select(Identity).where(Identity.profile_id == sc.xavia)).all() == []
            assert reapply_erasures(restored, actor=SYSTEM).profiles == ()
            assert {p: _decrypted_digest(restored, p) for p in before_digests} == before_digests
    finally:
        engine.dispose()
        if BACKEND == "postgresql":
            _pg_admin(f'DROP DATABASE IF EXISTS "{make_url(backup_url).database}" WITH (FORCE)')

    # 22: every row not about her is unchanged in both stores; the others' decrypted content is equal.
    with unit_of_work(rt.stores) as session:
        after_rows = _all_rows(session)
        for table, rows in before_rows.items():
            if table == "audit_log":
                assert rows <= after_rows[table], "an existing audit entry changed"
            elif table == "suppression":
                assert rows <= after_rows[table]
            else:
                kept = {r for r in rows if not _about(r, x_ids)}
                assert kept == {r for r in after_rows[table] if not _about(r, x_ids)}, table
        assert {pid: _decrypted_digest(session, pid) for pid in before_digests} == before_digests
        assert session.get(Profile, sc.xavia).status == "erased"

    # 24: the chain verifies and no audit entry holds her identifiers.
    out = sc.committed.cli("audit", "verify")
    assert out.stdout.startswith("ok:")
    with unit_of_work(rt.stores) as session:
        audit = "\n".join(
            json.dumps(list(r), default=str) for r in session.execute(text("SELECT * FROM audit_log")).all()
        ).lower()
    assert [s for s in X_STRINGS if s.lower() in audit] == []


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    fields = ["external_id", "email", "phone", "first_name", "last_name", "company", "city", "country"]
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: row.get(k, "") for k in fields})
    return path


def _counts(rt: Runtime) -> dict[str, int]:
    from sqlalchemy import func

    from cdp.consent.models import ConsentEvent

    with unit_of_work(rt.stores) as session:
        return {
            m.__tablename__: session.scalar(select(func.count()).select_from(m)) or 0  # type: ignore[attr-defined]
            for m in (Profile, Identity, SourceRecord, Event, ConsentEvent)
        }


def test_reimport_of_the_erased_person_creates_nothing_and_is_counted_suppressed(
    scenario: Scenario, tmp_path: Path
) -> None:
    sc, rt = scenario, scenario.rt
    with unit_of_work(rt.stores) as session:
        erase_subject(session, [sc.xavia], actor=SYSTEM, request_id=uuid.uuid4())
    before = _counts(rt)
    crm_csv = _write_csv(tmp_path / "crm.csv", [CRM_ROW])
    # 21: the same CRM contact with a new address: its external id alone still blocks it.
    moved_csv = _write_csv(
        tmp_path / "crm-moved.csv", [{**CRM_ROW, "email": "xavia.new@elsewhere.example", "phone": ""}]
    )
    form_csv = _write_csv(tmp_path / "form.csv", [FORM_ROW])
    for path, source in ((crm_csv, "crm"), (moved_csv, "crm"), (form_csv, "webform")):
        out = sc.committed.cli("import", str(path), "--source", source, "--id-column", "external_id")
        assert "imported 1 records: suppressed 1" in out.stdout, out.stdout
    # The same records through the pipeline directly (a sync page), with her events and consents.
    results = _ingest(rt, "crm", [CRM_ROW])
    assert [r.outcome for r in results] == ["suppressed"]
    assert _counts(rt) == before
    # The housemate's next record still ingests; the shared household phone is stripped, not blocking.
    [again] = _ingest(
        rt,
        "crm",
        [
            {
                "external_id": "crm-hh-1",
                "observed_at": "2026-04-01T09:00:00Z",
                "email": "harriet.homesharer@acme.example",
                "phone": HOUSEHOLD_PHONE,
                "first_name": "Harriet",
                "last_name": "Homesharer",
                "city": "Leeds",
                "country": "GB",
            }
        ],
    )
    assert (again.outcome, again.profile_id) == ("updated", sc.housemate)


def _copy_both_stores(sc: Scenario, tmp: Path) -> tuple[str, str]:
    rt = sc.rt
    if BACKEND == "sqlite":
        scrub_residue(_engines(rt))
        urls = []
        for url, name in ((rt.settings.database_url, "data"), (rt.settings.compliance_url, "compliance")):
            dst = tmp / f"backup-{name}.db"
            shutil.copyfile(Path(make_url(url).database or ""), dst)
            urls.append(f"sqlite:///{dst}")
        return urls[0], urls[1]
    rt.stores.dispose()
    out = []
    for url in (rt.settings.database_url, rt.settings.compliance_url):
        name = f"{make_url(url).database}_bk"
        _pg_admin(f'CREATE DATABASE "{name}" TEMPLATE "{make_url(url).database}"')
        out.append(_pg_url(name))
    return out[0], out[1]


def _old_key_opens(data_url: str, compliance_url: str, keyring: Any, pid: uuid.UUID) -> bool:
    from cdp.errors import Unavailable

    engines = (make_engine(data_url), make_engine(compliance_url))
    stores = Stores(
        data=make_session_factory(engines[0]),
        compliance=make_session_factory(engines[1]),
        info={KEYRING_INFO_KEY: keyring},
        engines=engines,
    )
    try:
        with unit_of_work(stores) as old:
            try:
                store.read_golden(old, old.get(Profile, pid))
                return True
            except (DataKeyDestroyed, Unavailable):
                return False
    finally:
        stores.dispose()


def test_a_backup_of_both_stores_is_dead_once_the_master_key_epoch_is_retired(
    scenario: Scenario, tmp_path: Path
) -> None:
    """COMPLIANCE §3.3 (b). A backup of the compliance store still holds her wrapped data key, so until the
    master key that wrapped it is retired, that pair of backups opens her rows: compliance-store backups
    need a retention shorter than the erasure deadline, or a rotation with `--retire` after each window."""
    from cdp.crypto.keyring import keyring_from_file

    sc, rt = scenario, scenario.rt
    data_bk, compliance_bk = _copy_both_stores(sc, tmp_path)
    try:
        with unit_of_work(rt.stores) as session:
            erase_subject(session, [sc.xavia], actor=SYSTEM, request_id=uuid.uuid4())
        key_file = sc.committed.settings.key_file
        assert _old_key_opens(data_bk, compliance_bk, keyring_from_file(key_file), sc.xavia)

        out = sc.committed.cli("keys", "rotate", "--retire")
        assert "retired master keys: " in out.stdout and "none" not in out.stdout.split("retired master keys: ")[1]

        current = keyring_from_file(key_file)
        assert not _old_key_opens(data_bk, compliance_bk, current, sc.xavia)
        # The live stores, rewrapped under the new epoch, still open everyone else.
        rt.stores.info = {**rt.stores.info, KEYRING_INFO_KEY: current}
        with unit_of_work(rt.stores) as session:
            assert store.read_golden(session, session.get(Profile, sc.others[0]))
    finally:
        if BACKEND == "postgresql":
            for url in (data_bk, compliance_bk):
                _pg_admin(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')
