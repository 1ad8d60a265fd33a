"""The ``aiguillage`` command: a thin edge over the library (see ``aiguillage --help``)."""

from __future__ import annotations

import typer

from aiguillage.cli import config_cmd, keys_cmd, serve_cmd

app = typer.Typer(
    name="aiguillage",
    help="Self-hosted, OpenAI-compatible AI gateway: small models first, data kept where policy allows.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command("serve")(serve_cmd.serve)
app.add_typer(keys_cmd.app, name="keys")
app.add_typer(config_cmd.app, name="config")


def main() -> None:
    app()
