"""The savings report against a hand-computed fixture, on SQLite and PostgreSQL, library and CLI."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from aiguillage.accounting import Accounting, LedgerSink, build_report, report_json
from aiguillage.cli.cost import app
from aiguillage.errors import InvalidRequest
from aiguillage.store.db import Database
from tests.accounting import fixture_ledger as fx

NOV_1 = datetime(2026, 11, 1, tzinfo=UTC)


def load(db: Database) -> None:
    with db.engine.begin() as conn:
        LedgerSink().write(conn, fx.RECORDS)


def subset(d: dict[str, Any], keys: dict[str, Any]) -> dict[str, Any]:
    return {k: d[k] for k in keys}


@pytest.fixture(params=["sqlite_db", "pg_db"])
def db(request: pytest.FixtureRequest) -> Database:
    database: Database = request.getfixturevalue(request.param)
    load(database)
    return database


def test_report_matches_the_hand_computed_fixture(db: Database) -> None:
    everything = build_report(db)
    assert subset(everything, fx.ALL) == fx.ALL
    nov = build_report(db, since=NOV_1, project_monthly_requests=70000)
    assert subset(nov, fx.NOV) == fx.NOV
    for k, expected in fx.NOV_BY_TENANT.items():
        assert subset(nov["by_tenant"][k], expected) == expected
    assert list(nov["by_deployment"]) == list(fx.NOV_BY_DEPLOYMENT)
    for k, expected in fx.NOV_BY_DEPLOYMENT.items():
        assert subset(nov["by_deployment"][k], expected) == expected
    assert nov["by_deployment"]["eu-medium"]["tier"] == "medium"
    assert nov["cost_per_1k_requests_eur"] == fx.NOV_COST_PER_1K
    assert subset(nov["projection"], fx.NOV_PROJECTION) == fx.NOV_PROJECTION
    assert nov["since"] == "2026-11-01T00:00:00Z" and nov["until"] is None
    beta = build_report(db, tenant="beta")
    assert subset(beta, fx.BETA) == fx.BETA and list(beta["by_tenant"]) == ["beta"]
    # until is exclusive: records 8 (22 Nov) and 9 (October) fall outside [1 Nov, 10 Nov).
    early = build_report(db, since=NOV_1, until=datetime(2026, 11, 10, tzinfo=UTC).timestamp())
    assert early["requests"] == 6 and early["total_cost_eur"] == Decimal("0.01239")


def test_json_numbers_are_exact(db: Database) -> None:
    text = report_json(build_report(db, since=NOV_1, project_monthly_requests=70000))
    data = json.loads(text, parse_float=Decimal)
    assert data["total_cost_eur"] == Decimal("0.01259") and isinstance(data["total_cost_eur"], Decimal)
    assert data["cost_per_1k_requests_eur"] == fx.NOV_COST_PER_1K
    assert data["by_tenant"]["acme"]["savings_eur"] == Decimal("0.01441")
    assert json.loads(text)["requests"] == 7  # plain json readers see numbers too


def test_sink_skips_uncharged_failures_and_keeps_exact_text(db: Database) -> None:
    report = build_report(db)
    assert report["requests"] == len(fx.RECORDS) - 1  # record 5 (500, no usage) has no row
    tiny = fx.record(100, "gamma", "eu-small", "small", 1, 0, "0.00000015", "0.000002")
    with db.engine.begin() as conn:
        LedgerSink().write(conn, [tiny, tiny | {"decision_id": "dec0101"}])
    gamma = build_report(db, tenant="gamma")
    assert gamma["total_cost_eur"] == Decimal("0.0000003")


def test_sink_recomputes_a_missing_cost_from_the_catalog(sqlite_db: Database, settings: Any) -> None:
    rec = fx.record(200, "delta", "eu-large", "large", 1000, 1000, None, None)
    with sqlite_db.engine.begin() as conn:
        LedgerSink(settings).write(conn, [rec])
    report = build_report(sqlite_db, tenant="delta")
    assert report["total_cost_eur"] == Decimal("0.008") and report["counterfactual_cost_eur"] == Decimal("0.008")


def _cli(*args: str) -> Any:
    result = CliRunner().invoke(app, ["report", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_cli_with_config_on_postgresql(pg_db: Database, tmp_path: Path) -> None:
    load(pg_db)
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({
        "database_url": pg_db.url,
        "models": [{"id": "eu-small", "provider": "openai", "tier": "small"},
                   {"id": "eu-large", "provider": "openai", "tier": "large"}],
    }))
    out = _cli("--config", str(config), "--since", "2026-11-01", "--project-monthly-requests", "70000",
               "--format", "json")
    data = json.loads(out, parse_float=Decimal)
    assert subset(data, fx.NOV) == fx.NOV
    assert {k: subset(v, fx.NOV_BY_TENANT[k]) for k, v in data["by_tenant"].items()} == fx.NOV_BY_TENANT
    assert data["projection"]["total_cost_eur"] == Decimal("125.9")
    rows = list(csv.DictReader(io.StringIO(_cli("--config", str(config), "--tenant", "beta", "--format", "csv"))))
    total = rows[0]
    assert (total["section"], total["requests"], total["total_cost_eur"]) == ("total", "3", "0.00384")
    assert {r["name"] for r in rows if r["section"] == "deployment"} == {"eu-medium", "eu-small"}


def test_cli_default_store_under_aiguillage_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIGUILLAGE_HOME", str(tmp_path))
    db = Database.for_settings(None)
    db.migrate()
    load(db)
    db.dispose()
    table = _cli("--since", "2026-11-01", "--project-monthly-requests", "70000")
    assert "eu-medium" in table and "acme" in table
    assert "0.01" in table and "125.90" in table and "452.00" in table  # rounded to cents for people
    bad = CliRunner().invoke(app, ["report", "--since", "last tuesday"])
    assert bad.exit_code == 2 and "YYYY-MM-DD" in bad.output


def test_usage_for_tenant_is_exact_json_scoped_to_the_tenant(db: Database, settings: Any) -> None:
    acc = Accounting(settings, db, None, counters_file=False)
    body = acc.usage_for_tenant("beta", since="2026-11-01")
    data = json.loads(body, parse_float=Decimal)
    assert list(data["by_tenant"]) == ["beta"] and data["tenant"] == "beta"
    assert data["requests"] == 2 and data["total_cost_eur"] == Decimal("0.0038")
    assert json.loads(acc.usage_for_tenant("beta", until=str(fx.ts(1))), parse_float=Decimal)["requests"] == 1
    with pytest.raises(InvalidRequest) as info:
        acc.usage_for_tenant("beta", until="soon")
    assert info.value.param == "until" and "YYYY-MM-DD" in info.value.message
