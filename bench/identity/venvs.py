"""The helper virtual environments (Splink peer, data generators), created on first use from pinned requirements."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

from bench.identity.common import BENCH_DIR

HERE = Path(__file__).resolve().parent
VENVS = {
    "splink": (BENCH_DIR / ".venv-splink", HERE / "requirements.txt"),
    "data": (BENCH_DIR / ".venv-data", HERE / "requirements-data.txt"),
    "pseudopeople": (BENCH_DIR / ".venv-pseudopeople", HERE / "requirements-pseudopeople.txt"),
}


class VenvError(RuntimeError):
    pass


def _base_python() -> str:
    return shutil.which("python3") or sys.executable


def ensure(name: str, log: Path) -> Path:
    """The venv's python, installing the pinned requirements when they changed since the last install."""
    folder, requirements = VENVS[name]
    python = folder / "bin" / "python"
    stamp = folder / ".bench-requirements.sha256"
    want = hashlib.sha256(requirements.read_bytes()).hexdigest()
    if python.exists() and stamp.exists() and stamp.read_text().strip() == want:
        return python
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a") as fh:
        if not python.exists():
            done = subprocess.run([_base_python(), "-m", "venv", str(folder)], stdout=fh, stderr=fh, check=False)
            if done.returncode:
                raise VenvError(f"could not create {folder} (see {log})")
        done = subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "-r", str(requirements)], stdout=fh, stderr=fh, check=False
        )
    if done.returncode:
        raise VenvError(f"pip install -r {requirements.name} failed in {folder} (see {log})")
    stamp.write_text(want + "\n")
    return python


def pip_freeze(python: Path, names: tuple[str, ...]) -> dict[str, str]:
    done = subprocess.run([str(python), "-m", "pip", "freeze"], capture_output=True, text=True, check=False)
    wanted = {n.lower() for n in names}
    out = {}
    for line in done.stdout.splitlines():
        name, sep, version = line.partition("==")
        if sep and name.lower() in wanted:
            out[name.lower()] = version
    return out
