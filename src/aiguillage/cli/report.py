"""``aiguillage report``: compliance documents generated from the configuration."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from aiguillage.audit.processing import processing_record, to_html
from aiguillage.config import ConfigError, load_settings

app = typer.Typer(no_args_is_help=True, help="Compliance reports.")


@app.callback()
def _group() -> None:
    """Compliance reports."""


@app.command()
def processing(
    config: Annotated[Path | None, typer.Option("--config", "-c", help="Gateway YAML config")] = None,
    out: Annotated[Path, typer.Option(help="Directory for processing.md and processing.html")] = Path("."),
    controller: Annotated[
        str | None, typer.Option(help="Controller name and contact, for the record")
    ] = None,
) -> None:
    """Write the GDPR Art. 30 record of processing (Markdown and HTML)."""
    try:
        settings = load_settings(config)
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    md = processing_record(settings, controller)
    out.mkdir(parents=True, exist_ok=True)
    (out / "processing.md").write_text(md, encoding="utf-8")
    (out / "processing.html").write_text(to_html(md), encoding="utf-8")
    typer.echo(f"wrote {out / 'processing.md'} and {out / 'processing.html'}")
