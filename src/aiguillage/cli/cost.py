"""``aiguillage cost report``: spend, savings versus always-largest, projection."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from aiguillage.accounting.report import build_report, parse_when, report_csv, report_json
from aiguillage.cli.common import ConfigOption, err_console, settings_or_exit
from aiguillage.store.db import Database

app = typer.Typer(help="Usage, spend and savings.", no_args_is_help=True)


class Format(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


@app.callback()
def _group() -> None:
    """Usage, spend and savings (the ledger the gateway writes)."""


def _when(value: str | None, flag: str) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_when(value)
    except ValueError as exc:
        err_console.print(f"{flag}: {exc}", highlight=False)
        raise typer.Exit(2) from None


def _money(v: Decimal | None, places: int = 2) -> str:
    return "-" if v is None else f"{v:,.{places}f}"


def _table(title: str, first: str, rows: dict[str, dict[str, Any]]) -> Table:
    t = Table(title=title)
    for col in (first, "requests", "tokens in", "tokens out", "cost EUR", "always-largest EUR", "savings EUR",
                "EUR / 1k req"):
        t.add_column(col, justify="left" if col == first else "right")
    for name, a in rows.items():
        t.add_row(name, f"{a['requests']:,}", f"{a['prompt_tokens']:,}", f"{a['completion_tokens']:,}",
                  _money(a["total_cost_eur"]), _money(a["counterfactual_cost_eur"]), _money(a["savings_eur"]),
                  _money(a["cost_per_1k_requests_eur"], 4))
    return t


def _print_table(report: dict[str, Any]) -> None:
    out = Console(width=max(Console().width, 130))  # never truncate deployment names
    span = f"{report['since'] or 'start'} .. {report['until'] or 'now'}"
    out.print(f"Usage {span}" + (f" for tenant '{report['tenant']}'" if report["tenant"] else ""), highlight=False)
    out.print(_table("Total", "", {"all": report}))
    out.print(_table("By tenant", "tenant", report["by_tenant"]))
    out.print(_table("By deployment", "deployment", report["by_deployment"]))
    pct = report["savings_percent"]
    out.print(f"Savings versus always-largest: EUR {_money(report['savings_eur'])}"
              + (f" ({pct:.1f} %)" if pct is not None else ""), highlight=False)
    p = report["projection"]
    if p:
        out.print(f"Projection for {p['monthly_requests']:,} requests/month: EUR {_money(p['total_cost_eur'])} "
                  f"(always-largest EUR {_money(p['counterfactual_cost_eur'])}, "
                  f"savings EUR {_money(p['savings_eur'])})", highlight=False)


@app.command()
def report(
    config: Path | None = ConfigOption,
    tenant: str | None = typer.Option(None, "--tenant", help="Only this tenant."),
    since: str | None = typer.Option(None, "--since", help="From this UTC date/time (inclusive)."),
    until: str | None = typer.Option(None, "--until", help="Up to this UTC date/time (exclusive)."),
    project_monthly_requests: int | None = typer.Option(
        None, "--project-monthly-requests", min=0, help="Project the monthly cost for this many requests."),
    fmt: Format = typer.Option(Format.table, "--format", help="table (rounded to cents), json or csv (exact)."),
) -> None:
    """Spend by tenant and deployment, savings versus always-largest, cost per 1,000 requests."""
    settings = settings_or_exit(config) if config else None
    db = Database.for_settings(settings)
    try:
        db.migrate()
        data = build_report(db, tenant=tenant, since=_when(since, "--since"), until=_when(until, "--until"),
                            project_monthly_requests=project_monthly_requests, settings=settings)
    finally:
        db.dispose()
    if fmt is Format.json:
        typer.echo(report_json(data))
    elif fmt is Format.csv:
        typer.echo(report_csv(data), nl=False)
    else:
        _print_table(data)
