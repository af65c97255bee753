"""Pull syncs: page by page through `ingest_batch`, each page committed together with its cursor.

A page's records, its privacy signals and the cursor that resumes after it are one unit of work, so a sync
killed at any point restarts from the last committed page: the page in flight is either wholly stored with
its cursor or not at all, and re-reading it is a no-op anyway (external ids, checksums and event ids make
ingestion idempotent). Throttling or failure stops the sync with the checkpoint kept and the reason recorded
(`connector_state.last_error`: a title, never data).
"""

import datetime as dt
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from sqlalchemy.orm import Session

from cdp.audit.log import Actor, append
from cdp.connectors.base import ConnectorConfig, Cursor, PullSource, SourceSignal
from cdp.connectors.http import HttpClient
from cdp.db import Stores, unit_of_work, utcnow
from cdp.errors import CdpError
from cdp.ingest.models import ConnectorState
from cdp.ingest.pipeline import ingest_batch
from cdp.ingest.quality import GateSettings

log = logging.getLogger(__name__)

SignalHandler = Callable[[Session, SourceSignal, Actor], object]
"""Opens a privacy request for a signal raised in the tool (supplied by the caller: `cdp.privacy` sits above)."""

Progress = Callable[[int, Counter[str]], None]


@dataclass
class SyncReport:
    connector: str
    status: Literal["completed", "stopped"] = "completed"
    pages: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    signals: int = 0
    resumed: bool = False
    cursor: Cursor = field(default_factory=dict)
    error: str | None = None


def connector_state(session: Session, connector: str) -> ConnectorState:
    state = session.get(ConnectorState, connector)
    if state is None:
        state = ConnectorState(connector=connector)
        session.add(state)
        session.flush()
    return state


def save_checkpoint(
    session: Session,
    connector: str,
    cursor: Cursor,
    *,
    status: str,
    error: str | None = None,
    now: dt.datetime | None = None,
) -> None:
    state = connector_state(session, connector)
    state.cursor = dict(cursor)
    state.status = status
    state.last_error = error[:200] if error else None
    state.updated_at = now or utcnow()
    session.add(state)


def reset_checkpoint(session: Session, connector: str) -> None:
    save_checkpoint(session, connector, {}, status="idle")


def run_pull(
    stores: Stores,
    source: PullSource,
    config: ConnectorConfig,
    http: HttpClient,
    *,
    actor: Actor,
    on_signal: SignalHandler | None = None,
    full: bool = False,
    max_pages: int | None = None,
    progress: Progress | None = None,
    gate: GateSettings | None = GateSettings(),
) -> SyncReport:
    report = SyncReport(connector=source.name)
    with unit_of_work(stores) as session:
        state = connector_state(session, source.name)
        cursor: Cursor | None = None if full or not state.cursor else dict(state.cursor)
        report.resumed = cursor is not None
        append(
            session,
            actor=actor,
            action="connector.sync_started",
            resource_type="connector",
            resource_id=source.name,
            details={"full": full, "resumed": report.resumed},
        )
    report.cursor = cursor or {}
    try:
        for page in source.pages(http, config, cursor):
            with unit_of_work(stores) as session:
                result = (
                    ingest_batch(session, source.name, page.records, actor=actor, gate=gate) if page.records else None
                )
                for signal in page.signals:
                    if on_signal is not None:
                        on_signal(session, signal, actor)
                save_checkpoint(session, source.name, page.cursor, status="running")
            report.pages += 1
            report.signals += len(page.signals)
            if result is not None:
                report.counts.update(result.counts)
            report.cursor = page.cursor
            if progress is not None:
                progress(report.pages, report.counts)
            if page.last:
                break
            if max_pages is not None and report.pages >= max_pages:
                report.status = "stopped"
                break
    except CdpError as exc:
        report.status = "stopped"
        report.error = f"{exc.title}: {exc.detail}"
        with unit_of_work(stores) as session:
            save_checkpoint(session, source.name, report.cursor, status="failed", error=report.error)
            append(
                session,
                actor=actor,
                action="connector.sync_stopped",
                resource_type="connector",
                resource_id=source.name,
                outcome="error",
                details={"pages": report.pages, "error": exc.slug},
            )
        raise
    with unit_of_work(stores) as session:
        save_checkpoint(
            session, source.name, report.cursor, status="idle" if report.status == "completed" else "paused"
        )
        append(
            session,
            actor=actor,
            action="connector.sync_finished",
            resource_type="connector",
            resource_id=source.name,
            details={
                "pages": report.pages,
                "signals": report.signals,
                "status": report.status,
                **{k: v for k, v in report.counts.items() if v},
            },
        )
    log.info(
        "connector.sync_done",
        extra={
            "connector": source.name,
            "pages": report.pages,
            "status": report.status,
            **{f"n_{k}": v for k, v in report.counts.items()},
        },
    )
    return report
