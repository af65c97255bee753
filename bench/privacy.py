"""`python -m bench.privacy`: Art. 17 erasure cost on SQLite and PostgreSQL (issue 6).

Two figures per backend, on fresh migrated stores:
- latency: one person with 1,000 events (plus consents, identities, a source record, an audience snapshot),
  erased as a privacy request does it: `erase_subject` in one unit of work, commit, `scrub_residue`. The
  store around them holds the throughput population, so lookups run on realistic table sizes.
- throughput: 10,000 people (3 events and a consent each), erased one request at a time, each its own
  unit of work + commit + scrub, as the request job does.

`--size` scales both (0.002 is the CI smoke run). One JSON line per backend goes to `--results`
(default bench/results/privacy.jsonl). PostgreSQL databases `<name>` and `<name>_compliance` on `--pg-url`
are created and dropped; if PostgreSQL is unreachable that backend is reported as skipped.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import platform
import shutil
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

REPO_DIR = Path(__file__).resolve().parent.parent
RESULTS_FILE = REPO_DIR / "bench" / "results" / "privacy.jsonl"
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/cdp_bench_privacy"
FULL_PEOPLE, FULL_EVENTS, HEAVY_PEOPLE = 10_000, 1_000, 5
CHUNK = 2_000


def _surname(seed: str) -> str:
    # Distinct, unrelated surnames, so identity resolution keeps every bench person apart.
    digest = hashlib.sha256(seed.encode()).digest()
    return "".join("bcdfghjklmnprstvz"[b % 17] + "aeiou"[b % 5] for b in digest[:5]).title()


def _person(n: int, events: int, prefix: str) -> dict[str, Any]:
    return {
        "external_id": f"{prefix}-{n}",
        "observed_at": "2026-03-01T09:00:00Z",
        "email": f"{prefix}.person{n}@bench.example",
        "phone": f"+4420{7946_0000 + n:08d}" if n % 3 == 0 and prefix == "pop" else None,
        "first_name": "Bench",
        "last_name": _surname(f"{prefix}-{n}"),
        "company": "Bench Ltd",
        "country": "GB",
        "consents": [{"purpose": "email_marketing", "status": "granted", "occurred_at": "2026-01-01T00:00:00Z"}],
        "events": [
            {
                "type": "page_viewed",
                "occurred_at": (dt.datetime(2026, 1, 1, tzinfo=dt.UTC) + dt.timedelta(minutes=i)).isoformat(),
                "external_id": f"{prefix}-{n}-ev{i}",
                "properties": {"path": f"/p/{i}"},
            }
            for i in range(events)
        ],
    }


def _pg_admin(url: str, sql: list[str]) -> None:
    import psycopg
    from sqlalchemy import make_url

    u = make_url(url)
    with psycopg.connect(
        host=u.host or "127.0.0.1",
        port=u.port or 5432,
        user=u.username or "postgres",
        password=u.password,
        dbname="postgres",
        autocommit=True,
        connect_timeout=5,
    ) as conn:
        for statement in sql:
            conn.execute(statement)


def _stores(backend: str, work: Path, pg_url: str) -> tuple[str, str]:
    from sqlalchemy import make_url

    if backend == "sqlite":
        return f"sqlite:///{work / 'cdp.db'}", f"sqlite:///{work / 'cdp-compliance.db'}"
    name = make_url(pg_url).database or "cdp_bench_privacy"
    names = [name, f"{name}_compliance"]
    _pg_admin(pg_url, [s for n in names for s in (f'DROP DATABASE IF EXISTS "{n}"', f'CREATE DATABASE "{n}"')])
    return (
        make_url(pg_url).set(database=names[0]).render_as_string(hide_password=False),
        make_url(pg_url).set(database=names[1]).render_as_string(hide_password=False),
    )


def run_backend(backend: str, *, people: int, events: int, heavy: int, pg_url: str, work: Path) -> dict[str, Any]:
    from sqlmodel import select

    from cdp import migrate
    from cdp.audiences.models import Audience, AudienceMembershipSnapshot
    from cdp.audiences.removals import seal_ref
    from cdp.audit.log import Actor
    from cdp.bootstrap import open_runtime
    from cdp.crypto.keyring import create_key_file
    from cdp.db import unit_of_work
    from cdp.ingest.pipeline import ingest_batch
    from cdp.privacy.erasure import erase_subject, scrub_residue
    from cdp.profiles.models import Identity
    from cdp.settings import DEFAULT_POLICIES_DIR, Settings

    data_url, compliance_url = _stores(backend, work, pg_url)
    for store, url in (("data", data_url), ("compliance", compliance_url)):
        migrate.upgrade(store, url)  # type: ignore[arg-type]
    key_file = work / "keys.json"
    create_key_file(key_file)
    settings = Settings(
        database_url=data_url,
        compliance_database_url=compliance_url,
        key_file=key_file,
        policies_dir=DEFAULT_POLICIES_DIR,
    )
    rt = open_runtime(settings)
    actor = Actor("bench-privacy", "system")
    engines = list(rt.stores.engines)
    try:
        t = time.perf_counter()
        population: list[uuid.UUID] = []
        rows = [_person(n, 3, "pop") for n in range(people)]
        for i in range(0, len(rows), CHUNK):
            with unit_of_work(rt.stores) as session:
                result = ingest_batch(session, "crm", rows[i : i + CHUNK], actor=actor)
                population += [r.profile_id for r in result.results if r.profile_id is not None]
        heavy_ids: list[uuid.UUID] = []
        with unit_of_work(rt.stores) as session:
            audience = Audience(name="bench-news", purpose="email_marketing", destination="mailchimp")
            session.add(audience)
            session.flush()
            for n in range(heavy):
                [r] = ingest_batch(session, "crm", [_person(n, events, "heavy")], actor=actor).results
                assert r.profile_id is not None
                heavy_ids.append(r.profile_id)
                identity = session.scalars(
                    select(Identity).where(Identity.profile_id == r.profile_id, Identity.kind == "email")
                ).one()
                session.add(
                    AudienceMembershipSnapshot(
                        audience_id=audience.id,
                        destination="mailchimp",
                        profile_id=r.profile_id,
                        identity_id=identity.id,
                        member_ref=seal_ref(session, r.profile_id, f"ref-{n}"),
                    )
                )
        load_s = time.perf_counter() - t

        latencies: list[float] = []
        rows_deleted: list[int] = []
        for pid in heavy_ids:
            t = time.perf_counter()
            with unit_of_work(rt.stores) as session:
                erased = erase_subject(session, [pid], actor=actor, request_id=uuid.uuid4())
            scrub_residue(engines)
            latencies.append(time.perf_counter() - t)
            rows_deleted.append(sum(erased.counts.values()))
            assert erased.counts.get("event", 0) >= events, erased.counts

        t = time.perf_counter()
        scrub_s = 0.0
        for pid in population:
            with unit_of_work(rt.stores) as session:
                erase_subject(session, [pid], actor=actor, request_id=uuid.uuid4())
            s = time.perf_counter()
            scrub_residue(engines)
            scrub_s += time.perf_counter() - s
        bulk_s = time.perf_counter() - t
    finally:
        rt.close()
        if backend == "postgresql":
            from sqlalchemy import make_url

            _pg_admin(pg_url, [f'DROP DATABASE IF EXISTS "{make_url(u).database}"' for u in (data_url, compliance_url)])
    return {
        "backend": backend,
        "people": len(population),
        "events_per_person": events,
        "load_s": round(load_s, 2),
        "latency_ms": {
            "median": round(statistics.median(latencies) * 1000, 1),
            "max": round(max(latencies) * 1000, 1),
            "runs": len(latencies),
        },
        "rows_per_heavy_erasure": int(statistics.median(rows_deleted)),
        "throughput": {
            "erasures": len(population),
            "seconds": round(bulk_s, 2),
            "per_second": round(len(population) / bulk_s, 1) if bulk_s else None,
            "ms_each": round(bulk_s / len(population) * 1000, 2) if population else None,
            "checkpoint_ms_each": round(scrub_s / len(population) * 1000, 2) if population else None,
        },
    }


def _table(results: list[dict[str, Any]]) -> str:
    head = (
        "backend",
        "latency median",
        "latency max",
        "rows deleted",
        "bulk erasures",
        "total",
        "per second",
        "ms each",
        "of which checkpoint",
    )
    lines = [head]
    for r in results:
        if r.get("skipped"):
            lines.append((r["backend"], f"skipped: {r['skipped']}", *[""] * (len(head) - 2)))
            continue
        lat, thr = r["latency_ms"], r["throughput"]
        lines.append(
            (
                r["backend"],
                f"{lat['median']} ms",
                f"{lat['max']} ms",
                str(r["rows_per_heavy_erasure"]),
                str(thr["erasures"]),
                f"{thr['seconds']} s",
                str(thr["per_second"]),
                str(thr["ms_each"]),
                f"{thr['checkpoint_ms_each']} ms",
            )
        )
    widths = [max(len(row[i]) for row in lines) for i in range(len(head))]
    out = [" | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in lines]
    out.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=float, default=1.0, help="scale: 1.0 = 10,000 people, 1,000 events")
    parser.add_argument("--backends", default="sqlite,postgresql", help="comma list of sqlite, postgresql")
    parser.add_argument("--pg-url", default=DEFAULT_PG, help="database name is created and dropped (+ _compliance)")
    parser.add_argument("--results", type=Path, default=RESULTS_FILE)
    args = parser.parse_args(argv)
    people = max(10, int(FULL_PEOPLE * args.size))
    events = max(10, min(1000, int(FULL_EVENTS * args.size)))
    heavy = HEAVY_PEOPLE if args.size >= 0.1 else 2
    results: list[dict[str, Any]] = []
    failed = False
    for backend in [b.strip() for b in args.backends.split(",") if b.strip()]:
        work = Path(tempfile.mkdtemp(prefix=f"cdp-bench-privacy-{backend}-"))
        try:
            if backend == "postgresql":
                try:
                    _pg_admin(args.pg_url, ["SELECT 1"])
                except Exception as exc:
                    results.append({"backend": backend, "skipped": f"PostgreSQL unreachable ({type(exc).__name__})"})
                    continue
            print(f"{backend}: {people} people, {heavy} with {events} events ...", flush=True)
            results.append(
                run_backend(backend, people=people, events=events, heavy=heavy, pg_url=args.pg_url, work=work)
            )
        except Exception as exc:
            failed = True
            results.append({"backend": backend, "skipped": f"failed: {type(exc).__name__}: {exc}"[:200]})
        finally:
            shutil.rmtree(work, ignore_errors=True)
    meta = {
        "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "size": args.size,
        "machine": f"{platform.system()} {platform.machine()} python {platform.python_version()}",
    }
    args.results.parent.mkdir(parents=True, exist_ok=True)
    with args.results.open("a") as fh:
        for r in results:
            fh.write(json.dumps({**meta, **r}) + "\n")
    print(_table(results))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
