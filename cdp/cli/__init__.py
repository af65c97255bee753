"""The `cdp` command: one Typer app, one module per command group, one error wrapper."""

import sys

import typer

from cdp.errors import CdpError

app = typer.Typer(
    name="cdp",
    help="cdp: consent-aware customer data platform. Run `cdp demo` to try it, `cdp serve` to run the API.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _register() -> None:
    from cdp.cli import (
        audiences,
        audit,
        consent,
        db,
        demo,
        export,
        identity,
        import_,
        keys,
        policy,
        privacy,
        retention,
        serve,
        sync,
    )

    for module in (serve, demo, import_, sync):
        module.register(app)
    app.add_typer(db.app, name="db")
    app.add_typer(keys.app, name="keys")
    app.add_typer(audit.app, name="audit")
    app.add_typer(policy.app, name="policies")
    app.add_typer(export.app, name="export")
    app.add_typer(identity.app, name="identity")
    app.add_typer(retention.app, name="retention")
    app.add_typer(consent.app, name="consent")
    app.add_typer(audiences.app, name="audiences")
    app.add_typer(privacy.app, name="privacy")


_register()


def main() -> None:
    try:
        app()
    except CdpError as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        sys.exit(1)
