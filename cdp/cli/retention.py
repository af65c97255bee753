"""`cdp retention`: preview and run the rules of policies/retention.yaml; place and release legal holds."""

import datetime as dt
import uuid
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from cdp.audit.log import Actor
    from cdp.bootstrap import Runtime
    from cdp.retention.engine import RunReport

app = typer.Typer(help="Retention: what the policies would remove, removing it, and legal holds.", no_args_is_help=True)

ROW = "{:<28}  {:<15}  {:<36}  {:<16}  {}"
AT_HELP = "Evaluate the rules as of this time (ISO 8601; a time without a zone is UTC). Default: now."


def _actor() -> "Actor":
    from cdp.audit.log import Actor

    return Actor("cli-retention", "system")


def _at(value: str | None) -> dt.datetime:
    from cdp.db import utcnow
    from cdp.errors import InvalidInput

    if value is None:
        return utcnow()
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError as exc:
        raise InvalidInput(f"--at {value!r} is not an ISO 8601 date or time (e.g. 2027-01-31T00:00:00Z)") from exc
    return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed.astimezone(dt.UTC)


def _when(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M")


def _print_counts(report: "RunReport", *, verb: str) -> None:
    width = max([len(r.rule_id) for r in report.rules] + [4])
    typer.echo(f"{'rule':<{width}}  {'table':<15}  {'action':<11}  {verb:>7}  exempt")
    for r in report.rules:
        exempt = ", ".join(f"{name} {n}" for name, n in sorted(r.exempt.items())) or "-"
        typer.echo(f"{r.rule_id:<{width}}  {r.table:<15}  {r.action:<11}  {r.rows:>7}  {exempt}")
    typer.echo(f"total: {report.total} rows {verb} as of {_when(report.at)} UTC")


@app.command()
def preview(
    at: str = typer.Option(None, "--at", help=AT_HELP),
    limit: int = typer.Option(50, "--limit", min=0, help="List at most this many rows (0: list none, totals only)"),
) -> None:
    """List the rows a run would process (rule, table, id, due since, action), then totals per rule."""
    from cdp.cli.context import session
    from cdp.retention.engine import RuleCount, RunReport, run_order, scan

    now = _at(at)
    with session() as (rt, s):
        policy = rt.policies.retention
        report = RunReport(now, True, [RuleCount(r.id, r.target, r.action) for r in run_order(policy)])
        listed = 0
        for batch in scan(s, policy, now=now):
            report.rules[batch.step].rows += len(batch.due)
            report.rules[batch.step].exempt.update(batch.exempt)
            for due in batch.due[: max(0, limit - listed)]:
                if listed == 0:
                    typer.echo(ROW.format("rule", "table", "id", "due since", "action"))
                typer.echo(ROW.format(due.rule_id, due.table, str(due.row_id), _when(due.due_since), due.action))
                listed += 1
    if listed < report.total:
        typer.echo(f"... {report.total - listed} more (raise --limit to list them)")
    typer.echo("")
    _print_counts(report, verb="due")


@app.command()
def run(
    at: str = typer.Option(None, "--at", help=AT_HELP),
    dry_run: bool = typer.Option(False, "--dry-run", help="Count what would be done; change nothing"),
    yes: bool = typer.Option(False, "--yes", help="Really erase and delete (required unless --dry-run)"),
) -> None:
    """Apply the retention rules: erase, anonymise, delete or minimise every due row, in one transaction.

    Legal holds, restrictions and open privacy requests are respected; the audit log and the suppression
    list are never touched. Writes one audit entry with the counts.
    """
    if not dry_run and not yes:
        typer.echo("error: this erases and deletes data; run `cdp retention preview` first, then add --yes", err=True)
        raise typer.Exit(1)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from cdp.cli.context import session
    from cdp.retention.engine import run as run_rules
    from cdp.retention.engine import scan

    now = _at(at)
    with session() as (rt, s):
        policy = rt.policies.retention
        total = sum(len(batch.due) for batch in scan(s, policy, now=now))
        progress = Progress(
            TextColumn("dry run" if dry_run else "retention"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            transient=True,
        )
        with progress:
            task = progress.add_task("run", total=total)
            report = run_rules(
                s,
                policy,
                now=now,
                actor=_actor(),
                dry_run=dry_run,
                on_batch=lambda batch: progress.advance(task, len(batch.due)),
            )
    if not dry_run and report.total:
        _checkpoint(rt)
    _print_counts(report, verb="would" if dry_run else "done")


def _checkpoint(rt: "Runtime") -> None:
    """SQLite keeps deleted pages in the WAL until a checkpoint: truncate it after an erasing run."""
    from cdp.db import is_sqlite

    for engine in rt.stores.engines:
        if is_sqlite(engine):
            raw = engine.raw_connection()  # autocommit: a checkpoint cannot run inside a transaction
            try:
                raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                raw.close()


@app.command()
def hold(
    profile_id: uuid.UUID = typer.Argument(..., help="The profile to hold"),
    reason: str = typer.Option(..., "--reason", help="A case or matter reference (never the person's details)"),
) -> None:
    """Place a legal hold: retention leaves the profile and its rows alone until the hold is released."""
    from cdp.cli.context import session
    from cdp.retention.holds import place_hold

    with session() as (_, s):
        placed = place_hold(s, profile_id, reason=reason, actor=_actor())
    typer.echo(f"held {placed.profile_id} (hold {placed.id})")


@app.command()
def release(profile_id: uuid.UUID = typer.Argument(..., help="The profile to release")) -> None:
    """Release the profile's legal hold; the next retention run treats it like any other profile."""
    from cdp.cli.context import session
    from cdp.retention.holds import release_hold

    with session() as (_, s):
        released = release_hold(s, profile_id, actor=_actor())
    typer.echo(f"released {released.profile_id} (hold {released.id})")
