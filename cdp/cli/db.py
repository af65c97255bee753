"""`cdp db`: migrate both stores and report where they stand."""

import typer

from cdp.cli.context import settings

app = typer.Typer(help="Database migrations for the data store and the compliance store.", no_args_is_help=True)


def _urls() -> dict[str, str]:
    s = settings()
    return {"compliance": s.compliance_url, "data": s.database_url}


def upgrade_all() -> None:
    from cdp import migrate

    for store, url in _urls().items():
        migrate.upgrade(store, url)  # type: ignore[arg-type]


@app.command()
def upgrade() -> None:
    """Apply every pending migration to both stores (idempotent)."""
    upgrade_all()
    current()


@app.command()
def current() -> None:
    """Show each store's revision and whether it is at head."""
    from cdp import migrate
    from cdp.db import make_engine

    for store, url in _urls().items():
        engine = make_engine(url)
        try:
            with engine.connect() as conn:
                rev = migrate.current_revision(conn, store)  # type: ignore[arg-type]
                head = migrate.head_revision(store)
        finally:
            engine.dispose()
        state = "at head" if rev == head else f"behind (head is {head})"
        typer.echo(f"{store}: {rev or 'empty'} {state}")
