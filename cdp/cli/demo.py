"""`cdp demo`: migrate, load a few hundred realistic contacts from three sources, print keys, serve."""

import typer


def load_demo(people: int, seed: int) -> dict[str, dict[str, int]]:
    from collections import defaultdict

    from cdp.audit.log import Actor
    from cdp.cli.context import session
    from cdp.cli.demo_data import generate_demo_records
    from cdp.ingest.pipeline import ingest_batch

    by_source: dict[str, list[object]] = defaultdict(list)
    for record in generate_demo_records(seed=seed, people=people):
        by_source[str(record["source"])].append(record)
    counts: dict[str, dict[str, int]] = {}
    with session() as (_, s):
        for source, rows in sorted(by_source.items()):
            counts[source] = ingest_batch(s, source, rows, actor=Actor("demo", "system")).counts
    return counts


def create_demo_keys() -> dict[str, str]:
    from cdp.cli.context import session
    from cdp.cli.keys import create_audited_key
    from cdp.policies import ROLES

    tokens: dict[str, str] = {}
    with session() as (rt, s):
        for role in ROLES:
            _, tokens[role] = create_audited_key(s, rt, name=f"demo-{role}", role=role)
    return tokens


def register(app: typer.Typer) -> None:
    @app.command()
    def demo(
        people: int = typer.Option(240, min=1, max=100_000, help="How many demo persons to generate"),
        seed: int = typer.Option(7, help="Seed of the generator (same seed, same data)"),
        serve: bool = typer.Option(True, "--serve/--no-serve", help="Start the API afterwards"),
        host: str = typer.Option("127.0.0.1", help="Interface to listen on"),
        port: int = typer.Option(8000, min=1, max=65535, help="Port to listen on"),
    ) -> None:
        """Set up a demo: migrate, load contacts (with duplicates and consents), create one key per role."""
        from rich.console import Console
        from rich.table import Table

        from cdp.cli.db import upgrade_all

        console = Console(stderr=True)
        upgrade_all()
        with console.status("loading demo contacts"):
            counts = load_demo(people, seed)
        table = Table(title="demo data loaded")
        table.add_column("source")
        outcomes = ("created", "merged", "updated", "unchanged", "quarantined", "suppressed")
        for outcome in outcomes:
            table.add_column(outcome, justify="right")
        for source, c in counts.items():
            table.add_row(source, *(str(c[o]) for o in outcomes))
        console.print(table)
        keys = Table(title="demo API keys (shown once)")
        keys.add_column("role")
        keys.add_column("Authorization header")
        for role, token in create_demo_keys().items():
            keys.add_row(role, f"Bearer {token}")
        Console().print(keys)
        if serve:
            from cdp.cli.serve import run_server

            run_server(host, port)
