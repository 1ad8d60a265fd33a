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
        str, typer.Option("--subject", help="Data-subject id (x-aiguillage-subject header, or the tenant's name)")
    ],
    tenant: Annotated[
        str | None, typer.Option("--tenant", help="The tenant whose data subject this is")
    ] = None,
    all_tenants: Annotated[
        bool, typer.Option("--all-tenants", help="Erase this subject id in every tenant")
    ] = False,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="Gateway YAML config")] = None,
) -> None:
    """Destroy the subject's content key and stored text, delete their outcome samples; the erasure
    is logged, the log stays valid.

    Subjects are scoped by tenant: the same id sent by two tenants is two data subjects."""
    if (tenant is None) == (not all_tenants):
        typer.echo("error: name the tenant whose data subject this is (--tenant NAME), or erase the id "
                   "in every tenant (--all-tenants)", err=True)
        raise typer.Exit(2)
    try:
        log = AuditLog.open(config)
    except Exception as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if tenant is not None and tenant not in log.settings.tenants and not log.has_decisions_of(tenant):
        # Most likely a typo: the erasure is still logged (the request was made), but say so.
        typer.echo(f"warning: tenant '{tenant}' has no decision in the audit log and no policy in the "
                   "config; check the name", err=True)
    done = log.erase_subject(subject, tenant)
    where = f"tenant '{tenant}'" if tenant is not None else "every tenant"
    typer.echo(f"erased in {where}: the subject's content key (if there was one) destroyed, {done.texts} stored "
               f"text(s) and {done.outcome_samples} outcome sample(s) deleted; erasure event appended to the "
               "audit log")
