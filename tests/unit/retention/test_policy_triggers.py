"""The loader accepts only the clocks a table has, so the engine implements every rule that loads."""

import shutil

import pytest

from cdp.policies import PolicyError, load_policies
from cdp.settings import DEFAULT_POLICIES_DIR

RULE = """version: 1
rules:
  - id: odd
    applies_to: {{table: {table}}}
    trigger: {{since: {since}}}
    keep_for: P30D
    action: delete_rows
"""


def _load(tmp_path, table, since):
    shutil.copy(DEFAULT_POLICIES_DIR / "access.yaml", tmp_path / "access.yaml")
    (tmp_path / "retention.yaml").write_text(RULE.format(table=table, since=since))
    return load_policies(tmp_path)


def test_a_trigger_the_table_does_not_have_is_refused_with_its_line(tmp_path):
    with pytest.raises(PolicyError, match=r"retention.yaml:5: trigger 'last_activity' does not apply to quarantine"):
        _load(tmp_path, "quarantine", "last_activity")


def test_a_trigger_the_table_has_loads(tmp_path):
    assert _load(tmp_path, "event", "occurred").retention.rules[0].trigger == "occurred"
