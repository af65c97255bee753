"""Mailchimp pull and CSV export import: throughput through the real CLI against a local Mailchimp.

    PYTHONPATH=. python -m bench.mailchimp_pull --members 5000

Prints a table: full pull, incremental pull with nothing changed, and `cdp import --preset
mailchimp-subscribed` of the same members as an export file (fresh SQLite stores each).
"""

import argparse
import copy
import csv
import hashlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.connectors.helpers import fixture
from tests.connectors.mailchimp.fake import API_KEY, LIST_ID, FakeMailchimp, serve


def members(n: int) -> list[dict[str, object]]:
    base = fixture("mailchimp_list_members.json")["members"][0]
    out = []
    for i in range(n):
        email = f"reader{i}@bench.example"
        member = copy.deepcopy(base)
        member.update(
            id=hashlib.md5(email.encode()).hexdigest(),
            email_address=email,
            unique_email_id=f"b{i:09d}",
            merge_fields={"FNAME": f"Reader{i}", "LNAME": f"Bench{i % 97}"},
        )
        out.append(member)
    return out


def env_for(folder: Path, url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDP_")}
    env.update(
        {
            "CDP_DATABASE_URL": f"sqlite:///{folder / 'cdp.db'}",
            "CDP_COMPLIANCE_DATABASE_URL": f"sqlite:///{folder / 'cdp-compliance.db'}",
            "CDP_KEY_FILE": str(folder / "keys.json"),
            "CDP_CONNECTOR_MAILCHIMP__API_KEY": API_KEY,
            "CDP_CONNECTOR_MAILCHIMP__LIST_ID": LIST_ID,
            "CDP_CONNECTOR_MAILCHIMP__BASE_URL": url,
        }
    )
    return env


def cdp(env: dict[str, str], *args: str) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "cdp", *args], env=env, capture_output=True, text=True, check=True)
    return time.perf_counter() - start, proc.stdout.strip().splitlines()[-1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=5000)
    n = parser.parse_args().members
    rows: list[tuple[str, float, str]] = []
    with tempfile.TemporaryDirectory() as tmp, serve(FakeMailchimp(members=members(n))) as fake:
        pull_dir, import_dir = Path(tmp) / "pull", Path(tmp) / "import"
        for folder in (pull_dir, import_dir):
            folder.mkdir()
            cdp(env_for(folder, fake.url), "db", "upgrade")
        env = env_for(pull_dir, fake.url)
        seconds, line = cdp(env, "sync", "mailchimp")
        rows.append(("cdp sync mailchimp (full)", seconds, line))
        seconds, line = cdp(env, "sync", "mailchimp")
        rows.append(("cdp sync mailchimp (incremental, no change)", seconds, line))
        export = Path(tmp) / "subscribed_members.csv"
        with export.open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(
                [
                    "Email Address",
                    "First Name",
                    "Last Name",
                    "OPTIN_TIME",
                    "OPTIN_IP",
                    "CONFIRM_TIME",
                    "CONFIRM_IP",
                    "LAST_CHANGED",
                    "LEID",
                    "EUID",
                    "TAGS",
                ]
            )
            for i, m in enumerate(fake.members):
                writer.writerow(
                    [
                        m["email_address"],
                        f"Reader{i}",
                        f"Bench{i % 97}",
                        "2026-11-02 09:14:27",
                        "203.0.113.7",
                        "2026-11-02 09:20:02",
                        "203.0.113.7",
                        "2026-11-19 16:40:04",
                        i,
                        m["unique_email_id"],
                        '"newsletter"',
                    ]
                )
        seconds, line = cdp(env_for(import_dir, fake.url), "import", str(export), "--preset", "mailchimp-subscribed")
        rows.append(("cdp import --preset mailchimp-subscribed", seconds, line))
    print(f"\n{n} members, SQLite, one process\n")
    print(f"| {'run':<45} | {'seconds':>8} | {'members/s':>9} | output")
    print(f"|{'-' * 47}|{'-' * 10}|{'-' * 11}|{'-' * 40}")
    for name, seconds, line in rows:
        print(f"| {name:<45} | {seconds:8.1f} | {n / seconds:9.0f} | {line}")


if __name__ == "__main__":
    main()
