"""``aiguillage router export-outcomes``: what live traffic taught, in the training format."""

from __future__ import annotations

from pathlib import Path

import typer

from aiguillage.cli.common import ConfigOption, open_db
from aiguillage.outcomes import Outcomes


def export_outcomes(
    out: Path = typer.Option(..., "--out", help="CSV to write (prompt, one score column per deployment, "
                                                 "<deployment>_response columns)."),
    tenant: str | None = typer.Option(None, help="Only this tenant's outcomes."),
    config: Path | None = ConfigOption,
) -> None:
    """Write the outcomes collected by feedback and shadow mode, ready for 'router train'."""
    with out.open("w", newline="", encoding="utf-8") as f:
        n = Outcomes(open_db(config)).export_csv(f, tenant)
    typer.echo(f"wrote {n} row(s) to {out}")
