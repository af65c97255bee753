"""Incremental latency: load a store, then ingest the last records one at a time, each in its own commit.

    python -m bench.identity.incremental --dataset cdp-synth --size 5000 --probe 300

Runs cdp in-process on a fresh SQLite store (or `--db postgresql+psycopg://…`; the databases must exist and be
empty) and prints load throughput and p50/p99 per-record latency, commit included.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.identity import datasets


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="cdp-synth")
    parser.add_argument("--size", type=int, default=5000)
    parser.add_argument("--probe", type=int, default=300, help="records ingested one at a time at the end")
    parser.add_argument("--chunk", type=int, default=2000, help="records per batch while loading the store")
    parser.add_argument("--db", default=None, help="data store URL (default: a fresh SQLite file)")
    args = parser.parse_args(argv)

    folder = datasets.ensure(args.dataset, args.size)
    work = Path(tempfile.mkdtemp(prefix="bench-incremental-"))
    os.environ["CDP_DATABASE_URL"] = args.db or f"sqlite:///{work / 'cdp.db'}"
    os.environ["CDP_KEY_FILE"] = str(work / "keys.json")
    os.environ.setdefault("CDP_LOG_LEVEL", "WARNING")

    from cdp import migrate
    from cdp.audit.log import Actor
    from cdp.bootstrap import open_runtime
    from cdp.db import unit_of_work
    from cdp.ingest.pipeline import ingest_batch
    from cdp.settings import Settings

    settings = Settings()
    migrate.upgrade("compliance", settings.compliance_url)
    migrate.upgrade("data", settings.database_url)
    rows: list[tuple[str, dict[str, object]]] = []
    for line in (folder / "records.jsonl").read_text().splitlines():
        record = json.loads(line)
        source = record.pop("source")
        record["external_id"] = record.pop("record_id")
        rows.append((source, record))
    base, probe = rows[: -args.probe], rows[-args.probe :]
    actor = Actor("bench", "system")
    runtime = open_runtime(settings)
    started = time.perf_counter()
    for source in sorted({s for s, _ in base}):
        mine = [r for s, r in base if s == source]
        for i in range(0, len(mine), args.chunk):
            with unit_of_work(runtime.stores) as session:
                ingest_batch(session, source, mine[i : i + args.chunk], actor=actor)
    load_s = time.perf_counter() - started
    ceiling_s = _raw_executemany(runtime.stores, base)
    latencies = []
    for source, record in probe:
        t = time.perf_counter()
        with unit_of_work(runtime.stores) as session:
            ingest_batch(session, source, [record], actor=actor)
        latencies.append((time.perf_counter() - t) * 1000)
    runtime.close()
    latencies.sort()
    p99 = latencies[max(0, int(len(latencies) * 0.99) - 1)]
    print(
        f"{args.dataset}: store of {len(base)} records loaded in {load_s:.0f} s ({len(base) / load_s:.0f} records/s); "
        f"{len(latencies)} single-record ingests with commit: p50 {statistics.median(latencies):.1f} ms, "
        f"p99 {p99:.1f} ms, max {latencies[-1]:.1f} ms; ceiling: raw executemany of the same rows "
        f"{len(base) / ceiling_s:,.0f} records/s"
    )
    return 0


def _raw_executemany(stores: Any, rows: list[tuple[str, dict[str, object]]]) -> float:
    """The ceiling: the same rows as plain JSON into a scratch table of the same database, one executemany."""
    from sqlalchemy import JSON, Column, MetaData, String, Table, insert

    table = Table(
        "bench_raw_contact",
        MetaData(),
        Column("source", String(64)),
        Column("external_id", String(256)),
        Column("payload", JSON),
    )
    engine = stores.engines[0]  # the data store
    table.create(engine, checkfirst=True)
    started = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(
            insert(table), [{"source": s, "external_id": str(r["external_id"]), "payload": r} for s, r in rows]
        )
    elapsed = time.perf_counter() - started
    table.drop(engine)
    return elapsed


if __name__ == "__main__":
    raise SystemExit(main())
