"""``aiguillage config check``."""

from __future__ import annotations

from pathlib import Path

import typer

from aiguillage.cli.common import settings_or_exit
from aiguillage.providers.base import load_provider_class

app = typer.Typer(help="Validate configuration files.", no_args_is_help=True)


@app.command()
def check(file: Path = typer.Argument(..., help="The YAML config to validate.")) -> None:
    """Validate a config file; errors name the file, the entry and the field."""
    settings = settings_or_exit(file)
    problems = []
    for i, d in enumerate(settings.models):
        try:
            cls = load_provider_class(d.provider)
        except KeyError as exc:
            problems.append(f"{file}: models[{i}] (id={d.id}): provider: {exc.args[0]}")
            continue
        if cls.kind != "local" and not (d.base_url or cls.default_base_url):
            problems.append(f"{file}: models[{i}] (id={d.id}): base_url: required for provider '{d.provider}'")
    if problems:
        typer.echo("\n".join(problems), err=True)
        raise typer.Exit(2)
    tiers = sorted({d.tier for d in settings.models})
    typer.echo(f"{file}: OK — {len(settings.models)} deployment(s), tiers: {', '.join(tiers)}, "
               f"{len(settings.tenants)} tenant polic(ies)")
