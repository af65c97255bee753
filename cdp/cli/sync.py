"""`cdp sync SOURCE`: pull a connector page by page; `cdp connectors`: what is registered and where each
sync stands."""

import typer

app = typer.Typer(help="Connectors: what is registered, and each pull's checkpoint.", no_args_is_help=True)


def register(root: typer.Typer) -> None:
    @root.command("sync")
    def sync(
        source: str = typer.Argument(..., help="A pull connector, e.g. hubspot, salesforce, mailchimp"),
        full: bool = typer.Option(False, "--full", help="Ignore the checkpoint and read everything again"),
        max_pages: int = typer.Option(None, "--max-pages", min=1, help="Stop after this many pages (resumable)"),
    ) -> None:
        """Pull SOURCE into cdp; each page commits with its checkpoint, so an interrupted sync resumes."""
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        from cdp.audit.log import Actor
        from cdp.cli.context import runtime
        from cdp.jobs import sync_source

        with (
            runtime() as rt,
            Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), transient=True) as bar,
        ):
            task = bar.add_task(f"syncing {source}", total=None)

            def progress(pages: int, counts: dict[str, int]) -> None:
                done = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()) if v)
                bar.update(task, description=f"syncing {source}: page {pages} ({done or 'nothing new'})")

            report = sync_source(
                rt,
                source,
                actor=Actor(f"cli-sync:{source}", "system"),
                full=full,
                max_pages=max_pages,
                progress=progress,
            )
        summary = ", ".join(f"{k} {v}" for k, v in sorted(report.counts.items()) if v) or "nothing new"
        more = " (stopped early; run again to continue)" if report.status == "stopped" else ""
        typer.echo(
            f"{source}: {report.pages} pages, {summary}; {report.signals} privacy signals"
            f"{', resumed from checkpoint' if report.resumed else ''}{more}"
        )

    root.add_typer(app, name="connectors")


@app.command("list")
def list_connectors() -> None:
    """Registered connectors (webhook, pull, destination) and each pull's checkpoint status."""
    from sqlmodel import select

    from cdp.cli.context import session
    from cdp.connectors.registry import destinations, pull_sources, webhook_sources
    from cdp.ingest.models import ConnectorState

    with session() as (_rt, s):
        states = {st.connector: st for st in s.scalars(select(ConnectorState)).all()}
        hooks, pulls, dests = webhook_sources(), pull_sources(), destinations()
        for name in sorted({*hooks, *pulls, *dests}):
            kinds = [k for k, table in (("webhook", hooks), ("pull", pulls), ("destination", dests)) if name in table]
            state = states.get(name)
            where = f"  {state.status} since {state.updated_at:%Y-%m-%d %H:%M}Z" if state else ""
            error = f"  last error: {state.last_error}" if state and state.last_error else ""
            typer.echo(f"{name:<12} {'/'.join(kinds):<28}{where}{error}")


@app.command("reset")
def reset(
    source: str = typer.Argument(..., help="Connector whose checkpoint to forget"),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show the checkpoint; change nothing"),
) -> None:
    """Forget SOURCE's checkpoint: the next sync is a full load (idempotent: unchanged records are no-ops)."""
    from cdp.cli.context import session
    from cdp.connectors.sync import connector_state, reset_checkpoint
    from cdp.jobs import require_pull_source

    require_pull_source(source)
    with session() as (_rt, s):
        state = connector_state(s, source)
        typer.echo(f"{source}: checkpoint keys {sorted(state.cursor) or 'none'}, status {state.status}")
        if dry_run:
            typer.echo("dry run: nothing changed")
            return
        reset_checkpoint(s, source)
        typer.echo(f"{source}: checkpoint cleared; the next sync reads everything")
