"""`cdp import`: load a CSV or JSON Lines file through the one ingestion pipeline, chunk by chunk."""

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("import")
    def import_(
        file: Path = typer.Argument(..., help="CSV (header row) or JSON Lines file"),
        source: str = typer.Option(None, help="Source name, e.g. crm or hubspot (a preset names its own)"),
        id_column: str = typer.Option(None, help="Column holding the source's own record id (a preset knows it)"),
        preset: str = typer.Option(
            None,
            help="A tool's export format: hubspot-contacts, mailchimp-subscribed, mailchimp-unsubscribed, "
            "mailchimp-cleaned (consents and withdrawals follow the file's status)",
        ),
        purpose: str = typer.Option(
            "email_marketing", help="With a preset: the purpose its consents and withdrawals are for"
        ),
        fmt: str = typer.Option(None, "--format", help="csv or jsonl (default: from the file extension)"),
        map_: list[str] = typer.Option([], "--map", help="FIELD=COLUMN, e.g. --map email=Email Address"),
        chunk: int = typer.Option(2000, min=1, max=20_000, help="Records per transaction, resolved together"),
        dry_run: bool = typer.Option(False, "--dry-run", help="Validate and count, write nothing"),
    ) -> None:
        """Import contacts; bad rows are quarantined with reasons, and each chunk commits on its own."""
        import functools
        import itertools
        from collections import Counter

        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        from cdp.audit.log import Actor
        from cdp.cli.context import runtime
        from cdp.db import unit_of_work, utcnow
        from cdp.errors import InvalidInput
        from cdp.ingest.pipeline import ingest_batch
        from cdp.ingest.quality import gate_settings
        from cdp.ingest.tabular import FileFormat, guess_format, parse_mapping, read_rows
        from cdp.ingest.validate import validate_row

        if fmt not in (None, "csv", "jsonl"):
            raise InvalidInput("--format is csv or jsonl")
        file_format: FileFormat = "jsonl" if fmt == "jsonl" else "csv" if fmt == "csv" else guess_format(file)
        planner = None
        if preset is not None:
            from connectors.csv import get_preset

            chosen = get_preset(preset)
            source = source or chosen.source
            planner = functools.partial(chosen.bind, purpose=purpose)
        if not source:
            raise InvalidInput("say which source the file comes from (--source), or use a --preset")
        rows = read_rows(
            file,
            fmt=file_format,
            id_column=id_column,
            mapping=parse_mapping(map_),
            observed_at=utcnow(),
            preset=planner,
        )
        counts: Counter[str] = Counter()
        actor = Actor("cli-import", "system")
        progress = Progress(
            TextColumn("importing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), transient=True
        )
        with runtime() as rt, progress:
            task = progress.add_task("import", total=None)
            gate = gate_settings(rt.settings)
            while batch := list(itertools.islice(rows, chunk)):
                if dry_run:
                    checked = [validate_row(source, r, purposes=rt.policies.purposes) for r in batch]
                    counts.update("invalid" if isinstance(c, list) else "valid" for c in checked)
                else:
                    with unit_of_work(rt.stores) as session:
                        counts.update(ingest_batch(session, source, batch, actor=actor, gate=gate).counts)
                progress.advance(task, len(batch))
        summary = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()) if v)
        typer.echo(f"{'checked' if dry_run else 'imported'} {sum(counts.values())} records: {summary or 'none'}")
