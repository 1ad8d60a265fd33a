"""Budgets, rate limits and the ledger across two gateway replicas on one Redis and one PostgreSQL.

Two ``aiguillage serve`` processes (one worker each) share a fresh PostgreSQL database and the
local Redis; an aiohttp load generator spreads requests over both. Four measurements:

1. rate limit: one key limited to ``--rpm`` requests/min, hammered at concurrency 16 for
   ``--seconds``; the admitted rate is counted from 1 s after the first refusal (the burst that a
   per-minute window admits at first is not the steady rate) and compared with the limit;
2. budget: one tenant with a hard budget, concurrency 32, until every request is refused; the
   overspend (ledger total minus budget) is compared with one request's cost;
3. ledger: the sum of the ``x-aiguillage-cost-eur`` headers of every answer equals the ledger's
   SUM(cost_eur) exactly;
4. enforcement cost: p50 at concurrency 1 for a tenant with a budget and rate limits vs one
   without, interleaved.

    .venv/bin/python bench/accounting_replicas.py [--seconds 30] [--rpm 600]
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import aiohttp
import psycopg
import yaml

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from gateway_common import PYTHON, Proc, free_port, http, wait_until  # noqa: E402
from gateway_vs_litellm import start_upstream  # noqa: E402

ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
REDIS = "redis://127.0.0.1:6379/0"
BODY = {"messages": [{"role": "user", "content": "Say hello in French."}], "max_tokens": 9}
PRICE = {"input": "1000", "output": "2000"}  # the fake reports 12 + 9 tokens: 0.030 EUR per answer
COST = (Decimal(PRICE["input"]) * 12 + Decimal(PRICE["output"]) * 9) / Decimal(1_000_000)


async def post(session: aiohttp.ClientSession, url: str, key: str) -> tuple[int, float, str | None]:
    t = time.perf_counter()
    async with session.post(url + "/v1/chat/completions", json=BODY, headers={"authorization": f"Bearer {key}"}) as r:
        await r.read()
        return r.status, time.perf_counter() - t, r.headers.get("x-aiguillage-cost-eur")


async def hammer(urls: list[str], key: str, concurrency: int, seconds: float | None, stop_when_refused: bool
                 ) -> list[tuple[float, int, str | None]]:
    """(time, status, cost header) per request, spread round-robin over the replicas."""
    out: list[tuple[float, int, str | None]] = []
    end = time.monotonic() + (seconds or 3600)
    refused_streak = 0
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as s:
        async def worker(i: int) -> None:
            nonlocal refused_streak
            n = i
            while time.monotonic() < end and not (stop_when_refused and refused_streak > 4 * concurrency):
                status, _, cost = await post(s, urls[n % len(urls)], key)
                out.append((time.monotonic(), status, cost))
                refused_streak = refused_streak + 1 if status == 429 else 0
                n += 1

        await asyncio.gather(*(worker(i) for i in range(concurrency)))
    return out


async def p50_at_c1(urls: list[str], keys: dict[str, str], n: int) -> dict[str, float]:
    lat: dict[str, list[float]] = {k: [] for k in keys}
    async with aiohttp.ClientSession() as s:
        for i in range(n):
            for name, key in keys.items():
                status, dt, _ = await post(s, urls[i % len(urls)], key)
                assert status == 200, status
                lat[name].append(dt * 1000)
    return {name: statistics.median(v) for name, v in lat.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--rpm", type=int, default=600)
    ap.add_argument("--budget", default="3")
    ap.add_argument("--latency-requests", type=int, default=1500)
    args = ap.parse_args()
    from aiguillage.keys import KeyStore
    from aiguillage.store.db import Database

    db_name = f"aig_bench_{secrets.token_hex(4)}"
    tag = secrets.token_hex(3)  # fresh tenant names: fresh counters in the shared Redis
    with psycopg.connect(ADMIN, autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{db_name}"')
    db_url = f"postgresql://postgres@127.0.0.1:5432/{db_name}"
    work = Path(tempfile.mkdtemp(prefix="aiguillage-acct-bench-"))
    upstream, up_url = start_upstream(work)
    procs: list[Proc] = []
    try:
        cfg = {"database_url": db_url, "redis_url": REDIS, "models": [{
            "id": "bench-model", "provider": "openai", "base_url": up_url + "/v1", "model": "bench-upstream",
            "tier": "small", "jurisdiction": "eu", "price_eur_per_mtok": PRICE}],
            "tenants": {f"rl-{tag}": {"rate_limit": {"requests_per_minute": args.rpm}},
                        f"budget-{tag}": {"budgets": [{"amount_eur": args.budget, "mode": "hard"}]},
                        f"limited-{tag}": {"budgets": [{"amount_eur": "1000000", "mode": "hard"}],
                                           "rate_limit": {"requests_per_minute": 1_000_000,
                                                          "tokens_per_minute": 100_000_000}}}}
        (work / "cfg.yaml").write_text(yaml.safe_dump(cfg))
        db = Database(db_url)
        db.migrate()
        ks = KeyStore(db)
        keys = {t: ks.create(f"{t}-{tag}")[0] for t in ("rl", "budget", "limited", "free")}
        env = {"AIGUILLAGE_HOME": str(work / "home"), "AIGUILLAGE_AUDIT_KEY_DIR": str(work / "audit-keys")}
        urls = []
        for i in range(2):
            port = free_port()
            p = Proc(f"replica-{i}", [PYTHON, "-m", "aiguillage", "serve", "--host", "127.0.0.1", "--port", str(port),
                                      "--workers", "1", "--config", str(work / "cfg.yaml")],
                     env=env, log=work / f"replica-{i}.log")
            procs.append(p)
            url = f"http://127.0.0.1:{port}"
            wait_until(p, lambda u=url: http("GET", u + "/healthz", timeout=1)[0] == 200, 120, "/healthz")
            urls.append(url)

        rl = asyncio.run(hammer(urls, keys["rl"], 16, args.seconds, False))
        first_refusal = min(t for t, s, _ in rl if s == 429)
        end = max(t for t, _, _ in rl)
        admitted = sum(1 for t, s, _ in rl if s == 200 and t >= first_refusal + 1)
        rate = admitted / (end - first_refusal - 1) * 60
        print(f"rate limit: {args.rpm}/min configured, {rate:.1f}/min admitted in steady state "
              f"({(rate / args.rpm - 1) * 100:+.2f}%), {len(rl)} requests over {args.seconds:.0f} s")

        bud = asyncio.run(hammer(urls, keys["budget"], 32, None, True))
        with psycopg.connect(db_url) as c:
            spent = c.execute("SELECT COALESCE(SUM(cost_eur), 0) FROM usage_ledger WHERE tenant = %s",
                              (f"budget-{tag}",)).fetchone()[0]
            total = c.execute("SELECT COALESCE(SUM(cost_eur), 0), count(*) FROM usage_ledger WHERE status = 200"
                              ).fetchone()
        over = Decimal(spent) - Decimal(args.budget)
        print(f"budget: {args.budget} EUR hard, spent {spent} EUR over {sum(1 for _, s, _ in bud if s == 200)} answers; "
              f"overspend {over} EUR vs one request {COST} EUR -> {'met' if over <= COST else 'MISSED'}")
        headers_sum = sum((Decimal(c) for _, s, c in rl + bud if s == 200 and c), Decimal(0))
        print(f"ledger: SUM(cost_eur) of 200s = {total[0]} over {total[1]} rows; sum of cost headers = {headers_sum} "
              f"-> {'equal' if Decimal(total[0]) == headers_sum else 'DIFFERENT'}")

        p50 = asyncio.run(p50_at_c1(urls, {"free": keys["free"], "limited": keys["limited"]}, args.latency_requests))
        print(f"enforcement: p50 at c=1 without limits {p50['free']:.3f} ms, with budget + rate limits "
              f"{p50['limited']:.3f} ms -> added {p50['limited'] - p50['free']:+.3f} ms")
    finally:
        for p in procs:
            p.stop()
        upstream.stop()
        with psycopg.connect(ADMIN, autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
