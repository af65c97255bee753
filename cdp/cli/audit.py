"""`cdp audit`: verify the hash chain, print its head."""

import typer

from cdp.cli.context import session

app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)


@app.command()
def verify(
    expect_head: str = typer.Option(None, help="A head hash recorded earlier (`cdp audit head`): detects a cut tail"),
) -> None:
    """Walk the chain; exit 1 and name the first broken entry if anything was modified or deleted."""
    from cdp.audit.log import verify_chain

    with session() as (_, s):
        report = verify_chain(s, expected_head=expect_head)
    if report.ok:
        typer.echo(f"ok: {report.entries} entries, head {report.head_hash}")
        return
    where = f" at entry {report.broken_at}" if report.broken_at else ""
    typer.echo(f"error: audit chain broken{where}: {report.problem}", err=True)
    raise typer.Exit(1)


@app.command()
def head() -> None:
    """Print the current head hash; keep it somewhere else to detect a truncated log later."""
    from cdp.audit.log import verify_chain

    with session() as (_, s):
        report = verify_chain(s)
    typer.echo(f"{report.entries}\t{report.head_hash}")
