"""`cdp consent`: ledger maintenance."""

import typer

app = typer.Typer(help="Consent ledger maintenance.", no_args_is_help=True)


@app.command()
def rebuild(
    dry_run: bool = typer.Option(False, "--dry-run", help="Only report differences; change nothing"),
) -> None:
    """Re-derive every consent state from the ledger and report where the stored state differed.

    Also brings each event's record id and ignored_reason in line with the fold (e.g. after a change to
    the fold rules or to a purpose's consent_validity).
    """
    from cdp.cli.context import session
    from cdp.consent.state import rebuild_all_states

    with session() as (_, s):
        report = rebuild_all_states(s, dry_run=dry_run)
    for profile_id, identity_id, purpose, stored, rebuilt in report.differences:
        typer.echo(
            f"profile {profile_id} contact point {identity_id or '-'} purpose {purpose}: "
            f"stored {stored or 'none'} -> rebuilt {rebuilt or 'none'}"
        )
    verb = "would fix" if dry_run else "fixed"
    typer.echo(
        f"{report.subjects} consent records of {report.profiles} profiles: {len(report.differences)} states differed, "
        f"{report.ledger_fixes} event annotations out of step; "
        + (f"{verb} {len(report.differences)} states" if report.differences or report.ledger_fixes else "nothing to do")
    )
