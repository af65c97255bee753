"""`cdp policies check`: refuse a malformed policy file with a one-line error naming file and line."""

import typer

from cdp.cli.context import settings

app = typer.Typer(help="Declarative policies (purposes, retention, access).", no_args_is_help=True)


@app.command()
def check() -> None:
    """Load and cross-check every policy file."""
    from cdp.policies import load_policies

    s = settings()
    policies = load_policies(s.policies_dir)
    typer.echo(
        f"ok: {s.policies_dir} ({len(policies.access.roles)} roles, {len(policies.purposes)} purposes, "
        f"{len(policies.retention.rules)} retention rules)"
    )
