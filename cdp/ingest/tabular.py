"""Turning CSV / JSON Lines files into raw ContactRecord rows, with a column mapping.

Columns named like a ContactRecord field map to it; `--map FIELD=COLUMN` overrides; every other non-empty
column lands in `attributes`. Rows are streamed, never loaded whole.
"""

import csv
import datetime as dt
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

from cdp.errors import InvalidInput
from cdp.ingest.records import ContactRecord

FileFormat = Literal["csv", "jsonl"]
SCALAR_FIELDS = frozenset(
    name for name in ContactRecord.model_fields if name not in {"source", "attributes", "consents", "events"}
)


def parse_mapping(pairs: list[str]) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for pair in pairs:
        field, sep, column = pair.partition("=")
        if not sep or not field or not column:
            raise InvalidInput(f"--map takes FIELD=COLUMN, got {pair!r}")
        if field not in SCALAR_FIELDS:
            raise InvalidInput(f"--map: unknown field {field!r}; fields are {', '.join(sorted(SCALAR_FIELDS))}")
        mapping[field] = column
    return mapping


def guess_format(path: Path) -> FileFormat:
    return "jsonl" if path.suffix.lower() in {".jsonl", ".ndjson", ".json"} else "csv"


def _raw_rows(path: Path, fmt: FileFormat) -> Iterator[dict[str, Any]]:
    with path.open(newline="", encoding="utf-8-sig") as fh:
        if fmt == "csv":
            yield from csv.DictReader(fh)
            return
        for line_no, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except ValueError as exc:
                raise InvalidInput(f"{path.name}:{line_no}: not a JSON object per line") from exc
            yield value if isinstance(value, dict) else {"__not_an_object__": True}


def map_row(
    row: Mapping[str, Any], *, id_column: str, mapping: Mapping[str, str], observed_at: dt.datetime
) -> dict[str, Any]:
    """A raw row in ContactRecord shape; validation (and quarantine) is left to `ingest_batch`."""
    if row.get("__not_an_object__"):
        return {"external_id": None}
    used = {id_column, *mapping.values()}
    out: dict[str, Any] = {"external_id": row.get(id_column), "observed_at": observed_at.isoformat()}
    for field in SCALAR_FIELDS - {"external_id"}:
        column = mapping.get(field, field)
        value = row.get(column)
        if value not in (None, ""):
            out[field] = value
            used.add(column)
    attributes = {k: v for k, v in row.items() if k not in used and k is not None and v not in (None, "")}
    if attributes:
        out["attributes"] = attributes
    return out


def read_rows(
    path: Path, *, fmt: FileFormat, id_column: str, mapping: Mapping[str, str], observed_at: dt.datetime
) -> Iterator[dict[str, Any]]:
    if not path.is_file():
        raise InvalidInput(f"no such file: {path}")
    for row in _raw_rows(path, fmt):
        yield map_row(row, id_column=id_column, mapping=mapping, observed_at=observed_at)
