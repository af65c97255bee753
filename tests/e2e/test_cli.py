import os
import stat

from sqlalchemy import select

from cdp.db import unit_of_work


def test_help_lists_every_command_group(committed):
    out = committed.cli("--help").stdout
    for group in ("serve", "demo", "db", "keys", "audit", "policies"):
        assert group in out


def test_first_run_creates_a_private_key_file_and_says_where(committed):
    key_file = committed.workdir / "cdp.keys.json"
    assert not key_file.exists()
    proc = committed.cli("keys", "list")
    assert key_file.exists()
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    assert str(key_file) in proc.stderr
    again = committed.cli("keys", "list")
    assert "created key file" not in again.stderr


def test_db_upgrade_is_idempotent_and_current_reports_head(committed):
    committed.cli("db", "upgrade")
    out = committed.cli("db", "current").stdout
    assert out.count("at head") == 2


def test_api_keys_are_shown_once_and_stored_as_hashes(committed):
    from cdp.auth.models import ApiKey

    created = committed.cli("keys", "create", "--role", "sales", "--name", "crm team").stdout.strip()
    key_id, role, token = created.split("\t")
    assert role == "sales" and token.startswith("cdp_")
    listed = committed.cli("keys", "list").stdout
    assert key_id in listed and token not in listed
    rt = committed.open_runtime()
    try:
        with unit_of_work(rt.stores) as s:
            row = s.scalars(select(ApiKey).where(ApiKey.id == key_id)).one()
            assert row.token_hash != token and token not in row.token_hash
    finally:
        rt.close()
    committed.cli("keys", "revoke", key_id)
    assert "revoked" in committed.cli("keys", "list").stdout


def test_unknown_role_is_a_one_line_error(committed):
    committed.cli("keys", "list")
    proc = committed.cli("keys", "create", "--role", "boss", "--name", "x", check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        "error: unknown role 'boss'; roles are admin, compliance, connector, marketing, sales"
    ]


def test_revoking_an_unknown_key_is_a_one_line_error(committed):
    committed.cli("keys", "list")
    proc = committed.cli("keys", "revoke", "key_nope", check=False)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip() == "error: no API key 'key_nope'"


def test_resetting_an_unknown_connector_is_a_one_line_error_and_stores_nothing(committed):
    committed.cli("db", "upgrade")
    proc = committed.cli("connectors", "reset", "nosuch", check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        "error: no pull connector named 'nosuch'; known: hubspot, mailchimp, salesforce"
    ]
    assert "nosuch" not in committed.cli("connectors", "list").stdout


def test_policies_check_accepts_the_shipped_defaults(committed):
    assert committed.cli("policies", "check").stdout.startswith("ok:")


def test_a_malformed_policy_file_is_refused_with_file_and_line(committed, tmp_path):
    bad = tmp_path / "policies"
    bad.mkdir()
    (bad / "access.yaml").write_text("roles:\n  sales:\n    permissions: [profiles.read, profiles.teleport]\n")
    committed.env["CDP_POLICIES_DIR"] = str(bad)
    proc = committed.cli("policies", "check", check=False)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert f"{bad / 'access.yaml'}:3" in lines[0] and "profiles.teleport" in lines[0]
