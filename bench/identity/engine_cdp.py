"""cdp through its CLI, as a black box: `cdp db upgrade`, one `cdp import` per source, `cdp export identity-map`.

Runs in a fresh folder with its own SQLite stores and key file, or on fresh PostgreSQL databases
(`--cdp-db postgresql+psycopg://user@host:port/<name>`: `<name>` and `<name>_compliance` are created and dropped).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from bench.identity.common import read_records, write_clusters

SUMMARY = re.compile(r"imported (\d+) records: (.*)")


def _cdp_bin() -> str:
    beside = Path(sys.executable).with_name("cdp")
    return str(beside) if beside.exists() else "cdp"


def _postgres(url: str, action: str) -> None:
    import psycopg  # the main venv has it (a cdp dependency)

    base, _, name = url.rpartition("/")
    admin = base.replace("postgresql+psycopg://", "postgresql://") + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        for db in (name, f"{name}_compliance"):
            conn.execute(f'DROP DATABASE IF EXISTS "{db}"')
            if action == "create":
                conn.execute(f'CREATE DATABASE "{db}"')


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--cdp-db", default=None, help="PostgreSQL URL whose database is created fresh")
    args = parser.parse_args(argv)
    home = args.work / "cdp"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    env = {
        **os.environ,
        "CDP_DATABASE_URL": args.cdp_db or f"sqlite:///{home / 'cdp.db'}",
        "CDP_KEY_FILE": str(home / "keys.json"),
        "CDP_LOG_LEVEL": "WARNING",
    }
    if args.cdp_db:
        _postgres(args.cdp_db, "create")
    phases: dict[str, float] = {}
    counts: dict[str, int] = defaultdict(int)
    log = (home / "cdp.log").open("w")

    def cdp(*cli: str) -> str:
        done = subprocess.run([_cdp_bin(), *cli], cwd=home, env=env, capture_output=True, text=True, check=False)
        log.write(f"$ cdp {' '.join(cli)}\n{done.stdout}{done.stderr}\n")
        if done.returncode:
            raise SystemExit(f"cdp {' '.join(cli)} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
        return done.stdout

    try:
        t = time.perf_counter()
        by_source: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for rec in read_records(args.data):
            by_source[rec.pop("source")].append(rec)
        files = {}
        for source, recs in sorted(by_source.items()):
            files[source] = home / f"{source}.jsonl"
            with files[source].open("w") as fh:
                fh.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in recs)
        phases["write_input"] = time.perf_counter() - t
        t = time.perf_counter()
        cdp("db", "upgrade")
        phases["db_upgrade"] = time.perf_counter() - t
        t = time.perf_counter()
        for source, path in files.items():
            out = cdp("import", str(path), "--source", source, "--id-column", "record_id", "--format", "jsonl",
                      "--chunk", "2000")  # fmt: skip
            if m := SUMMARY.search(out):
                for part in m.group(2).split(", "):
                    name, _, n = part.rpartition(" ")
                    if n.isdigit():
                        counts[name] += int(n)
        phases["import"] = time.perf_counter() - t
        t = time.perf_counter()
        cdp("export", "identity-map", "--out", str(home / "map.csv"))
        phases["export"] = time.perf_counter() - t
    finally:
        log.close()
        if args.cdp_db:
            _postgres(args.cdp_db, "drop")
    with (home / "map.csv").open(newline="") as fh:
        clusters = {row["external_id"]: row["profile_id"] for row in csv.DictReader(fh)}
    write_clusters(args.work / "clusters.csv", clusters)
    info = {
        "phases": phases,
        "counts": dict(counts),
        "backend": "postgresql" if args.cdp_db else "sqlite",
        "versions": {"cdp": _pkg_version()},
    }
    (args.work / "engine.json").write_text(json.dumps(info, indent=2))
    return 0


def _pkg_version() -> str:
    from importlib.metadata import version

    return version("cdp")


if __name__ == "__main__":
    raise SystemExit(main())
