"""policies/forms.yaml: web form definitions, refused with file:line when wrong."""

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
    return folder


def test_the_shipped_newsletter_form_loads() -> None:
    form = load_policies(DEFAULTS).forms["newsletter"]
    assert form.fields["email"] == "email"
    [box] = form.consents
    assert (box.field, box.purpose, box.notice_id, box.notice_version) == (
        "consent_marketing_email",
        "email_marketing",
        "newsletter-signup",
        "3",
    )
    assert form.honeypot == "website"


@pytest.mark.parametrize(
    ("body", "line", "problem"),
    [
        ("fields:\n      mail: e_mail\n", 5, "unknown contact field 'e_mail'"),
        ("consents:\n      - {field: c, purpose: nope, notice_id: n, notice_version: '1'}\n", 5, "unknown purpose"),
        (
            "consents:\n      - {field: c, purpose: email_marketing, notice_id: newsletter-signup,"
            " notice_version: '9'}\n",
            5,
            "is not a notice of email_marketing",
        ),
        ("max_fields: 0\n", 4, "positive integer"),
        ("colour: red\n", 4, "unknown key 'colour'"),
    ],
)
def test_a_bad_form_is_refused_with_file_and_line(policy_dir: Path, body: str, line: int, problem: str) -> None:
    text = "version: 1\nforms:\n  - id: f\n    " + body
    (policy_dir / "forms.yaml").write_text(textwrap.dedent(text))
    with pytest.raises(PolicyError) as refused:
        load_policies(policy_dir)
    message = str(refused.value)
    assert f"forms.yaml:{line}:" in message, message
    assert problem in message, message
