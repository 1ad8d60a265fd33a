"""``aiguillage keys create|list|revoke``."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from aiguillage.cli.common import ConfigOption, open_db
from aiguillage.keys import KeyStore

app = typer.Typer(help="Create, list and revoke API keys (stored hashed).", no_args_is_help=True)


@app.command()
def create(
    tenant: str = typer.Option(..., help="Tenant the key belongs to (its policy applies)."),
    admin: bool = typer.Option(False, help="Allow admin endpoints."),
    expires: float | None = typer.Option(None, help="Days until the key expires."),
    config: Path | None = ConfigOption,
) -> None:
    """Create a key; the key itself is the last line printed (it is not stored and cannot be shown again)."""
    try:
        key, info = KeyStore(open_db(config)).create(tenant, admin=admin, expires_days=expires)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    typer.echo(f"key id {info.key_id} for tenant '{tenant}'" + (" (admin)" if admin else ""), err=True)
    typer.echo(key)


@app.command("list")
def list_keys(config: Path | None = ConfigOption) -> None:
    """List keys (ids and tenants; never the keys)."""
    table = Table("key id", "tenant", "admin", "created", "expires", "status")
    now = time.time()
    for k in KeyStore(open_db(config)).list():
        status = "revoked" if k.revoked_at else ("expired" if k.expires_at and k.expires_at <= now else "active")
        table.add_row(k.key_id, k.tenant, "yes" if k.admin else "", _t(k.created_at), _t(k.expires_at), status)
    Console().print(table)


@app.command()
def revoke(key_id: str = typer.Argument(..., help="The key id shown by 'keys list'."),
           config: Path | None = ConfigOption) -> None:
    """Revoke a key; servers stop accepting it within a second."""
    if not KeyStore(open_db(config)).revoke(key_id):
        typer.echo(f"no active key with id '{key_id}' (see: aiguillage keys list)", err=True)
        raise typer.Exit(1)
    typer.echo(f"revoked {key_id}")


def _t(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(ts)) if ts else ""
