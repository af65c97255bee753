"""`cdp identity`: batch re-resolution."""

import typer

app = typer.Typer(help="Identity resolution maintenance.", no_args_is_help=True)


@app.command()
def rebuild(
    yes: bool = typer.Option(False, "--yes", help="Do it (without it, only say what would happen)"),
) -> None:
    """Re-resolve every source record from scratch, in first-receipt order, in one transaction.

    Profile ids change; every old id keeps answering with a redirect to the profile of its first record.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from cdp.audit.log import Actor
    from cdp.cli.context import session
    from cdp.identity.rebuild import rebuild_identities
    from cdp.identity.resolve import count_live_profiles

    with session() as (_, s):
        if not yes:
            typer.echo(f"would re-resolve the records of {count_live_profiles(s)} profiles; run again with --yes")
            return
        progress = Progress(
            TextColumn("re-resolving"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), transient=True
        )
        with progress:
            task = progress.add_task("rebuild", total=None)
            report = rebuild_identities(
                s,
                actor=Actor("cli-rebuild", "system"),
                progress=lambda done, total: progress.update(task, completed=done, total=total),
            )
    typer.echo(
        f"re-resolved {report.records} records: {report.profiles_before} profiles before, {report.profiles_after} after"
    )
