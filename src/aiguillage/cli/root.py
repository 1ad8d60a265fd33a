"""The command tree: every sub-command group mounted on one typer app."""

from __future__ import annotations

import typer

from aiguillage.cli import audit, config_cmd, cost, gdpr, keys_cmd, outcomes_cmd, pii, report, router, serve_cmd

app = typer.Typer(
    name="aiguillage",
    help="Self-hosted, OpenAI-compatible AI gateway: small models first, data kept where policy allows.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command("serve")(serve_cmd.serve)
app.add_typer(keys_cmd.app, name="keys")
app.add_typer(config_cmd.app, name="config")
router.app.command("export-outcomes")(outcomes_cmd.export_outcomes)
app.add_typer(router.app, name="router")
app.add_typer(pii.app, name="pii")
app.add_typer(audit.app, name="audit")
app.add_typer(gdpr.app, name="gdpr")
app.add_typer(report.app, name="report")
app.add_typer(cost.app, name="cost")
