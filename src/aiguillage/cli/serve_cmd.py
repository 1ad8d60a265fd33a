"""``aiguillage serve``."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from aiguillage.cli.common import ConfigOption, open_db, settings_or_exit


def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8080, help="Port to listen on."),
    workers: int = typer.Option(0, help="Worker processes (default: one per CPU core)."),
    config: Path | None = ConfigOption,
) -> None:
    """Start the gateway (the embedded default when no --config is given)."""
    from aiguillage.server import serve as run

    settings = settings_or_exit(config)
    open_db(config)  # create the schema once, before the workers race to it
    n = workers or os.cpu_count() or 1
    typer.echo(f"aiguillage: serving {len(settings.models)} deployment(s) on http://{host}:{port} "
               f"with {n} worker(s); config: {settings.source}", err=True)
    run(host, port, n, config)
