"""Inputs for the real write path (`ingest_batch`); nothing here writes to a database itself."""

import itertools
from typing import Any

_seq = itertools.count(1)


def contact_row(**overrides: Any) -> dict[str, Any]:
    n = next(_seq)
    row: dict[str, Any] = {
        "external_id": f"ext-{n}",
        "observed_at": "2026-03-01T09:00:00Z",
        "email": f"person{n}.testerson@acme.example",
        "first_name": "Person",
        "last_name": f"Testerson{n}",
        "country": "GB",
    }
    row.update(overrides)
    return {k: v for k, v in row.items() if v is not None}


def contact_rows(count: int = 1, **overrides: Any) -> list[dict[str, Any]]:
    return [contact_row(**overrides) for _ in range(count)]
