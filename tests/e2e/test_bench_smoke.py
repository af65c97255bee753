"""The identity benchmark still runs end to end (tiny size: cdp and the naive baseline, no Splink venv)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import BACKEND

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(BACKEND != "sqlite", reason="the benchmark runs cdp on its embedded default; once per CI run")
def test_identity_benchmark_smoke_run_prints_a_table_and_scores_cdp(tmp_path):
    results = tmp_path / "identity.jsonl"
    proc = subprocess.run(
        [sys.executable, "-m", "bench.identity", "--smoke", "--results", str(results)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "cluster F1" in proc.stdout
    rows = [json.loads(line) for line in results.read_text().splitlines()]
    cdp = next(r for r in rows if r["engine"] == "cdp")
    assert not cdp.get("error"), cdp
    naive = next(r for r in rows if r["engine"] == "naive")
    assert cdp["cluster"]["f1"] > naive["cluster"]["f1"], (cdp["cluster"], naive["cluster"])
