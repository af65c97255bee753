"""Salesforce pull throughput against the local fake Salesforce: REST query vs Bulk API 2.0, full load and an
incremental run, with and without ingestion. Prints a table.

    PYTHONPATH=. python -m bench.salesforce --contacts 5000 --changed 50
"""

import argparse
import datetime as dt
import os
import tempfile
import time
from pathlib import Path
from typing import Any


def _contacts(n: int) -> list[dict[str, Any]]:
    base = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    rows = []
    for i in range(n):
        stamp = (base + dt.timedelta(seconds=i // 3)).strftime("%Y-%m-%dT%H:%M:%S.000+0000")  # ties of 3
        rows.append(
            {
                "Id": f"003gL{i:010d}QAV",
                "FirstName": f"First{i}",
                "LastName": f"Last{i}",
                "Email": f"person{i}@example.com",
                "Phone": None,
                "HasOptedOutOfEmail": i % 10 == 0,
                "DoNotCall": False,
                "IsDeleted": False,
                "CreatedDate": stamp,
                "SystemModstamp": stamp,
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--contacts", type=int, default=5000)
    parser.add_argument("--changed", type=int, default=50)
    parser.add_argument("--page", type=int, default=2000, help="REST batch size and Bulk maxRecords")
    args = parser.parse_args(argv)
    os.environ.setdefault("CDP_LOG_LEVEL", "WARNING")

    from cdp import migrate
    from cdp.audit.log import Actor
    from cdp.bootstrap import open_runtime
    from cdp.connectors.base import ConnectorConfig
    from cdp.connectors.sync import run_pull
    from cdp.settings import Settings
    from connectors.salesforce import SalesforcePull
    from tests.connectors.salesforce.fake import TOKEN, FakeSalesforce

    print(f"{'mode':<6} {'run':<12} {'ingest':<7} {'rows':>6} {'calls':>6} {'seconds':>8} {'rows/s':>8}")
    for mode in ("rest", "bulk"):
        for ingest in (False, True):
            fake = FakeSalesforce(page_size=args.page).start()
            try:
                for row in _contacts(args.contacts):
                    fake.put("Contact", row)
                settings_values = {
                    "instance_url": fake.url,
                    "access_token": TOKEN,
                    "objects": ["Contact"],
                    "privacy_objects": False,
                    "deleted_feed": False,
                    "lag_seconds": 0,
                    "page_size": args.page,
                    "bulk": mode == "bulk",
                    "bulk_max_records": args.page,
                    "bulk_poll_seconds": 0,
                }
                config = ConnectorConfig("salesforce", settings_values)
                source = SalesforcePull()
                runtime = None
                if ingest:
                    work = Path(tempfile.mkdtemp(prefix="bench-salesforce-"))
                    settings = Settings(
                        database_url=f"sqlite:///{work / 'cdp.db'}",
                        compliance_database_url=f"sqlite:///{work / 'cdp-compliance.db'}",
                        key_file=work / "keys.json",
                    )
                    migrate.upgrade("data", settings.database_url)
                    migrate.upgrade("compliance", settings.compliance_url)
                    runtime = open_runtime(settings)
                cursor: dict[str, Any] | None = None
                for run in ("full", "incremental"):
                    if run == "incremental":
                        for i in range(args.changed):
                            fake.change(
                                "Contact", f"003gL{i * 7:010d}QAV", "2026-12-01T10:00:00.000+0000", LastName="X"
                            )
                    fake.log.clear()
                    started = time.perf_counter()
                    with source.client(config) as http:
                        if runtime is not None:
                            report = run_pull(runtime.stores, source, config, http, actor=Actor("bench", "system"))
                            rows = sum(report.counts.values())
                        else:
                            rows = 0
                            for page in source.pages(http, config, cursor):
                                rows += len(page.records)
                                cursor = page.cursor
                    seconds = time.perf_counter() - started
                    print(
                        f"{mode:<6} {run:<12} {'yes' if ingest else 'no':<7} {rows:>6} {len(fake.log):>6} "
                        f"{seconds:>8.2f} {rows / seconds:>8.0f}"
                    )
                if runtime is not None:
                    runtime.close()
            finally:
                fake.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
