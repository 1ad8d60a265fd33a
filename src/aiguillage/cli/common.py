"""What every command shares: loading settings and opening the store, with clear errors."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from aiguillage.config import ConfigError, Settings, load_settings
from aiguillage.store.db import Database

err_console = Console(stderr=True)

ConfigOption = typer.Option(None, "--config", "-c", help="YAML config (default: the embedded default under $AIGUILLAGE_HOME)",
                            exists=False, dir_okay=False)


def settings_or_exit(config: Path | None) -> Settings:
    try:
        return load_settings(config)
    except ConfigError as exc:
        typer.echo(f"config error:\n{exc}", err=True)
        raise typer.Exit(2) from None


def open_db(config: Path | None) -> Database:
    db = Database.for_settings(settings_or_exit(config) if config else None)
    db.migrate()
    return db
