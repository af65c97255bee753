"""Turning CSV / JSON Lines files into raw ContactRecord rows, with a column mapping.

Columns named like a ContactRecord field map to it; `--map FIELD=COLUMN` overrides; every other non-empty
column lands in `attributes`. A file preset (a tool's export format, `connectors.csv`) binds to the header row
and may add consents and events per row (`RowPlan.enrich`). Rows are streamed, never loaded whole.
"""

import csv
import datetime as dt
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from pathlib import Path
from typing import Any, Literal

from cdp.errors import InvalidInput
from cdp.ingest.records import ContactRecord

FileFormat = Literal["csv", "jsonl"]
SCALAR_FIELDS = frozenset(
    name for name in ContactRecord.model_fields if name not in {"source", "attributes", "consents", "events"}
)


Enrich = Callable[[Mapping[str, Any], dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class RowPlan:
    """How one file's rows become records: the id column, field -> column, columns an `enrich` step reads
    (kept out of `attributes`), and that step (raw row, mapped record) -> record."""

    id_column: str
    mapping: Mapping[str, str] = dataclass_field(default_factory=dict)
    consumed: frozenset[str] = frozenset()
    enrich: Enrich | None = None


Planner = Callable[[Sequence[str]], RowPlan]
"""A file preset: given the header row, the plan (or `InvalidInput` naming what the file lacks)."""


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


def _csv_rows(path: Path, fh: Any, plan: RowPlan | Planner) -> tuple[RowPlan, Iterator[dict[str, Any]]]:
    reader = csv.DictReader(fh)
    try:
        header = [h.strip() for h in reader.fieldnames or []]
    except csv.Error as exc:
        raise InvalidInput(f"{path.name}: not a readable CSV file ({exc})") from exc
    if not header or not any(header):
        raise InvalidInput(f"{path.name}: the file is empty (a CSV import needs a header row)")
    reader.fieldnames = header
    bound = plan(header) if callable(plan) else plan
    if bound.id_column not in header:
        # The header is not echoed: a file without one would show its first row here.
        raise InvalidInput(f"{path.name}: the header row has no id column {bound.id_column!r}")
    for column in bound.mapping.values():
        if column not in header:
            raise InvalidInput(f"{path.name}: the header row has no column {column!r} (from --map)")

    def rows() -> Iterator[dict[str, Any]]:
        try:
            for row in reader:
                yield {k: v for k, v in row.items() if k is not None} if None in row else row
        except csv.Error as exc:
            raise InvalidInput(f"{path.name}:{reader.line_num}: not a readable CSV row ({exc})") from exc

    return bound, rows()


def _jsonl_rows(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(newline="", encoding="utf-8-sig") as fh:
        for line_no, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except ValueError as exc:
                raise InvalidInput(f"{path.name}:{line_no}: not a JSON object per line") from exc
            yield value if isinstance(value, dict) else {"__not_an_object__": True}


def map_row(
    row: Mapping[str, Any],
    *,
    id_column: str,
    mapping: Mapping[str, str],
    observed_at: dt.datetime,
    consumed: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """A raw row in ContactRecord shape; validation (and quarantine) is left to `ingest_batch`."""
    if row.get("__not_an_object__"):
        return {"external_id": None}
    used = {id_column, *mapping.values(), *consumed}
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
    path: Path,
    *,
    fmt: FileFormat,
    id_column: str | None = None,
    mapping: Mapping[str, str] | None = None,
    observed_at: dt.datetime,
    preset: Planner | None = None,
) -> Iterator[dict[str, Any]]:
    """The one way a file becomes records (`cdp import`, with or without a preset). Errors about the file as a
    whole (missing, empty, not UTF-8, a header without the columns needed) raise `InvalidInput` before any row
    is yielded; a bad row is left for `ingest_batch` to quarantine."""
    if not path.is_file():
        raise InvalidInput(f"no such file: {path}")
    if preset is not None and fmt != "csv":
        raise InvalidInput("a file preset reads CSV files only")
    if preset is None and not id_column:
        raise InvalidInput("say which column holds the record id (--id-column), or use a --preset")
    try:
        yield from _read(path, fmt, id_column or "", dict(mapping or {}), observed_at, preset)
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{path.name}: not UTF-8 text (save the file as CSV UTF-8)") from exc


def _read(
    path: Path,
    fmt: FileFormat,
    id_column: str,
    mapping: dict[str, str],
    observed_at: dt.datetime,
    preset: Planner | None,
) -> Iterator[dict[str, Any]]:
    if fmt == "jsonl":
        for row in _jsonl_rows(path):
            yield map_row(row, id_column=id_column, mapping=mapping, observed_at=observed_at)
        return

    def plan(header: Sequence[str]) -> RowPlan:
        if preset is None:
            return RowPlan(id_column=id_column, mapping=mapping)
        bound = preset(header)
        # --map and --id-column given with a preset override it.
        return RowPlan(
            id_column=id_column or bound.id_column,
            mapping={**bound.mapping, **mapping},
            consumed=bound.consumed,
            enrich=bound.enrich,
        )

    with path.open(newline="", encoding="utf-8-sig") as fh:
        bound, rows = _csv_rows(path, fh, plan)
        for row in rows:
            out = map_row(
                row, id_column=bound.id_column, mapping=bound.mapping, observed_at=observed_at, consumed=bound.consumed
            )
            yield bound.enrich(row, out) if bound.enrich is not None else out
