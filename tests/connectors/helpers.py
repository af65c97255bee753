"""Fixtures from the connector research (`/work/shared/fixtures`, copied to `tests/connectors/fixtures`)."""

import json
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())
