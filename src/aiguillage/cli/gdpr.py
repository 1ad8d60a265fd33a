"""``aiguillage gdpr``: data-subject rights (Art. 17 erasure)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from aiguillage.audit import AuditLog

app = typer.Typer(no_args_is_help=True, help="Data-subject rights (GDPR).")


@app.callback()
def _group() -> None:
    """Data-subject rights (GDPR)."""


@app.command()
def erase(
    subject: Annotated[
        str, typer.Option("--subject", help="Data-subject id (x-aiguillage-subject header, or tenant)")
    ],
    config: Annotated[Path | None, typer.Option("--config", "-c", help="Gateway YAML config")] = None,
) -> None:
    """Destroy the subject's content key and stored text; the erasure is logged, the log stays valid."""
    try:
        log = AuditLog.open(config)
    except Exception as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    n = log.erase_subject(subject)
    typer.echo(f"erased: the subject's content key (if there was one) destroyed, {n} stored text(s) deleted; "
               "erasure event appended to the audit log")
