"""Mailchimp's audience export is a zip of `subscribed_…csv`, `unsubscribed_…csv` and `cleaned_…csv`
(CONNECTORS.md §9): `--preset mailchimp` reads each part with its own preset.

Members are copied out under names cdp chooses (never the archive's paths) and at most `MAX_PART_BYTES` each.
"""

import re
import shutil
import zipfile
from pathlib import Path

from cdp.errors import InvalidInput
from connectors.csv.presets import Preset, get_preset

MAILCHIMP_ZIP = "mailchimp"
MAX_PART_BYTES = 2 * 1024**3
_PART = re.compile(r"(?:^|/)(subscribed|unsubscribed|cleaned)[^/]*\.csv$", re.IGNORECASE)
ORDER = ("subscribed", "unsubscribed", "cleaned")


def export_parts(path: Path, preset: str, workdir: Path) -> list[tuple[Path, Preset]]:
    """The files to read and the preset for each: the file itself, or a Mailchimp zip's three parts."""
    if preset != MAILCHIMP_ZIP:
        return [(path, get_preset(preset))]
    if not path.is_file():
        raise InvalidInput(f"no such file: {path}")
    if not zipfile.is_zipfile(path):
        raise InvalidInput(
            f"{path.name}: --preset mailchimp reads Mailchimp's audience export zip; for one of its CSV files "
            "use mailchimp-subscribed, mailchimp-unsubscribed or mailchimp-cleaned"
        )
    parts: dict[str, Path] = {}
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            match = _PART.search(info.filename)
            if match is None or info.is_dir():
                continue
            kind = match.group(1).lower()
            if kind in parts:
                raise InvalidInput(f"{path.name}: the zip holds more than one {kind} CSV file")
            if info.file_size > MAX_PART_BYTES:
                raise InvalidInput(f"{path.name}: the {kind} CSV file is larger than cdp imports from a zip")
            target = workdir / f"{kind}.csv"
            with archive.open(info) as src, target.open("wb") as dst:
                shutil.copyfileobj(src, dst)
            parts[kind] = target
    if not parts:
        raise InvalidInput(f"{path.name}: the zip holds no subscribed_, unsubscribed_ or cleaned_ CSV file")
    return [(parts[kind], get_preset(f"mailchimp-{kind}")) for kind in ORDER if kind in parts]
