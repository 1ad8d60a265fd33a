"""Two gateway replicas on one PostgreSQL and one Redis: one verifiable audit log, one ledger,
budgets and rate limits enforced across both."""

from __future__ import annotations

import secrets
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.fakes.openai_upstream import FakeOpenAI
from tests.support import GatewayProcess, catalog, openai_deployment

pytestmark = [pytest.mark.postgres, pytest.mark.redis]
COST = (Decimal("1000") * 11 + Decimal("2000") * 7) / Decimal(1_000_000)  # 0.025 EUR per answer
BUDGET = Decimal("0.2")


@pytest.fixture
def pg_database(pg_url: str) -> Iterator[str]:
    name = f"aig_replicas_{secrets.token_hex(5)}"
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/test", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/test", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_two_replicas_share_log_ledger_and_budget(tmp_path: Path, pg_database: str, redis_url: str) -> None:
    fake = FakeOpenAI("eu").start()
    fake.latency_s = 0.02
    tenant = f"team-{secrets.token_hex(4)}"  # fresh counters in the shared Redis
    cfg = catalog(openai_deployment("eu-small", fake.url, "small", "eu", ("1000", "2000")),
                  database_url=pg_database, redis_url=redis_url,
                  tenants={tenant: {"budgets": [{"amount_eur": str(BUDGET), "mode": "hard"}]},
                           f"{tenant}-rl": {"rate_limit": {"requests_per_minute": 10}}})
    shared = {"AIGUILLAGE_AUDIT_KEY_DIR": str(tmp_path / "audit-keys")}
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = GatewayProcess(tmp_path / "a", cfg, workers=1, env=shared).start()
    b = GatewayProcess(tmp_path / "b", cfg, workers=1, env=shared).start()
    try:
        key, rl_key = a.key(tenant), b.key(f"{tenant}-rl")  # keys live in PostgreSQL: both replicas know them

        def call(i: int, k: str) -> int:
            url = (a if i % 2 else b).url
            r = httpx.post(url + "/v1/chat/completions", headers={"authorization": f"Bearer {k}"},
                           json={"messages": [{"role": "user", "content": "x"}], "max_tokens": 7}, timeout=30)
            return r.status_code

        with ThreadPoolExecutor(16) as pool:
            budget_statuses = list(pool.map(lambda i: call(i, key), range(40)))
            rl_statuses = list(pool.map(lambda i: call(i, rl_key), range(20)))
        assert set(budget_statuses) == {200, 429}
        assert rl_statuses.count(200) == 10 and rl_statuses.count(429) == 10
        with psycopg.connect(pg_database) as conn:
            costs = [Decimal(c) for (c,) in conn.execute(
                "SELECT cost_eur FROM usage_ledger WHERE tenant = %s AND status = 200", (tenant,))]
            events = conn.execute("SELECT count(*) FROM audit_entries").fetchone()[0]
        assert len(costs) == budget_statuses.count(200)
        spent = sum(costs, Decimal(0))
        assert spent <= BUDGET + COST, f"overspent: {spent} > {BUDGET} + {COST}"
        assert spent >= BUDGET - COST  # and the budget was actually used up
        assert events >= 60  # one event per request, both replicas, one sequence
    finally:
        a.stop()
        b.stop()
        fake.stop()
    out = subprocess.run([sys.executable, "-m", "aiguillage", "audit", "verify", "--config", str(a.config_path)],
                         env=a.env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
