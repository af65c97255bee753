"""`cdp privacy`: file, list, show, approve, extend and lift privacy requests; download an access bundle.

Subjects are given on the command line only to be resolved; they are stored encrypted and never printed back.
"""

import datetime as dt
import json
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from cdp.audit.log import Actor
    from cdp.privacy.models import PrivacyRequest

app = typer.Typer(
    help="Privacy requests (GDPR Art. 15-21): access, erasure, restriction, rectification, objection.",
    no_args_is_help=True,
)
TYPES = ("access", "erasure", "restriction", "rectification", "objection")
ACTOR_HELP = "Who acts, as recorded in the audit log (default: cli:<your user name>). An approver must differ."
ROW = "{:<36}  {:<13}  {:<17}  {:<8}  {:<16}  {}"


def _actor(name: str | None) -> "Actor":
    import getpass

    from cdp.audit.log import Actor

    return Actor(name or f"cli:{getpass.getuser()}", "compliance")


def _when(value: str | None, option: str) -> dt.datetime | None:
    from cdp.errors import InvalidInput

    if value is None:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError as exc:
        raise InvalidInput(f"{option} is not an ISO 8601 date or time (e.g. 2027-01-31T09:00:00Z)") from exc
    return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed.astimezone(dt.UTC)


def _subject(email: str | None, phone: str | None, profile_id: uuid.UUID | None) -> dict[str, str]:
    given = {k: str(v) for k, v in (("email", email), ("phone", phone), ("profile_id", profile_id)) if v}
    if len(given) != 1:
        typer.echo("error: give exactly one of --email, --phone or --profile-id", err=True)
        raise typer.Exit(1)
    return given


