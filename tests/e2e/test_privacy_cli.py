"""`cdp privacy` end to end on committed stores: file, list, show, export, erasure dry run, approval by a second
actor; and the portability subset re-imported through `cdp import` into an empty database (COMPLIANCE 7.16)."""

import io
import json
import os
import zipfile
from pathlib import Path

from sqlmodel import select

from cdp.audit.log import SYSTEM
from cdp.db import unit_of_work
from cdp.identity.normalize import normalize_phone
from cdp.ingest.pipeline import ingest_batch
from cdp.profiles import store
from cdp.profiles.models import Identity
from tests.conftest import Committed, make_settings
from tests.factories import contact_row

EMAIL = "petra.lindqvist@acme.example"
PHONE = "+44 20 7946 0911"
GRANT = {
    "purpose": "email_marketing",
    "status": "granted",
    "occurred_at": "2026-01-01T00:00:00Z",
    "method": "web_form",
    "consent_type": "explicitly_expressed",
}


def _seed(committed: Committed) -> str:
    rt = committed.open_runtime()
    try:
        with unit_of_work(rt.stores) as s:
            rows = [
                contact_row(external_id="wf-1", email=EMAIL, phone=PHONE, first_name="Petra", consents=[GRANT]),
                contact_row(external_id="crm-1", email=EMAIL, first_name="Petra", last_name="Lindqvist"),
            ]
            result = ingest_batch(s, "webform", rows[:1], actor=SYSTEM)
            ingest_batch(s, "crm", rows[1:], actor=SYSTEM)
        return str(result.results[0].profile_id)
    finally:
        rt.close()


def _identities(committed: Committed) -> set[tuple[str, str]]:
    rt = committed.open_runtime()
    try:
        with unit_of_work(rt.stores) as s:
            return {
                (i.kind, store.identity_value(s, i))
                for i in s.scalars(select(Identity))
                if i.kind in ("email", "phone")
            }
    finally:
        rt.close()


def _empty_pair(databases, tmp_path: Path, committed: Committed) -> Committed:
    pair = databases.clone("reimport")
    key_file = tmp_path / "reimport.keys.json"
    env = dict(committed.env)
    env.update(
        {
            "CDP_DATABASE_URL": pair.data_url,
            "CDP_COMPLIANCE_DATABASE_URL": pair.compliance_url,
            "CDP_KEY_FILE": str(key_file),
        }
    )
    workdir = tmp_path / "reimport"
    workdir.mkdir()
    return Committed(pair=pair, settings=make_settings(pair, key_file), env=env, workdir=workdir)


def test_privacy_cli_files_exports_and_needs_a_second_approver(committed, databases, tmp_path):
    profile_id = _seed(committed)
    assert "request" in committed.cli("privacy", "--help").stdout

    filed = json.loads(committed.cli("privacy", "request", "--type", "access", "--email", EMAIL).stdout)
    assert filed["status"] == "completed" and filed["profile_ids"] == [profile_id]
    assert EMAIL not in json.dumps(filed)
    out = tmp_path / "bundle.zip"
    committed.cli("privacy", "export", filed["id"], "--out", str(out))
    assert (os.stat(out).st_mode & 0o777) == 0o600
    files = zipfile.ZipFile(io.BytesIO(out.read_bytes()))
    manifest = json.loads(files.read("manifest.json"))
    assert manifest["rows"]["source_record"] == 2 and "portability/contacts.csv" in files.namelist()
    assert committed.cli("privacy", "export", filed["id"], "--out", str(out), check=False).returncode == 1

    preview = committed.cli("privacy", "request", "--type", "erasure", "--email", EMAIL, "--dry-run").stdout
    assert "matches 1 profile" in preview and '"data_keys_destroyed": 1' in preview
    assert "second approver" in preview

    erasure = json.loads(
        committed.cli("privacy", "request", "--type", "erasure", "--email", EMAIL, "--actor", "dpo-anna").stdout
    )
    assert erasure["status"] == "awaiting_approval"
    listed = committed.cli("privacy", "list").stdout
    assert erasure["id"] in listed and "awaiting_approval" in listed and filed["id"] not in listed
    same = committed.cli("privacy", "approve", erasure["id"], "--actor", "dpo-anna", check=False)
    assert same.returncode == 1 and "cannot approve" in same.stderr
    done = json.loads(committed.cli("privacy", "approve", erasure["id"], "--actor", "dpo-ben").stdout)
    assert done["status"] == "completed" and done["result"]["erasure"]["data_keys_destroyed"] == 1
    assert json.loads(committed.cli("privacy", "show", erasure["id"]).stdout)["approvals"] == ["dpo-ben"]
    gone = committed.cli("privacy", "export", filed["id"], "--out", str(tmp_path / "again.zip"), check=False)
    assert gone.returncode == 1 and "destroyed" in gone.stderr

    # Portability (Art. 20): the subset re-imports into an empty database with the same identities.
    csv_path = tmp_path / "contacts.csv"
    csv_path.write_bytes(files.read("portability/contacts.csv"))
    empty = _empty_pair(databases, tmp_path, committed)
    try:
        empty.cli("import", str(csv_path), "--source", "portability", "--id-column", "external_id")
        assert _identities(empty) == {("email", EMAIL), ("phone", normalize_phone(PHONE, None))}
    finally:
        databases.drop(empty.pair)
