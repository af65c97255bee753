"""`python -m bench.audiences --members 5000`: time an audience sync end to end on a fresh SQLite store.

N people with an email_marketing grant (plus N/10 without consent) are ingested; a Mailchimp-shaped server on
127.0.0.1 (a ThreadingHTTPServer in this process) answers the batch-subscribe and archive calls. The table gives
wall time per phase: dry run (plan), first sync, unchanged re-sync, and a sync after 10% withdrew.
"""

import argparse
import hashlib
import json
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table


def _fake_mailchimp() -> tuple[ThreadingHTTPServer, dict[str, int]]:
    counts = {"members_pushed": 0, "archived": 0, "calls": 0}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _reply(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            counts["calls"] += 1
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            members = [{"id": hashlib.md5(m["email_address"].lower().encode()).hexdigest()} for m in body["members"]]
            counts["members_pushed"] += len(members)
            self._reply(200, {"new_members": members, "updated_members": [], "errors": []})

        def do_DELETE(self) -> None:
            counts["calls"] += 1
            counts["archived"] += 1
            self.send_response(204)
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, counts


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.audiences")
    parser.add_argument("--members", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()

    from sqlmodel import select

    from cdp.audiences.definitions import create_audience
    from cdp.audiences.sync import sync
    from cdp.audit.log import SYSTEM
    from cdp.bootstrap import open_runtime
    from cdp.consent.ledger import change_consent
    from cdp.db import unit_of_work
    from cdp.ingest.pipeline import ingest_batch
    from cdp.migrate import upgrade
    from cdp.profiles.models import Identity
    from cdp.settings import Settings

    server, counts = _fake_mailchimp()
    work = Path(tempfile.mkdtemp(prefix="cdp-bench-audiences-"))
    conf = work / "connectors.yaml"
    base = f"http://127.0.0.1:{server.server_address[1]}/3.0/"
    conf.write_text(json.dumps({"mailchimp": {"base_url": base, "api_key": "k-us1", "list_id": "L1"}}))
    settings = Settings(
        database_url=f"sqlite:///{work / 'cdp.db'}",
        key_file=work / "keys.json",
        connectors_file=conf,
        public_base_url="https://cdp.example.test",
        audience_sync_batch=args.batch,
    )
    for store, url in (("compliance", settings.compliance_database_url), ("data", settings.database_url)):
        upgrade(store, url)  # type: ignore[arg-type]
    rt = open_runtime(settings)
    grant = {"purpose": "email_marketing", "status": "granted", "occurred_at": "2026-01-01T00:00:00Z"}
    rows = [
        {"external_id": f"b{i}", "email": f"bench{i}@example.test", "first_name": "Bench", "last_name": f"P{i}",
         "observed_at": "2026-01-01T00:00:00Z", "consents": [grant] if i < args.members else []}
        for i in range(args.members + args.members // 10)
    ]  # fmt: skip
    t0 = time.perf_counter()
    for start in range(0, len(rows), 1000):
        with unit_of_work(rt.stores) as s:
            ingest_batch(s, "crm", rows[start : start + 1000], actor=SYSTEM, gate=None)
    ingest_s = time.perf_counter() - t0
    with unit_of_work(rt.stores) as s:
        audience_id = create_audience(
            s, name="bench", purpose="email_marketing", destination="mailchimp", definition={}, actor=SYSTEM
        ).id

    results: list[tuple[str, float, str]] = []

    def run(label: str, dry: bool = False) -> None:
        before = dict(counts)
        t = time.perf_counter()
        report = sync(rt.stores, audience_id, settings=settings, actor=SYSTEM, dry_run=dry)
        took = time.perf_counter() - t
        detail = (
            f"add {report.to_add} / update {report.to_update} / remove {report.to_remove}"
            if dry
            else f"added {report.added}, removed {report.removed}, HTTP calls {counts['calls'] - before['calls']}"
        )
        results.append((label, took, detail))

    run("dry run (plan)", dry=True)
    run("first sync")
    run("unchanged re-sync")
    with unit_of_work(rt.stores) as s:
        for identity in s.scalars(select(Identity).where(Identity.kind == "email").limit(args.members // 10)):
            change_consent(
                s, identity.profile_id, identity=identity, actor=SYSTEM, purpose="email_marketing",
                status="withdrawn", occurred_at=grant_time(), source="bench", method="preference_center",
            )  # fmt: skip
    run(f"sync after {args.members // 10} withdrawals")
    rt.close()
    server.shutdown()

    table = Table(title=f"audience sync, {args.members} consented members (+{args.members // 10} unconsented), "
                        f"batch {args.batch}, SQLite")  # fmt: skip
    table.add_column("phase")
    table.add_column("seconds", justify="right")
    table.add_column("members/s", justify="right")
    table.add_column("what happened")
    table.add_row("ingest (setup)", f"{ingest_s:.2f}", "", f"{len(rows)} records")
    for label, took, detail in results:
        table.add_row(label, f"{took:.2f}", f"{args.members / took:,.0f}", detail)
    Console().print(table)
    return 0


def grant_time() -> Any:
    import datetime as dt

    return dt.datetime(2026, 6, 1, tzinfo=dt.UTC)


raise SystemExit(main())
