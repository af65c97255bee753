"""`cdp serve`: the API under uvicorn, with uvicorn's access log off (ours logs route templates only)."""

import typer


def run_server(host: str, port: int) -> None:
    import uvicorn

    from cdp.cli.context import settings

    s = settings()
    typer.echo(f"cdp API on http://{host}:{port}  (OpenAPI: http://{host}:{port}/docs)", err=True)
    uvicorn.run(
        "cdp.api.app:app_from_env",
        factory=True,
        host=host,
        port=port,
        access_log=False,
        log_level=s.log_level.lower(),
    )


def register(app: typer.Typer) -> None:
    @app.command()
    def serve(
        host: str = typer.Option("127.0.0.1", help="Interface to listen on"),
        port: int = typer.Option(8000, min=1, max=65535, help="Port to listen on"),
    ) -> None:
        """Run the API (migrate first with `cdp db upgrade`)."""
        run_server(host, port)
