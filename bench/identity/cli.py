"""`python -m bench.identity`: cdp vs Splink 5 vs a naive baseline on identity resolution (GitHub issue #3).

Each engine runs in its own subprocess (peak RSS per engine from os.wait4's rusage: the largest process in that
engine's tree), writes record_id -> cluster_id, and one shared evaluator scores it. One JSON line per
(engine, data set) is appended to bench/results/identity.jsonl.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.identity import datasets, evaluate, splink_settings, venvs
from bench.identity.common import DATA_DIR, REPO_DIR, RESULTS_FILE, read_clusters, read_records, read_traps, read_truth

ENGINES = ("cdp", "splink", "naive")
SMOKE_SIZE = 500


@dataclass
class EngineRun:
    ok: bool
    wall_s: float
    peak_rss_mb: float
    work: Path
    error: str | None = None


def _run_engine(engine: str, data: Path, work: Path, cdp_db: str | None) -> EngineRun:
    python = venvs.ensure("splink", DATA_DIR / "setup.log") if engine == "splink" else Path(sys.executable)
    cmd = [str(python), "-m", f"bench.identity.engine_{engine}", "--data", str(data), "--work", str(work)]
    if engine == "cdp" and cdp_db:
        cmd += ["--cdp-db", cdp_db]
    env = {**os.environ, "PYTHONPATH": str(REPO_DIR)}
    with (work / "stdout.log").open("w") as out, (work / "stderr.log").open("w") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=REPO_DIR, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    rss_mb = usage.ru_maxrss / 1024  # Linux reports KiB
    if proc.returncode:
        lines = [line for line in (work / "stderr.log").read_text().splitlines() if line.strip()]
        return EngineRun(False, wall, rss_mb, work, f"exit {proc.returncode}: {lines[-1] if lines else 'no output'}")
    return EngineRun(True, wall, rss_mb, work)


def _git_head() -> str | None:
    """The commit the work tree is on, read from .git without running git."""
    head = REPO_DIR / ".git" / "HEAD"
    try:
        ref = head.read_text().strip()
        if ref.startswith("ref: "):
            target = REPO_DIR / ".git" / ref[5:]
            if target.exists():
                return target.read_text().strip()
            for line in (REPO_DIR / ".git" / "packed-refs").read_text().splitlines():
                if line.endswith(ref[5:]):
                    return line.split()[0]
            return None
        return ref
    except OSError:
        return None


def _score(engine: str, folder: Path, run: EngineRun) -> dict[str, Any]:
    truth = read_truth(folder)
    clusters = read_clusters(run.work / "clusters.csv")
    info = json.loads((run.work / "engine.json").read_text())
    cluster = evaluate.cluster_metrics(clusters, truth)
    row: dict[str, Any] = {
        "cluster": cluster.as_dict(),
        "pairwise": None,
        "pairwise_note": "n/a: a clustering (pairwise = cluster metrics)",
        "traps": evaluate.trap_metrics(clusters, truth, read_traps(folder)),
        "resolved_records": sum(1 for r in truth if r in clusters),
        "engine_info": info,
    }
    if engine == "splink":
        import csv

        with (run.work / "pairs.csv").open(newline="") as fh:
            pairs = [(r["id_l"], r["id_r"]) for r in csv.DictReader(fh)]
        row["pairwise"] = evaluate.pairwise_metrics(pairs, truth).as_dict()
        row["pairwise_note"] = f"scored pairs at match probability >= {splink_settings.THRESHOLD}"
        row["blocking"] = {
            **evaluate.blocking_completeness(read_records(folder), truth, splink_settings.BLOCKING_KEYS),
            "candidate_pairs": info.get("candidate_pairs"),
        }
    else:
        row["blocking"] = None
    return row


def _fmt(x: float | None, digits: int = 3) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def _table(rows: list[dict[str, Any]], title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for col in ("dataset", "engine", "records", "cluster P", "cluster R", "cluster F1", "pair P", "pair R",
                "pair F1", "false-merge", "blocking PC", "wall s", "rec/s", "peak RSS MB"):  # fmt: skip
        table.add_column(col, justify="left" if col in ("dataset", "engine") else "right")
    for r in rows:
        if r.get("error"):
            table.add_row(
                r["dataset"], r["engine"], str(r.get("records", "")), f"[red]failed: {r['error'][:100]}[/red]"
            )
            continue
        c, p = r["cluster"], r["pairwise"]
        pair = (_fmt(p["precision"]), _fmt(p["recall"]), _fmt(p["f1"])) if p else ("=cl", "=cl", "=cl")
        trap = r["traps"]["all"]
        trap_s = f"{_fmt(trap['rate'])} ({trap['merged']}/{trap['pairs']})" if trap["pairs"] else "n/a"
        block = r["blocking"]
        table.add_row(
            r["dataset"], r["engine"], str(r["records"]), _fmt(c["precision"]), _fmt(c["recall"]), _fmt(c["f1"]),
            *pair, trap_s, _fmt(block["completeness"]) if block else "n/a", _fmt(r["wall_s"], 1),
            f"{r['records_per_s']:,.0f}", f"{r['peak_rss_mb']:,.0f}",
        )  # fmt: skip
    Console(width=200).print(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.identity", description=__doc__)
    parser.add_argument("--datasets", default="cdp-synth,febrl3,dupehell", help=f"any of {','.join(datasets.DATASETS)}")
    parser.add_argument("--engines", default=",".join(ENGINES), help="any of cdp,splink,naive")
    parser.add_argument("--size", type=int, default=20_000, help="records for sized data sets (cdp-synth, dupehell)")
    parser.add_argument("--smoke", action="store_true", help=f"CI: {SMOKE_SIZE} records, cdp-synth, cdp+naive only")
    parser.add_argument("--cdp-db", default=None, help="run cdp on PostgreSQL: postgresql+psycopg://user@host/<db>")
    parser.add_argument("--results", type=Path, default=RESULTS_FILE, help="JSON Lines file to append to")
    parser.add_argument("--keep-work", action="store_true", help="keep engine work folders (printed)")
    args = parser.parse_args(argv)
    if args.smoke:
        args.size, args.datasets, args.engines = SMOKE_SIZE, "cdp-synth", "cdp,naive"
    names = [d.strip() for d in args.datasets.split(",") if d.strip()]
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    unknown = [n for n in names if n not in datasets.DATASETS] + [e for e in engines if e not in ENGINES]
    if unknown:
        parser.error(f"unknown data set or engine: {', '.join(unknown)}")
    command = "python -m bench.identity " + " ".join(
        shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:])
    )
    env_info = {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cdp_commit": _git_head(),
    }
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    versions_cache: dict[str, dict[str, str]] = {}
    work_root = Path(tempfile.mkdtemp(prefix="bench-identity-"))
    args.results.parent.mkdir(parents=True, exist_ok=True)
    for name in names:
        try:
            folder = datasets.ensure(name, args.size)
        except (datasets.DatasetUnavailable, venvs.VenvError) as exc:
            notes.append(f"{name}: skipped, {exc}")
            rows.append({"dataset": name, "engine": "-", "error": f"data set unavailable: {exc}"})
            continue
        meta = json.loads((folder / "meta.json").read_text())
        for engine in engines:
            print(f"running {engine} on {name} ({meta['records']} records) ...", file=sys.stderr)
            work = work_root / f"{name}-{engine}"
            work.mkdir(parents=True)
            base = {"dataset": name, "engine": engine, "records": meta["records"], "entities": meta["entities"]}
            try:
                run = _run_engine(engine, folder, work, args.cdp_db)
            except venvs.VenvError as exc:
                run = EngineRun(False, 0.0, 0.0, work, str(exc))
            if not run.ok:
                rows.append({**base, "error": run.error})
                notes.append(f"{engine} on {name} failed: {run.error} (stderr: {work / 'stderr.log'})")
                args.keep_work = True
                with args.results.open("a") as fh:
                    fh.write(json.dumps({"command": command, **env_info, **base, "error": run.error}) + "\n")
                continue
            row = {**base, "wall_s": run.wall_s, "records_per_s": meta["records"] / run.wall_s,
                   "peak_rss_mb": run.peak_rss_mb, **_score(engine, folder, run)}  # fmt: skip
            rows.append(row)
            if quarantined := row["engine_info"].get("counts", {}).get("quarantined"):
                notes.append(f"cdp on {name}: {quarantined} records quarantined (scored as unresolved singletons)")
            if engine == "splink" and "splink" not in versions_cache:
                versions_cache["splink"] = venvs.pip_freeze(
                    venvs.VENVS["splink"][0] / "bin" / "python", ("splink", "duckdb", "pyarrow", "sqlglot")
                )
            record = {
                "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "command": command,
                **env_info,
                "dataset_meta": meta,
                **row,
                "versions": {**row["engine_info"].get("versions", {}), **versions_cache.get(engine, {})},
            }
            with args.results.open("a") as fh:
                fh.write(json.dumps(record, default=str) + "\n")
    title = (f"identity resolution, {env_info['cores']} cores, size {args.size}"
             f"{' (smoke)' if args.smoke else ''}; cluster-level pairwise P/R/F1 is the headline")  # fmt: skip
    _table(rows, title)
    for note in notes:
        print(f"note: {note}")
    print(
        "false-merge = share of planted hard-negative pairs (shared mailboxes, role addresses, household/switchboard "
        "phones, namesakes; dupehell: hard_neg records) that share a cluster. pair P/R/F1 '=cl': a clustering, "
        "same as cluster metrics. blocking PC: share of true pairs any Splink blocking rule makes a candidate "
        "(cdp: n/a until it exposes it)."
    )
    print(f"results appended to {args.results}" + (f"; work in {work_root}" if args.keep_work else ""))
    if not args.keep_work:
        import shutil

        shutil.rmtree(work_root, ignore_errors=True)
    return 1 if any(r.get("error") for r in rows) else 0
