"""Purpose catalog and retention rules: the shipped defaults load, and every mistake names its file and line."""

# ruff: noqa: E501  (policy snippets read best on one line each)
import datetime as dt
import hashlib
import shutil
import textwrap
from pathlib import Path

import pytest

from cdp.policies import PolicyError, load_policies

DEFAULTS = Path(__file__).resolve().parents[3] / "policies"


@pytest.fixture
def policy_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "policies"
    shutil.copytree(DEFAULTS, folder)
    # forms.yaml names shipped purposes; these tests replace purposes.yaml (tests/unit/policies/test_forms.py).
    (folder / "forms.yaml").unlink()
    return folder


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def _refused(folder: Path) -> str:
    with pytest.raises(PolicyError) as refused:
        load_policies(folder)
    message = str(refused.value)
    assert "\n" not in message
    return message


def test_the_shipped_defaults_load_and_cross_reference():
    policies = load_policies(DEFAULTS)
    email = policies.purposes["email_marketing"]
    assert email.lawful_basis == "consent" and email.consent_required and email.direct_marketing
    assert "implied" not in email.consent_types_accepted
    assert policies.retention.rule(email.retention or "") is not None
    assert any(p.sale_or_share for p in policies.purposes.values())
    assert {r.target for r in policies.retention.rules} >= {"profile", "event", "quarantine"}


def test_the_shipped_soft_opt_in_purpose_is_legitimate_interest_direct_marketing():
    policies = load_policies(DEFAULTS)
    soft = policies.purposes["customer_similar_products_email"]
    assert soft.soft_opt_in_allowed and soft.direct_marketing and soft.lawful_basis == "legitimate_interest"
    assert not soft.consent_required and soft.channels == ("email",)
    assert "soft_opt_in" in soft.consent_types_accepted
    assert policies.retention.rule(soft.retention or "") is not None
    assert not any(p.soft_opt_in_allowed for p in policies.purposes.values() if p.id != soft.id)


def test_every_shipped_notice_has_a_sha256_and_a_text_notice_hashes_to_its_text():
    policies = load_policies(DEFAULTS)
    notices = [n for p in policies.purposes.values() for n in p.notices]
    assert notices and all(n.sha256 and len(n.sha256) == 64 for n in notices)
    [text_notice] = [n for n in notices if n.text]
    assert text_notice.sha256 == hashlib.sha256(text_notice.text.encode()).hexdigest()


def test_soft_opt_in_allowed_defaults_the_accepted_types_to_include_it(policy_dir):
    _write(
        policy_dir,
        "purposes.yaml",
        """
        purposes:
          - id: soft
            lawful_basis: legitimate_interest
            channels: [email]
            direct_marketing: true
            soft_opt_in_allowed: true
        """,
    )
    purpose = load_policies(policy_dir).purposes["soft"]
    assert purpose.consent_types_accepted == ("soft_opt_in", "expressed", "explicitly_expressed")


def test_consent_validity_counts_calendar_months():
    purpose = load_policies(DEFAULTS).purposes["email_marketing"]  # P24M
    granted = dt.datetime(2024, 2, 29, 12, tzinfo=dt.UTC)
    assert purpose.expires_at(granted) == dt.datetime(2026, 2, 28, 12, tzinfo=dt.UTC)


def test_the_notice_in_force_is_the_latest_effective_one(policy_dir):
    _write(
        policy_dir,
        "purposes.yaml",
        """
        purposes:
          - id: news
            lawful_basis: consent
            channels: [email]
            consent_validity: P1Y
            notices:
              - {id: n, version: "1", effective_from: 2024-01-01, url: "https://example.com/1"}
              - {id: n, version: "2", effective_from: 2025-06-01, url: "https://example.com/2"}
        """,
    )
    purpose = load_policies(policy_dir).purposes["news"]
    assert purpose.notice_at(dt.date(2025, 5, 31)).version == "1"
    assert purpose.notice_at(dt.date(2025, 6, 1)).version == "2"
    assert purpose.notice_at(dt.date(2023, 1, 1)) is None


