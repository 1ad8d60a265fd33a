"""The savings report: spend by tenant and deployment, savings versus always-largest, projection.

``build_report`` returns exact ``Decimal`` sums (ratios are Decimals to 28 significant
digits); ``report_json`` writes them as JSON numbers without going through float, and
``report_csv`` flattens the breakdowns. Served as ``aiguillage cost report`` and ``GET /v1/usage``.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from decimal import Context, Decimal
from typing import Any

import sqlalchemy as sa

from aiguillage.accounting.cost import EXACT, ZERO, decimal_str
from aiguillage.accounting.ledger import exact_sum, ledger, prepare_exact_sum
from aiguillage.config import Settings
from aiguillage.store.db import Database

__all__ = ["build_report", "report_json", "report_csv", "parse_when", "NO_DEPLOYMENT"]

NO_DEPLOYMENT = "(none)"  # requests refused or failed before any deployment answered
_RATIO = Context(prec=28)


def _ratio(numerator: Decimal, denominator: Decimal | int) -> Decimal:
    """A quotient to 28 significant digits, without trailing zeros (1.758, not 1.75800)."""
    return _RATIO.divide(numerator, denominator).normalize(_RATIO)
_SUMS = ("requests", "prompt_tokens", "completion_tokens", "total_cost_eur", "counterfactual_cost_eur")


def parse_when(value: str) -> datetime:
    """``YYYY-MM-DD``, ``YYYY-MM-DDTHH:MM[:SS][Z|+HH:MM]`` (UTC when no offset) or epoch seconds."""
    try:
        return datetime.fromtimestamp(float(value), UTC)
    except ValueError:
        pass
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"'{value}' is not a date; use YYYY-MM-DD, YYYY-MM-DDTHH:MM[:SS] (UTC) "
                         "or epoch seconds") from None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _epoch(t: datetime | float | None) -> float | None:
    if t is None or isinstance(t, (int, float)):
        return t
    return (t if t.tzinfo else t.replace(tzinfo=UTC)).timestamp()


def _iso(t: float | None) -> str | None:
    return None if t is None else datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")


def _empty() -> dict[str, Any]:
    return {"requests": 0, "prompt_tokens": 0, "completion_tokens": 0,
            "total_cost_eur": ZERO, "counterfactual_cost_eur": ZERO}


def _add(into: dict[str, Any], row: dict[str, Any]) -> None:
    for k in _SUMS:
        into[k] = EXACT.add(into[k], row[k]) if isinstance(into[k], Decimal) else into[k] + row[k]


def _finish(agg: dict[str, Any]) -> dict[str, Any]:
    n = agg["requests"]
    cost, cf = agg["total_cost_eur"], agg["counterfactual_cost_eur"]
    agg["savings_eur"] = EXACT.subtract(cf, cost)
    agg["savings_percent"] = _ratio(agg["savings_eur"] * 100, cf) if cf else None
    agg["cost_per_1k_requests_eur"] = _ratio(cost * 1000, n) if n else None
    agg["counterfactual_per_1k_requests_eur"] = _ratio(cf * 1000, n) if n else None
    return agg


def _rows(db: Database, tenant: str | None, since: float | None, until: float | None) -> list[dict[str, Any]]:
    cond = []
    if tenant is not None:
        cond.append(ledger.c.tenant == tenant)
    if since is not None:
        cond.append(ledger.c.received_at >= since)
    if until is not None:
        cond.append(ledger.c.received_at < until)
    with db.engine.connect() as conn:
        prepare_exact_sum(conn)
        c = ledger.c
        query = (
            sa.select(
                c.tenant, c.deployment, sa.func.max(c.tier), sa.func.count(),
                sa.func.coalesce(sa.func.sum(c.prompt_tokens), 0),
                sa.func.coalesce(sa.func.sum(c.completion_tokens), 0),
                exact_sum(conn, c.cost_eur), exact_sum(conn, c.counterfactual_cost_eur),
            )
            .where(*cond)
            .group_by(c.tenant, c.deployment)
        )
        result = conn.execute(query).all()
    return [
        {"tenant": r[0], "deployment": r[1] or NO_DEPLOYMENT, "tier": r[2], "requests": int(r[3]),
         "prompt_tokens": int(r[4]), "completion_tokens": int(r[5]),
         "total_cost_eur": Decimal(str(r[6])), "counterfactual_cost_eur": Decimal(str(r[7]))}
        for r in result
    ]


def build_report(
    db: Database,
    tenant: str | None = None,
    since: datetime | float | None = None,
    until: datetime | float | None = None,
    project_monthly_requests: int | None = None,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """The report as a JSON-able dict of exact Decimals (see ``report_json``)."""
    start, end = _epoch(since), _epoch(until)
    rows = _rows(db, tenant, start, end)
    total = _empty()
    by_tenant: dict[str, dict[str, Any]] = {}
    by_dep: dict[str, dict[str, Any]] = {}
    for row in rows:
        _add(total, row)
        _add(by_tenant.setdefault(row["tenant"], _empty()), row)
        dep = by_dep.setdefault(row["deployment"], {**_empty(), "tier": row["tier"]})
        _add(dep, row)
    if settings is not None:
        for dep_id, agg in by_dep.items():
            d = settings.deployment(dep_id)
            agg["tier"] = d.tier if d else agg["tier"]
    report: dict[str, Any] = {
        "currency": "EUR", "tenant": tenant, "since": _iso(start), "until": _iso(end),
        **_finish(total),
        "by_tenant": {k: _finish(v) for k, v in sorted(by_tenant.items())},
        "by_deployment": {k: _finish(v) for k, v in sorted(by_dep.items())},
        "projection": None,
    }
    if project_monthly_requests is not None:
        report["projection"] = _projection(total, project_monthly_requests)
    return report


def _projection(total: dict[str, Any], monthly: int) -> dict[str, Any]:
    n = total["requests"]
    if not n:
        return {"monthly_requests": monthly, "total_cost_eur": None, "counterfactual_cost_eur": None,
                "savings_eur": None, "basis_requests": 0}
    cost = _ratio(total["total_cost_eur"] * monthly, n)
    cf = _ratio(total["counterfactual_cost_eur"] * monthly, n)
    return {"monthly_requests": monthly, "total_cost_eur": cost, "counterfactual_cost_eur": cf,
            "savings_eur": _RATIO.subtract(cf, cost).normalize(_RATIO), "basis_requests": n}


def _encode(value: Any) -> str:
    if isinstance(value, Decimal):
        return decimal_str(value)
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{_encode(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_encode(v) for v in value) + "]"
    return json.dumps(value)


def report_json(report: dict[str, Any]) -> str:
    """One JSON object; Decimals become JSON numbers written digit for digit (no float)."""
    return _encode(report)


_CSV_FIELDS = ["section", "name", "tier", *_SUMS, "savings_eur", "savings_percent", "cost_per_1k_requests_eur"]


def report_csv(report: dict[str, Any]) -> str:
    """Rows: the total, one per tenant, one per deployment, and the projection if asked for."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=_CSV_FIELDS, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    rows = [("total", "all", report)]
    rows += [("tenant", k, v) for k, v in report["by_tenant"].items()]
    rows += [("deployment", k, v) for k, v in report["by_deployment"].items()]
    for section, name, agg in rows:
        w.writerow({k: _cell(v) for k, v in {**agg, "section": section, "name": name}.items()})
    p = report.get("projection")
    if p:
        w.writerow({"section": "projection", "name": f"{p['monthly_requests']} requests/month",
                    "requests": p["monthly_requests"], "total_cost_eur": _cell(p["total_cost_eur"]),
                    "counterfactual_cost_eur": _cell(p["counterfactual_cost_eur"]),
                    "savings_eur": _cell(p["savings_eur"])})
    return buf.getvalue()


def _cell(v: Any) -> Any:
    if isinstance(v, Decimal):
        return decimal_str(v)
    return "" if v is None else v
