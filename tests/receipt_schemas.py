"""The receipt JSON Schemas in docs/schemas/, as jsonschema validators (formats checked)."""

import json
from pathlib import Path
from typing import Any

import jsonschema

SCHEMAS = Path(__file__).resolve().parent.parent / "docs" / "schemas"


def _validator(name: str) -> Any:
    schema = json.loads((SCHEMAS / name).read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


RECEIPT_27560 = _validator("cdp-27560-receipt.schema.json")
KANTARA_V1_1 = _validator("kantara-consent-receipt-v1_1.schema.json")


def assert_valid(validator: Any, document: Any) -> None:
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)
