"""`cdp audiences`: list and create audience definitions, sync one to its destination (or preview with
`--dry-run`), and push queued Art. 19 removals (`removals`)."""

import json

import typer

app = typer.Typer(help="Audiences: consented contact points sent to a destination.", no_args_is_help=True)


@app.command("list")
def list_() -> None:
    """Every audience: name, purpose, destination, and what the destination holds as of the last sync."""
    from sqlalchemy import func
    from sqlmodel import col, select

    from cdp.audiences.definitions import list_audiences
    from cdp.audiences.models import AudienceMembershipSnapshot
    from cdp.cli.context import session

    with session() as (_rt, s):
        synced = dict(
            s.execute(
                select(AudienceMembershipSnapshot.audience_id, func.count(col(AudienceMembershipSnapshot.id))).group_by(
                    col(AudienceMembershipSnapshot.audience_id)
                )
            ).all()
        )
        after: str | None = None
        while True:
            page = list_audiences(s, after=after, limit=200)
            if not page:
                break
            for a in page:
                typer.echo(
                    f"{a.id}  {a.name:<24} {a.purpose:<24} {a.destination or '-':<12} synced {synced.get(a.id, 0)}"
                )
            after = page[-1].name


@app.command("create")
def create(
    name: str = typer.Argument(..., help="A unique name"),
    purpose: str = typer.Option(..., "--purpose", help="A purpose id from the catalog (cdp policies show)"),
    destination: str = typer.Option(None, "--destination", help="mailchimp, sendgrid, webhook or csv_file"),
    definition: str = typer.Option(
        "{}", "--definition", help='JSON filter, e.g. {"lifecycle_stages": ["customer"], "active_within_days": 90}'
    ),
) -> None:
    """Define an audience; its members are the contact points with a valid consent for PURPOSE."""
    from cdp.audiences.definitions import InvalidAudience, create_audience
    from cdp.audit.log import Actor
    from cdp.cli.context import session

    try:
        parsed = json.loads(definition)
    except ValueError as exc:
        raise InvalidAudience("--definition is not JSON") from exc
    if not isinstance(parsed, dict):
        raise InvalidAudience("--definition must be a JSON object")
    with session() as (_rt, s):
        audience = create_audience(
            s,
            name=name,
            purpose=purpose,
            destination=destination,
            definition=parsed,
            actor=Actor("cli-audiences", "system"),
        )
        typer.echo(f"created audience {audience.id} ({audience.name})")


@app.command("sync")
def sync(
    audience: str = typer.Argument(..., help="Audience name or id"),
    dry_run: bool = typer.Option(False, "--dry-run", help="Count adds, changes and removals; send nothing"),
    batch_size: int = typer.Option(None, "--batch-size", min=1, help="Members per committed batch"),
) -> None:
    """Push the audience's changes to its destination; an interrupted sync resumes where it stopped."""
    from cdp.audiences.definitions import find_audience_or_raise
    from cdp.audiences.sync import sync as run_sync
    from cdp.audit.log import Actor
    from cdp.cli.context import runtime
    from cdp.db import unit_of_work

    with runtime() as rt:
        with unit_of_work(rt.stores) as s:
            audience_id = find_audience_or_raise(s, audience).id
        report = run_sync(
            rt.stores,
            audience_id,
            settings=rt.settings,
            actor=Actor("cli-audiences", "system"),
            dry_run=dry_run,
            batch_size=batch_size,
        )
    if dry_run:
        typer.echo(
            f"{audience} -> {report.destination} (dry run): would add {report.to_add}, update {report.to_update}, "
            f"remove {report.to_remove}; {report.unchanged} unchanged"
        )
        return
    failures = ", ".join(f"{k} {v}" for k, v in sorted(report.failures.items()))
    typer.echo(
        f"{audience} -> {report.destination}: added {report.added}, updated {report.updated}, "
        f"removed {report.removed}, failed {report.failed}{f' ({failures})' if failures else ''}; "
        f"{report.unchanged} unchanged"
    )


@app.command("removals")
def removals(
    limit: int = typer.Option(100, "--limit", min=1, help="Tasks to push in this run"),
    show: bool = typer.Option(False, "--list", help="List the tasks that are not done; push nothing"),
) -> None:
    """Push queued removals (erasure, restriction: GDPR Art. 19) to the destinations that held the person."""
    from sqlmodel import col, select

    from cdp.audiences.models import DestinationRemoval
    from cdp.audiences.removals import process_removals
    from cdp.audit.log import Actor
    from cdp.cli.context import session

    with session() as (rt, s):
        if show:
            rows = s.scalars(
                select(DestinationRemoval)
                .where(col(DestinationRemoval.status) != "done")
                .order_by(col(DestinationRemoval.created_at))
            )
            for r in rows:
                error = f"  last error: {r.last_error}" if r.last_error else ""
                typer.echo(
                    f"{r.id}  {r.destination:<12} {r.status:<8} {'erase' if r.erase else 'remove':<6} "
                    f"attempts {r.attempts}  queued {r.created_at:%Y-%m-%d %H:%M}Z{error}"
                )
            return
        report = process_removals(s, settings=rt.settings, limit=limit, actor=Actor("cli-removals", "system"))
    typer.echo(f"removals: {report.done} done, {report.retrying} to retry, {report.failed} failed for good")
