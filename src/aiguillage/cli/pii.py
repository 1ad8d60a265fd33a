"""`aiguillage pii …`: personal-data tools. A thin edge over aiguillage.inspect."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(name="pii", help="Detect personal data in text, offline.", no_args_is_help=True)


@app.callback()
def _group() -> None:
    """Personal-data detection (PERSON, EMAIL, PHONE, IBAN, CREDIT_CARD, NATIONAL_ID, ADDRESS, …)."""


@app.command("scan")
def scan_command(
    infile: Annotated[Path, typer.Argument(help="JSONL input: one {\"id\", \"text\"} object per line.",
                                           exists=True, dir_okay=False, readable=True)],
    out: Annotated[Path, typer.Option("--out", "-o", help="JSONL output: {\"id\", \"entities\"} per line.")],
    language: Annotated[
        str | None, typer.Option(help="ISO 639-1 code; detected per line when omitted.")
    ] = None,
    context: Annotated[bool, typer.Option("--context/--no-context",
                                          help="Also detect names and addresses (slower).")] = True,
) -> None:
    """Scan each line's `text`; entity offsets are character offsets into that text."""
    from aiguillage.inspect import scan

    lines = records = 0
    with infile.open(encoding="utf-8") as src, out.open("w", encoding="utf-8") as dst:
        for lineno, raw in enumerate(src, start=1):
            if not raw.strip():
                continue
            record = _parse(raw, infile, lineno)
            entities = scan(record["text"], language, context=context)
            dst.write(json.dumps({"id": record["id"], "entities": [e.to_json() for e in entities]},
                                 ensure_ascii=False) + "\n")
            lines += 1
            records += bool(entities)
    typer.echo(f"scanned {lines} lines, {records} with personal data -> {out}", err=True)


def _parse(raw: str, infile: Path, lineno: int) -> dict:
    try:
        record = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise typer.BadParameter(f"{infile}:{lineno}: not valid JSON ({exc.msg}); each line must be one "
                                 "JSON object like {\"id\": \"1\", \"text\": \"…\"}") from exc
    if not isinstance(record, dict) or "id" not in record or not isinstance(record.get("text"), str):
        raise typer.BadParameter(f"{infile}:{lineno}: each line needs an \"id\" and a string \"text\" field")
    return record


if __name__ == "__main__":
    sys.exit(app())
