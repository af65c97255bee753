"""Standard-library helpers shared by the harness, the generators and the engines (any venv can import this).

A data set on disk is a folder with:
- `records.jsonl`: one record per line, ContactRecord-shaped plus `source` (never a truth column);
- `truth.csv`: record_id,entity_id;
- `traps.jsonl`: planted hard negatives, one group per line `{"kind": ..., "records": [...]}`; a group's
  cross-entity pairs are the trap pairs (a group with `"solo": true` lists records that must stay apart from
  every other entity: a record-level trap);
- `meta.json`: generator, parameters, counts.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent.parent
REPO_DIR = BENCH_DIR.parent
DATA_DIR = BENCH_DIR / ".data"
RESULTS_FILE = BENCH_DIR / "results" / "identity.jsonl"

CONTACT_FIELDS = ("email", "phone", "first_name", "last_name", "company", "job_title", "country", "city")

Record = dict[str, Any]


def h(*parts: object) -> int:
    """A stable 64-bit hash of the parts (no RNG state: output is order-independent and reproducible)."""
    digest = hashlib.sha256("|".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big")


def u(*parts: object) -> float:
    """A stable uniform number in [0, 1) from the parts."""
    return h(*parts) / 2**64


def pick(options: Sequence[Any], *parts: object) -> Any:
    return options[h(*parts) % len(options)]


def weighted(options: Sequence[tuple[Any, float]], *parts: object) -> Any:
    x = u(*parts) * sum(w for _, w in options)
    for value, w in options:
        if x < w:
            return value
        x -= w
    return options[-1][0]


def write_dataset(
    out: Path,
    records: Iterable[Record],
    truth: Mapping[str, str],
    traps: Iterable[Mapping[str, Any]],
    meta: Mapping[str, Any],
) -> None:
    """Write atomically: a half-written folder never looks like a data set."""
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    count = 0
    with (tmp / "records.jsonl").open("w") as fh:
        for rec in records:
            clean = {k: v for k, v in rec.items() if v not in (None, "")}
            fh.write(json.dumps(clean, ensure_ascii=False, sort_keys=True) + "\n")
            count += 1
    with (tmp / "truth.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["record_id", "entity_id"])
        writer.writerows(sorted(truth.items()))
    with (tmp / "traps.jsonl").open("w") as fh:
        for trap in traps:
            fh.write(json.dumps(trap, sort_keys=True) + "\n")
    entities = len(set(truth.values()))
    (tmp / "meta.json").write_text(json.dumps({**meta, "records": count, "entities": entities}, indent=2) + "\n")
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)


def read_records(folder: Path) -> list[Record]:
    with (folder / "records.jsonl").open() as fh:
        return [json.loads(line) for line in fh if line.strip()]


def read_truth(folder: Path) -> dict[str, str]:
    with (folder / "truth.csv").open(newline="") as fh:
        return {row["record_id"]: row["entity_id"] for row in csv.DictReader(fh)}


def read_traps(folder: Path) -> list[dict[str, Any]]:
    with (folder / "traps.jsonl").open() as fh:
        return [json.loads(line) for line in fh if line.strip()]


def write_clusters(path: Path, clusters: Mapping[str, str]) -> None:
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["record_id", "cluster_id"])
        writer.writerows(clusters.items())


def read_clusters(path: Path) -> dict[str, str]:
    with path.open(newline="") as fh:
        return {row["record_id"]: row["cluster_id"] for row in csv.DictReader(fh)}


def trap_groups(records_by_key: Mapping[tuple[str, str], list[str]], truth: Mapping[str, str]) -> list[Record]:
    """Groups (kind, key) -> records, kept where the records belong to at least two entities."""
    out: list[Record] = []
    for (kind, key), ids in sorted(records_by_key.items()):
        if len({truth[i] for i in ids}) > 1:
            out.append({"kind": kind, "key": key, "records": sorted(ids)})
    return out
