"""Keep a CSV file equal to an audience's current members (`ref,email,phone,first_name,last_name,purpose,
consented_at,unsubscribe_url`), rewritten atomically with mode 0600 on every batch.

Settings: `path` (the CSV file). The file holds personal data in clear: it is for a tool that can only import
files, should live on encrypted storage, and is the operator's to delete after the upload. Removing a member
(withdrawal, restriction, erasure) rewrites the file without them.
"""

import csv
import io
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from cdp.connectors.base import ConnectorConfig, Member, PushResult
from cdp.connectors.http import HttpClient

COLUMNS = ("ref", "email", "phone", "first_name", "last_name", "purpose", "consented_at", "unsubscribe_url")


def _read(path: Path) -> dict[str, dict[str, str]]:
    if not path.exists():
        return {}
    with path.open(newline="", encoding="utf-8") as handle:
        return {row["ref"]: row for row in csv.DictReader(handle)}


def _write(path: Path, rows: dict[str, dict[str, str]]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for ref in sorted(rows):
        writer.writerow(rows[ref])
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".cdp-", suffix=".csv")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(buffer.getvalue())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class CsvFileDestination:
    name = "csv_file"

    def client(self, config: ConnectorConfig) -> HttpClient:
        config.require("path")
        return HttpClient("http://csv-file.invalid")  # the protocol wants a client; a file needs none

    def member_ref(self, member: Member) -> str:
        return member.ref

    def _path(self, config: ConnectorConfig) -> Path:
        return Path(str(config.require("path")))

    def upsert(self, http: HttpClient, config: ConnectorConfig, members: Sequence[Member]) -> PushResult:
        path = self._path(config)
        rows = _read(path)
        for m in members:
            rows[m.ref] = {
                "ref": m.ref,
                "email": m.email or "",
                "phone": m.phone or "",
                "first_name": m.first_name or "",
                "last_name": m.last_name or "",
                "purpose": m.purpose,
                "consented_at": m.consented_at.isoformat() if m.consented_at else "",
                "unsubscribe_url": m.unsubscribe_url or "",
            }
        _write(path, rows)
        return PushResult(done=[m.ref for m in members])

    def remove(
        self, http: HttpClient, config: ConnectorConfig, refs: Sequence[str], *, erase: bool = False
    ) -> PushResult:
        path = self._path(config)
        rows = _read(path)
        for ref in refs:
            rows.pop(ref, None)
        _write(path, rows)
        return PushResult(done=list(refs))
