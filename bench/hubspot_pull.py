"""HubSpot pull throughput against the local HubSpot of the tests: a full load, an unchanged full re-read and an
incremental run with 1% of contacts changed, on a fresh SQLite pair (or CDP_DATABASE_URL / _COMPLIANCE_).

    python -m bench.hubspot_pull --contacts 2000 --page-size 100
"""

import argparse
import datetime as dt
import os
import tempfile
import time
from pathlib import Path

from cdp import migrate
from cdp.audit.log import Actor
from cdp.bootstrap import open_runtime
from cdp.connectors import ConnectorConfig
from cdp.connectors.sync import run_pull
from cdp.settings import DEFAULT_POLICIES_DIR, Settings
from connectors.hubspot import HubSpotSource
from tests.connectors.hubspot.fake_hubspot import TOKEN, FakeHubSpot, contact, iso, serve

START_MS = 1_794_787_200_000  # 2026-11-16


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--contacts", type=int, default=2000)
    parser.add_argument("--page-size", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = os.environ.get("CDP_DATABASE_URL", f"sqlite:///{Path(tmp) / 'cdp.db'}")
        comp = os.environ.get("CDP_COMPLIANCE_DATABASE_URL", f"sqlite:///{Path(tmp) / 'cdp-compliance.db'}")
        migrate.upgrade("data", data)
        migrate.upgrade("compliance", comp)
        settings = Settings(
            database_url=data,
            compliance_database_url=comp,
            key_file=Path(tmp) / "keys.json",
            policies_dir=DEFAULT_POLICIES_DIR,
        )
        runtime = open_runtime(settings)
        fake = FakeHubSpot()
        fake.add(*(contact(n, START_MS + n * 1000) for n in range(1, args.contacts + 1)))
        rows = []
        with serve(fake):
            config = ConnectorConfig(
                "hubspot",
                {"base_url": fake.url, "token": TOKEN, "page_size": args.page_size, "search_interval_seconds": 0},
            )
            day = dt.timedelta(days=1)
            now = [dt.datetime.fromtimestamp(START_MS / 1000, dt.UTC) + day]
            source = HubSpotSource(clock=lambda: now[0])

            def run(label: str, full: bool) -> None:
                with source.client(config) as http:
                    began = time.perf_counter()
                    report = run_pull(runtime.stores, source, config, http, actor=Actor("bench", "system"), full=full)
                    took = time.perf_counter() - began
                n = sum(report.counts.values())
                rows.append((label, n, report.pages, took, n / took if took else 0.0, dict(report.counts)))

            run("full load", True)
            run("full re-read (unchanged)", True)
            changed = max(1, args.contacts // 100)
            for n in range(1, changed + 1):
                fake.contacts[str(n)]["properties"]["lastname"] = f"Changed{n}"
                fake.contacts[str(n)]["properties"]["lastmodifieddate"] = iso(START_MS + 2 * 86_400_000 + n)
            now[0] += 2 * day
            run(f"incremental ({changed} changed)", False)
        runtime.close()
    print(f"{'run':<28}{'records':>9}{'pages':>7}{'seconds':>10}{'records/s':>11}  outcomes")
    for label, n, pages, took, rate, counts in rows:
        outcomes = ", ".join(f"{k} {v}" for k, v in counts.items() if v)
        print(f"{label:<28}{n:>9}{pages:>7}{took:>10.2f}{rate:>11.0f}  {outcomes}")


if __name__ == "__main__":
    main()
