"""``aiguillage audit``: verify the log, prove one decision, export a period, manage checkpoints/retention."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from aiguillage.audit import AuditLog, verify_proof
from aiguillage.audit.verify import Witness

app = typer.Typer(no_args_is_help=True, help="The tamper-evident audit log.")

ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="Gateway YAML config (default: embedded, $AIGUILLAGE_HOME)"),
]


@app.callback()
def _group() -> None:
    """The tamper-evident audit log."""


def _open(config: Path | None) -> AuditLog:
    try:
        return AuditLog.open(config)
    except Exception as exc:  # config and key errors: one clear line, no traceback
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


@app.command()
def verify(
    config: ConfigOpt = None,
    public_key: Annotated[
        Path | None, typer.Option(help="Verify against this exported PEM instead of the local key")
    ] = None,
    workers: Annotated[
        int | None, typer.Option(help="Worker processes (default: one per CPU on large logs)")
    ] = None,
    witness: Annotated[
        list[Path] | None,
        typer.Option(help="A head saved earlier by `audit head` (or a proof from `audit prove`) that the "
                          "log must still hold: detects a rollback to an older copy. Repeatable."),
    ] = None,
) -> None:
    """Recompute the whole log; exit 0 when intact, 1 naming the first bad entry."""
    log = _open(config)
    try:
        heads = [Witness.from_json(json.loads(p.read_text())) for p in witness or []]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        typer.echo(f"error: a --witness file is not a saved head: {exc}", err=True)
        raise typer.Exit(2) from None
    res = log.verify(public_key.read_text() if public_key else None, workers=workers, witnesses=heads)
    if res.ok:
        typer.echo(f"OK {res.message}")
        return
    typer.echo(f"TAMPERED first bad: {res.first_bad}\n{res.message}", err=True)
    raise typer.Exit(1)


@app.command()
def head(config: ConfigOpt = None) -> None:
    """Print the current signed tree head (JSON). Keep copies outside the database (another
    system, a ticket, a regulator's inbox): `verify --witness` then detects a rollback."""
    typer.echo(json.dumps(_open(config).head().to_json(), indent=2))


@app.command()
def prove(decision_id: str, config: ConfigOpt = None) -> None:
    """Print the inclusion proof (JSON) of one decision in the current signed tree head."""
    log = _open(config)
    try:
        proof = log.prove(decision_id)
    except KeyError as exc:
        typer.echo(f"error: {exc.args[0]}", err=True)
        raise typer.Exit(1) from None
    typer.echo(json.dumps(proof, indent=2))


@app.command("check-proof")
def check_proof(
    proof_file: Path,
    public_key: Annotated[Path, typer.Option(help="The log's exported public key (PEM)")],
) -> None:
    """Check a proof from ``audit prove`` offline, with only the public key."""
    ok, reason = verify_proof(json.loads(proof_file.read_text()), public_key.read_text())
    typer.echo(("OK " if ok else "INVALID ") + reason, err=not ok)
    if not ok:
        raise typer.Exit(1)


def _utc(dt: datetime | None) -> datetime | None:
    return dt.replace(tzinfo=UTC) if dt is not None and dt.tzinfo is None else dt


@app.command()
def export(
    since: Annotated[datetime | None, typer.Option(help="From this time (UTC), inclusive")] = None,
    until: Annotated[datetime | None, typer.Option(help="Until this time (UTC), exclusive")] = None,
    fmt: Annotated[str, typer.Option("--format", help="jsonl or csv")] = "jsonl",
    out: Annotated[Path | None, typer.Option(help="Write here instead of stdout")] = None,
    config: ConfigOpt = None,
) -> None:
    """Export the events received in a period."""
    if fmt not in ("jsonl", "csv"):
        typer.echo("error: --format must be jsonl or csv", err=True)
        raise typer.Exit(2)
    lines = _open(config).export(_utc(since), _utc(until), fmt)
    if out is None:
        for line in lines:
            typer.echo(line, nl=False)
        return
    with out.open("w", encoding="utf-8", newline="") as fh:
        fh.writelines(lines)


@app.command("public-key")
def public_key_cmd(config: ConfigOpt = None) -> None:
    """Print the checkpoint-signing public key (PEM), to hand to auditors."""
    typer.echo(_open(config).public_key_pem(), nl=False)


@app.command()
def checkpoint(config: ConfigOpt = None) -> None:
    """Sign a checkpoint of the log now."""
    log = _open(config)
    log.checkpoint()
    typer.echo("checkpoint signed")


@app.command()
def retention(config: ConfigOpt = None) -> None:
    """Delete expired content and prune expired metadata, as configured; the deletion is logged."""
    summary = _open(config).apply_retention()
    typer.echo(json.dumps(summary, indent=2))
