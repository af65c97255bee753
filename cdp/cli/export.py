"""`cdp export`: files other systems join on."""

from pathlib import Path

import typer

app = typer.Typer(help="Export data for warehouses and measurement.", no_args_is_help=True)


@app.command("identity-map")
def identity_map(out: Path = typer.Option(..., help="CSV file to write: source,external_id,profile_id")) -> None:
    """Write which profile every source record resolved to (merged profiles resolved to their survivor)."""
    import csv

    from cdp.audit.log import SYSTEM, append
    from cdp.cli.context import session
    from cdp.profiles.identity_map import iter_identity_map

    written = 0
    tmp = out.with_name(out.name + ".partial")
    with session() as (_, s), tmp.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["source", "external_id", "profile_id"])
        for source, external_id, profile_id in iter_identity_map(s):
            writer.writerow([source, external_id, str(profile_id)])
            written += 1
        append(s, actor=SYSTEM, action="identity_map.exported", resource_type="identity_map", details={"rows": written})
    tmp.replace(out)
    typer.echo(f"wrote {written} rows to {out}")
