"""The erasure benchmark still runs end to end (tiny size, on the backend under test) and prints its table."""

import json
import subprocess
import sys
import uuid
from pathlib import Path

from sqlalchemy import make_url

from tests.conftest import BACKEND, PG_URL

REPO = Path(__file__).resolve().parents[2]


def test_privacy_benchmark_smoke_run_prints_a_table(tmp_path: Path) -> None:
    results = tmp_path / "privacy.jsonl"
    args = ["--size", "0.002", "--results", str(results), "--backends", BACKEND]
    if PG_URL:
        db = f"cdp_bench_smoke_{uuid.uuid4().hex[:8]}"
        args += ["--pg-url", make_url(PG_URL).set(database=db).render_as_string(hide_password=False)]
    proc = subprocess.run(
        [sys.executable, "-m", "bench.privacy", *args], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "latency median" in proc.stdout and BACKEND in proc.stdout
    [row] = [json.loads(line) for line in results.read_text().splitlines()]
    assert row["backend"] == BACKEND and not row.get("skipped"), row
    assert row["throughput"]["erasures"] == 20 and row["rows_per_heavy_erasure"] > 10
