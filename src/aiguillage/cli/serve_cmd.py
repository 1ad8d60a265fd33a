"""``aiguillage serve``."""

from __future__ import annotations

import enum
import os
from pathlib import Path

import typer

from aiguillage.cli.common import ConfigOption, open_db, settings_or_exit


class Interface(str, enum.Enum):
    rsgi = "rsgi"
    asgi = "asgi"


def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8080, help="Port to listen on."),
    workers: int = typer.Option(0, help="Worker processes (default: one per CPU core)."),
    config: Path | None = ConfigOption,
    interface: Interface = typer.Option(Interface.rsgi, help="Server interface: granian's own RSGI, or ASGI. "
                                        "Both serve the same API; RSGI costs less per request."),
) -> None:
    """Start the gateway (the embedded default when no --config is given)."""
    from aiguillage.server import serve as run

    n = workers or os.cpu_count() or 1
    settings = settings_or_exit(config)
    # Create the schema once, before the workers race to it. Then close the connection: the
    # workers are forked from this process, and SQLite must not see a connection cross a fork.
    open_db(config).dispose()
    if any(d.provider == "local" and not d.options.get("model_path") for d in settings.models):
        from aiguillage.providers.local import default_model_path

        default_model_path()  # unpack the embedded model once, not in every worker
    typer.echo(f"aiguillage: serving {len(settings.models)} deployment(s) on http://{host}:{port} "
               f"with {n} worker(s) over {interface.value.upper()}; config: {settings.source}", err=True)
    run(host, port, n, config, interface.value)