@pytest.mark.parametrize(
    ("purpose_body", "line", "problem"),
    [
        # COMPLIANCE 7.37: a consent purpose with no validity or notice
        (
            "lawful_basis: consent\n    channels: [email]\n    notices: [{id: n, version: '1', effective_from: 2025-01-01, url: u}]",
            2,
            "consent_validity",
        ),
        ("lawful_basis: consent\n    channels: [email]\n    consent_validity: P1Y", 2, "notice"),
        # an invalid ISO 8601 duration
        (
            "lawful_basis: consent\n    channels: [email]\n    consent_validity: 24 months\n    notices: [{id: n, version: '1', effective_from: 2025-01-01, url: u}]",
            5,
            "ISO 8601",
        ),
        # an unknown retention id
        ("lawful_basis: contract\n    channels: [any]\n    retention: forever-and-a-day", 5, "forever-and-a-day"),
        ("lawful_basis: vibes\n    channels: [email]", 3, "lawful_basis"),
        ("lawful_basis: contract\n    channels: [pigeon]", 4, "pigeon"),
        ("lawful_basis: contract\n    channels: [email]\n    consent_types_accepted: [telepathic]", 5, "telepathic"),
        ("lawful_basis: contract\n    channels: [email]\n    direct_marketting: true", 5, "direct_marketting"),
        # PECR reg. 22(3): soft opt-in only for legitimate-interest direct marketing
        (
            "lawful_basis: legitimate_interest\n    channels: [email]\n    soft_opt_in_allowed: true",
            5,
            "soft_opt_in_allowed",
        ),
        (
            "lawful_basis: contract\n    channels: [email]\n    direct_marketing: true\n    soft_opt_in_allowed: true",
            6,
            "legitimate_interest",
        ),
        (
            "lawful_basis: consent\n    channels: [email]\n    consent_validity: P1Y\n    direct_marketing: true\n    soft_opt_in_allowed: true\n    notices: [{id: n, version: '1', effective_from: 2025-01-01, url: u}]",
            7,
            "soft_opt_in_allowed",
        ),
        ("lawful_basis: contract\n    channels: [email]\n    soft_opt_in_allowed: maybe", 5, "true or false"),
        (
            "lawful_basis: legitimate_interest\n    channels: [email]\n    direct_marketing: true\n    consent_types_accepted: [soft_opt_in]",
            6,
            "soft_opt_in_allowed",
        ),
        # a notice given in full must hash to its text
        (
            "lawful_basis: contract\n    channels: [email]\n    notices:\n      - id: n\n        version: '1'\n        effective_from: 2025-01-01\n        text: We told you.\n        sha256: "
            + "0" * 64,
            10,
            "sha256",
        ),
    ],
)
def test_a_bad_purpose_is_refused_with_file_and_line(policy_dir, purpose_body, line, problem):
    path = _write(policy_dir, "purposes.yaml", f"purposes:\n  - id: news\n    {purpose_body}\n")
    message = _refused(policy_dir)
    assert message.startswith(f"{path}:{line}:"), message
    assert problem in message


@pytest.mark.parametrize(
    ("rule_body", "line", "problem"),
    [
        (
            "applies_to: {table: audit_log}\n    trigger: {since: created}\n    keep_for: P1Y\n    action: delete_rows",
            3,
            "audit_log",
        ),
        (
            "applies_to: {table: suppression}\n    trigger: {since: created}\n    keep_for: P1Y\n    action: delete_rows",
            3,
            "suppression",
        ),
        (
            "applies_to: {table: profile}\n    trigger: {since: created}\n    keep_for: P1Y\n    action: shred",
            6,
            "shred",
        ),
        (
            "applies_to: {table: profile}\n    trigger: {since: created}\n    keep_for: P1Y\n    action: delete_rows",
            6,
            "does not apply",
        ),
        (
            "applies_to: {table: profile}\n    trigger: {since: created}\n    keep_for: 1 year\n    action: erase",
            5,
            "ISO 8601",
        ),
        (
            "applies_to: {table: profile}\n    trigger: {since: created}\n    keep_for: P0D\n    action: erase",
            5,
            "positive",
        ),
        (
            "applies_to: {table: profile}\n    trigger: {since: birthday}\n    keep_for: P1Y\n    action: erase",
            4,
            "birthday",
        ),
        (
            "applies_to: {table: profile}\n    trigger: {since: relationship_ended}\n    keep_for: P1Y\n    action: erase",
            4,
            "event_type",
        ),
        (
            "applies_to: {table: event, where: {colour: [red]}}\n    trigger: {since: occurred}\n    keep_for: P1Y\n    action: delete_rows",
            3,
            "colour",
        ),
        ("applies_to: {table: profile}\n    trigger: {since: created}\n    action: erase", 2, "keep_for"),
    ],
)
def test_a_bad_retention_rule_is_refused_with_file_and_line(policy_dir, rule_body, line, problem):
    _write(policy_dir, "purposes.yaml", "purposes: []\n")
    path = _write(policy_dir, "retention.yaml", f"rules:\n  - id: r1\n    {rule_body}\n")
    message = _refused(policy_dir)
    assert message.startswith(f"{path}:{line}:"), message
    assert problem in message


def test_duplicate_ids_are_refused(policy_dir):
    _write(policy_dir, "purposes.yaml", "purposes: []\n")
    rule = (
        "applies_to: {table: quarantine}\n    trigger: {since: received}\n    keep_for: P30D\n    action: delete_rows"
    )
    path = _write(policy_dir, "retention.yaml", f"rules:\n  - id: r1\n    {rule}\n  - id: r1\n    {rule}\n")
    message = _refused(policy_dir)
    assert message.startswith(f"{path}:7:") and "duplicate" in message