def _fields(pairs: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            typer.echo("error: --field takes NAME=VALUE, e.g. --field last_name=Smith", err=True)
            raise typer.Exit(1)
        out[name] = value
    return out


def _summary(request: "PrivacyRequest") -> dict[str, Any]:
    from cdp.privacy.requests import OPEN, effective_due

    due = effective_due(request)
    return {
        "id": str(request.id),
        "type": request.type,
        "status": request.status,
        "jurisdiction": request.jurisdiction,
        "profile_ids": request.profile_ids,
        "requested_by": request.requested_by,
        "received_at": request.received_at.isoformat(),
        "due_at": request.due_at.isoformat(),
        "extended_to": request.extended_to.isoformat() if request.extended_to else None,
        "ack_by": request.ack_by.isoformat() if request.ack_by else None,
        "days_left": (due.date() - dt.datetime.now(dt.UTC).date()).days if request.status in OPEN else None,
        "completed_at": request.completed_at.isoformat() if request.completed_at else None,
        "rejection_reason": request.rejection_reason,
        "approvals": request.approvals,
        "history": request.history,
        "result": request.result,
        "has_export": request.export is not None,
    }


def _echo(request: "PrivacyRequest") -> None:
    typer.echo(json.dumps(_summary(request), indent=2, sort_keys=True))


def _scrub(rt: Any, request: "PrivacyRequest") -> None:
    if request.type == "erasure" and request.status == "completed":
        from cdp.privacy.erasure import scrub_residue

        scrub_residue(rt.stores.engines)


@app.command()
def request(
    type_: str = typer.Option(..., "--type", help=f"One of {', '.join(TYPES)}"),
    email: str = typer.Option(None, "--email", help="The subject's email address"),
    phone: str = typer.Option(None, "--phone", help="The subject's phone number"),
    profile_id: uuid.UUID = typer.Option(None, "--profile-id", help="The subject's profile id"),
    country: str = typer.Option(None, "--country", help="Default region for a national phone number"),
    requested_by: str = typer.Option(None, "--requested-by", help="Who asked (stored encrypted)"),
    notes: str = typer.Option(None, "--notes", help="Notes (stored encrypted with the person's data)"),
    jurisdiction: str = typer.Option(None, "--jurisdiction", help="A key of policies/requests.yaml (default EU)"),
    field: list[str] = typer.Option([], "--field", help="Rectification: NAME=VALUE, repeatable"),
    lift: bool = typer.Option(False, "--lift", help="Restriction: lift it instead of placing it"),
    subject_informed_at: str = typer.Option(None, "--subject-informed-at", help="Lifting: when the person was told"),
    actor: str = typer.Option(None, "--actor", help=ACTOR_HELP),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would happen; record and change nothing"),
) -> None:
    """File a request; it is carried out at once unless policy holds it (legal hold, second approver)."""
    from cdp.cli.context import session

    if type_ not in TYPES:
        typer.echo(f"error: --type must be one of {', '.join(TYPES)}", err=True)
        raise typer.Exit(1)
    subject = _subject(email, phone, profile_id)
    if dry_run:
        _dry_run(type_, subject, country)
        return
    from cdp.privacy.requests import submit_request

    with session() as (rt, s):
        filed = submit_request(
            s,
            type=type_,
            subject=subject,
            actor=_actor(actor),
            policies=rt.policies,
            requested_by=requested_by,
            notes=notes,
            jurisdiction=jurisdiction,
            fields=_fields(field) or None,
            lift=lift,
            subject_informed_at=_when(subject_informed_at, "--subject-informed-at"),
            country=country,
        )
    _scrub(rt, filed)
    _echo(filed)


def _dry_run(type_: str, subject: dict[str, str], country: str | None) -> None:
    from cdp.cli.context import session
    from cdp.privacy.requests import held_profiles, parse_subject, preview_erasure, resolve_subject

    with session() as (rt, s):
        profiles = resolve_subject(s, parse_subject(subject, country=country))
        held = held_profiles(s, profiles)
        typer.echo(f"dry run: a {type_} request matches {len(profiles)} profile(s): {', '.join(map(str, profiles))}")
        if type_ == "erasure":
            if held:
                typer.echo(f"it would be rejected: {len(held)} profile(s) under a legal hold")
                return
            typer.echo(json.dumps(preview_erasure(s, subject=subject, country=country).to_json(), indent=2))
        if type_ in rt.policies.requests.approval_required:
            typer.echo("it would wait for a second approver (policies/requests.yaml)")


@app.command("list")
def list_(
    status: str = typer.Option("open", "--status", help="open, closed, all, or one status"),
    due_before: str = typer.Option(None, "--due-before", help="Only requests due before this time (ISO 8601)"),
    limit: int = typer.Option(100, "--limit", min=1, max=10_000),
) -> None:
    """Requests by due date, soonest first, with days left."""
    from cdp.cli.context import session
    from cdp.privacy.requests import OPEN, effective_due, list_requests

    with session() as (_, s):
        rows = list_requests(
            s, status=None if status == "all" else status, due_before=_when(due_before, "--due-before"), limit=limit
        )
        typer.echo(ROW.format("id", "type", "status", "due in", "due at (UTC)", "reason"))
        for r in rows:
            due = effective_due(r)
            days = f"{(due.date() - dt.datetime.now(dt.UTC).date()).days}d" if r.status in OPEN else "-"
            when = due.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M")
            typer.echo(ROW.format(str(r.id), r.type, r.status, days, when, r.rejection_reason or ""))
    typer.echo(f"{len(rows)} request(s)")


@app.command()
def show(request_id: uuid.UUID = typer.Argument(..., help="The request id")) -> None:
    """One request as JSON: lifecycle, deadlines, approvals, result. No personal data."""
    from cdp.audit.log import append
    from cdp.cli.context import session
    from cdp.privacy.requests import close_answered, get_request_or_raise

    with session() as (_, s):
        found = get_request_or_raise(s, request_id)
        close_answered(s, found)
        append(
            s, actor=_actor(None), action="privacy_request.read", resource_type="privacy_request", resource_id=found.id
        )
        _echo(found)


@app.command()
def approve(
    request_id: uuid.UUID = typer.Argument(..., help="The request to approve"),
    actor: str = typer.Option(None, "--actor", help=ACTOR_HELP),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what an approval would erase; change nothing"),
) -> None:
    """Approve a request filed by someone else; it is then carried out."""
    from cdp.cli.context import session
    from cdp.privacy.requests import approve_request, get_request_or_raise

    if dry_run:
        from cdp.privacy.erasure import erase_subject

        with session() as (_, s):
            found = get_request_or_raise(s, request_id)
            ids = [uuid.UUID(p) for p in found.profile_ids]
            if found.type == "erasure":
                preview = erase_subject(s, ids, actor=_actor(actor), request_id=found.id, dry_run=True)
                typer.echo(json.dumps(preview.to_json(), indent=2))
            else:
                typer.echo(f"dry run: approving would carry out a {found.type} request for {len(ids)} profile(s)")
        return
    with session() as (rt, s):
        done = approve_request(s, request_id, actor=_actor(actor), policies=rt.policies)
    _scrub(rt, done)
    _echo(done)


@app.command()
def extend(
    request_id: uuid.UUID = typer.Argument(..., help="The request to extend"),
    reason: str = typer.Option(..., "--reason", help="Why more time is needed (never personal data)"),
    notified_at: str = typer.Option(None, "--notified-at", help="When the person was told (default: now)"),
    actor: str = typer.Option(None, "--actor", help=ACTOR_HELP),
) -> None:
    """Extend the deadline by two further months (CCPA: to 90 days); only before the original due date."""
    from cdp.cli.context import session
    from cdp.privacy.requests import extend_request

    with session() as (_, s):
        _echo(
            extend_request(
                s, request_id, reason=reason, notified_at=_when(notified_at, "--notified-at"), actor=_actor(actor)
            )
        )


@app.command()
def lift(
    request_id: uuid.UUID = typer.Argument(..., help="The restriction request whose restriction ends"),
    subject_informed_at: str = typer.Option(..., "--subject-informed-at", help="When the person was told (Art. 18(3))"),
    actor: str = typer.Option(None, "--actor", help=ACTOR_HELP),
) -> None:
    """Lift the restriction a request placed."""
    from cdp.cli.context import session
    from cdp.privacy.requests import lift_request_restriction

    with session() as (_, s):
        _echo(
            lift_request_restriction(
                s,
                request_id,
                subject_informed_at=_when(subject_informed_at, "--subject-informed-at"),
                actor=_actor(actor),
            )
        )


@app.command()
def export(
    request_id: uuid.UUID = typer.Argument(..., help="A completed access request"),
    out: Path = typer.Option(..., "--out", help="Write the zip here (created with mode 0600; never overwritten)"),
) -> None:
    """Download the access bundle (README.html, manifest.json, JSON and CSV per dataset). Audited."""
    import os

    from cdp.cli.context import session
    from cdp.privacy.requests import download_export

    if out.exists():
        typer.echo(f"error: {out} exists; choose another --out", err=True)
        raise typer.Exit(1)
    with session() as (_, s):
        content = download_export(s, request_id, actor=_actor(None))
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(content)
    typer.echo(f"wrote {out} ({len(content)} bytes)")


class _RollBack(Exception):
    """Raised inside the unit of work so a dry run's changes are rolled back."""


@app.command()
def reapply(
    dry_run: bool = typer.Option(False, "--dry-run", help="Count who would be erased again; change nothing"),
    yes: bool = typer.Option(False, "--yes", help="Confirm: run it for real"),
    actor: str = typer.Option(None, "--actor", help=ACTOR_HELP),
) -> None:
    """After restoring a data-store backup: erase again everyone erased since it was taken.

    The compliance store (data keys, suppressions, request log) is not restored with the data store, so a
    live profile whose data key is gone was erased after the backup; its rows are deleted again.
    """
    from cdp.cli.context import session
    from cdp.privacy.erasure import reapply_erasures, scrub_residue

    if not dry_run and not yes:
        typer.echo("error: reapply deletes rows; run with --dry-run to preview or --yes to confirm", err=True)
        raise typer.Exit(1)
    outcome: list[Any] = []
    try:
        with session() as (rt, s):
            outcome.append(reapply_erasures(s, actor=_actor(actor)))
            if dry_run:
                raise _RollBack
    except _RollBack:
        pass
    result = outcome[0]
    verb = "would erase" if dry_run else "erased"
    typer.echo(f"{verb} {len(result.profiles)} profiles again and {result.quarantine_rows} quarantine rows")
    if not dry_run:
        scrub_residue(rt.stores.engines)
