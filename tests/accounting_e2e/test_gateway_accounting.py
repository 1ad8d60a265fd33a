"""Budgets, rate limits, the ledger and the savings report through the real gateway."""

from __future__ import annotations

import json
import socket
import sqlite3
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from tests.fakes.openai_upstream import FakeOpenAI
from tests.support import GatewayProcess, catalog, openai_deployment

# The fakes report 11 prompt + 7 completion tokens for every answer.
SMALL = (Decimal("1000") * 11 + Decimal("2000") * 7) / Decimal(1_000_000)  # 0.025 EUR
LARGE = (Decimal("5000") * 11 + Decimal("10000") * 7) / Decimal(1_000_000)  # 0.125 EUR


class Env:
    def __init__(self, tmp: Path) -> None:
        self.small = FakeOpenAI("small").start()
        self.large = FakeOpenAI("large", answer="Large answer here, long enough to stream in many pieces.").start()
        cfg = catalog(
            openai_deployment("s", self.small.url, "small", "eu", ("1000", "2000")),
            openai_deployment("l", self.large.url, "large", "eu", ("5000", "10000")),
            tenants={
                "limited": {"rate_limit": {"requests_per_minute": 3}},
                "hard": {"budgets": [{"amount_eur": "0.06", "mode": "hard"}]},
                "soft": {"budgets": [{"amount_eur": "0.03", "mode": "soft"}]},
                "down": {"budgets": [{"amount_eur": "0.5", "mode": "downgrade", "downgrade_below": 0.8}]},
            },
        )
        self.gw = GatewayProcess(tmp, cfg, workers=2).start()
        self.keys = {t: self.gw.key(t) for t in ("limited", "hard", "soft", "down", "free", "other")}

    def post(self, tenant: str, **body: object) -> httpx.Response:
        payload = {"messages": [{"role": "user", "content": "x"}], **body}
        return httpx.post(self.gw.url + "/v1/chat/completions", json=payload,
                          headers={"authorization": f"Bearer {self.keys[tenant]}"}, timeout=30)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    e = Env(tmp_path_factory.mktemp("acct"))
    yield e
    e.gw.stop()
    e.small.stop()
    e.large.stop()


def test_rate_limit_headers_and_429(env: Env) -> None:
    r = env.post("limited")
    assert r.status_code == 200
    assert r.headers["x-ratelimit-limit-requests"] == "3"
    assert r.headers["x-ratelimit-remaining-requests"] == "2"
    assert "x-ratelimit-reset-requests" in r.headers
    assert [env.post("limited").status_code for _ in range(2)] == [200, 200]
    r = env.post("limited")
    assert r.status_code == 429
    assert r.json()["error"]["code"] == "rate_limit_exceeded"
    assert float(r.headers["retry-after"]) > 0
    assert env.post("free").status_code == 200  # other tenants are unaffected


def test_hard_budget_refuses_once_spent_and_never_overspends_by_more_than_one_request(env: Env) -> None:
    statuses = [env.post("hard", model="s").status_code for _ in range(5)]
    assert statuses[:2] == [200, 200] and statuses[-1] == 429
    r = env.post("hard", model="s")
    assert r.status_code == 429 and r.json()["error"]["code"] == "budget_exceeded"
    spent = Decimal(0)
    db = sqlite3.connect(env.gw.home / "aiguillage.db")
    for (cost,) in db.execute("SELECT cost_eur FROM usage_ledger WHERE tenant = 'hard'"):
        spent += Decimal(cost)
    assert spent <= Decimal("0.06") + SMALL


def test_soft_budget_warns_but_serves(env: Env) -> None:
    first = env.post("soft", model="s")
    assert first.status_code == 200 and "x-aiguillage-budget-warning" not in first.headers
    later = [env.post("soft", model="s") for _ in range(3)]
    assert all(r.status_code == 200 for r in later)
    assert "x-aiguillage-budget-warning" in later[-1].headers


def test_downgrade_budget_keeps_only_cheaper_tiers_when_low(env: Env) -> None:
    env.small.default = "500"
    try:
        # Budget intact: the small deployment fails, the large one is a permitted fallback (0.125 EUR).
        first = env.post("down", model="auto")
        assert first.status_code == 200 and first.headers["x-aiguillage-model"] == "l"
        # Now less than 80 % of 0.5 EUR is left: the large tier is no longer eligible, not even as a fallback.
        large_calls = len(env.large.requests)
        second = env.post("down", model="auto")
        assert second.status_code == 502
        assert len(env.large.requests) == large_calls
        record = httpx.get(env.gw.url + f"/v1/decisions/{second.headers['x-aiguillage-decision']}",
                           headers={"authorization": f"Bearer {env.keys['down']}"}).json()
        excluded = {c["id"]: c["excluded_by"] for c in record["candidates"]}
        assert excluded["l"].startswith("budget:") and excluded["s"] is None
    finally:
        env.small.default = "ok"
    assert env.post("down", model="auto").headers["x-aiguillage-model"] == "s"


def test_disconnect_mid_stream_is_still_charged(env: Env) -> None:
    env.large.chunk_delay_s = 0.05
    body = json.dumps({"model": "l", "stream": True, "messages": [{"role": "user", "content": "x"}]})
    with socket.create_connection(("127.0.0.1", env.gw.port), timeout=10) as s:
        s.sendall((f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                   f"Authorization: Bearer {env.keys['other']}\r\nContent-Length: {len(body)}\r\n\r\n{body}").encode())
        head = s.recv(4096).decode()
        assert head.startswith("HTTP/1.1 200")
        decision = next(line.split(": ")[1] for line in head.split("\r\n") if line.startswith("x-aiguillage-decision"))
    # The client is gone; the gateway keeps reading the upstream to its final usage and charges it.
    db = sqlite3.connect(env.gw.home / "aiguillage.db")
    row = None
    for _ in range(100):
        row = db.execute("SELECT prompt_tokens, completion_tokens, cost_eur FROM usage_ledger WHERE decision_id = ?",
                         (decision,)).fetchone()
        if row:
            break
        time.sleep(0.1)
    env.large.chunk_delay_s = 0.0
    assert row is not None
    assert (row[0], row[1]) == (11, 7) and Decimal(row[2]) == LARGE


def test_usage_endpoint_is_tenant_scoped_and_report_matches_the_ledger(env: Env) -> None:
    before = httpx.get(env.gw.url + "/v1/usage", headers={"authorization": f"Bearer {env.keys['free']}"}).json()
    env.post("free", model="s")
    env.post("free", model="l")
    after = httpx.get(env.gw.url + "/v1/usage", headers={"authorization": f"Bearer {env.keys['free']}"}).json()
    assert after["requests"] == before["requests"] + 2
    assert Decimal(str(after["total_cost_eur"])) - Decimal(str(before["total_cost_eur"])) == SMALL + LARGE
    assert set(after["by_tenant"]) == {"free"}
    out = env.gw.cli("cost", "report", "--format", "json")
    report = json.loads(out.stdout)
    assert {"requests", "total_cost_eur", "counterfactual_cost_eur", "savings_eur", "by_tenant", "by_deployment"} <= set(report)
    db = sqlite3.connect(env.gw.home / "aiguillage.db")
    total = sum((Decimal(c) for (c,) in db.execute("SELECT cost_eur FROM usage_ledger")), Decimal(0))
    assert Decimal(str(report["total_cost_eur"])) == total
    assert Decimal(str(report["savings_eur"])) == Decimal(str(report["counterfactual_cost_eur"])) - total
