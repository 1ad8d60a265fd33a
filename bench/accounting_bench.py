"""Accounting bench: two processes hammering one Redis budget / rate limiter (+ PostgreSQL ledger).

    .venv/bin/python bench/accounting_bench.py [budget|ratelimit|latency|all] [--trials N] [--seconds S]

budget     two processes x 32 tasks spend one hard budget; reports overspend versus the
           crossing request's cost, and ledger total (PostgreSQL) versus the sum of per-request costs.
ratelimit  two processes x 8 tasks hammer one key limited to R requests/min (and one tokens/min
           limit); reports the steady-state admitted rate versus the configured rate.
latency    admit+settle per-call latency (p50/p99): no limits, in-process counters, Redis.
Needs Redis on 127.0.0.1:6379 and PostgreSQL on 127.0.0.1:5432 (database ``test``).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import random
import statistics
import time
import uuid
from decimal import Decimal
from typing import Any

import redis
import sqlalchemy as sa

from aiguillage.accounting import Accounting, cost_of, counterfactual_cost, decimal_str
from aiguillage.accounting.ledger import ledger
from aiguillage.config import Budget, Deployment, RateLimit, Settings, TenantPolicy
from aiguillage.errors import BudgetExceeded, RateLimited
from aiguillage.store.db import Database
from aiguillage.store.writer import GroupCommitWriter

REDIS = "redis://127.0.0.1:6379/0"
PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
CATALOG = [
    Deployment(id="eu-small", provider="openai", tier="small", price_eur_per_mtok={"input": "0.1", "output": "0.3"}),
    Deployment(id="eu-medium", provider="openai", tier="medium", price_eur_per_mtok={"input": "0.4", "output": "1.2"}),
    Deployment(id="eu-large", provider="openai", tier="large", price_eur_per_mtok={"input": "2", "output": "6"}),
]
SETTINGS = Settings(models=CATALOG)


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100 * len(xs)))]


# ---------------------------------------------------------------- budget
async def _spend(args: dict[str, Any], barrier: Any) -> dict[str, Any]:
    db = Database(args["db_url"])
    acc = Accounting(SETTINGS, db, REDIS, key_prefix=args["prefix"])
    writer = GroupCommitWriter(db, [acc.sink()])
    writer.start()
    policy = TenantPolicy(budgets=[Budget(amount_eur=Decimal(args["amount"]), mode="hard")])
    charged: list[tuple[float, str]] = []
    lat: list[float] = []
    await asyncio.to_thread(barrier.wait, 120)  # both processes start spending together

    async def task(seed: int) -> None:
        rnd = random.Random(seed)
        while True:
            t0 = time.perf_counter()
            try:
                adm = await acc.admit(args["tenant"], "k1", policy, 1000, 1000, CATALOG)
            except BudgetExceeded:
                return
            lat.append(time.perf_counter() - t0)
            dep = rnd.choice(CATALOG)
            completion = rnd.randint(0, 1000)
            await asyncio.sleep(rnd.random() * 0.002)
            cost = cost_of(dep, 1000, completion)
            cf, cf_dep = counterfactual_cost(CATALOG, 1000, completion)
            await writer.submit({
                "decision_id": uuid.uuid4().hex, "tenant": args["tenant"], "key_id": "k1", "status": 200,
                "received_at": time.time(), "chosen": {"id": dep.id, "tier": dep.tier},
                "usage": {"prompt_tokens": 1000, "completion_tokens": completion},
                "cost_eur": decimal_str(cost), "counterfactual_cost_eur": decimal_str(cf),
                "counterfactual_deployment": cf_dep})
            await acc.settle(adm, cost, 1000 + completion)
            charged.append((time.time(), decimal_str(cost)))

    try:
        await asyncio.gather(*(task(args["seed"] * 1000 + i) for i in range(args["tasks"])))
    finally:
        writer.close()
        await acc.close()
        db.dispose()
    return {"charged": charged, "lat": lat}


def _spend_proc(args: dict[str, Any], q: Any, barrier: Any) -> None:
    q.put(asyncio.run(_spend(args, barrier)))


def bench_budget(trials: int) -> None:
    # A schema of our own in the shared database, dropped at the end.
    schema = f"acct_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(PG)
    with admin.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    url = f"{PG}?options=-csearch_path%3D{schema}"
    db = Database(url)
    db.migrate()
    print("## budget: 2 processes x 32 tasks, one hard budget of EUR 1 on Redis, ledger on PostgreSQL")
    worst_over = Decimal(0)
    for trial in range(trials):
        tenant, prefix = f"bench-{uuid.uuid4().hex[:8]}", f"bench:{uuid.uuid4().hex}:"
        ctx = mp.get_context("spawn")
        q = ctx.Queue()
        barrier = ctx.Barrier(2)
        procs = [ctx.Process(target=_spend_proc, args=({"db_url": url, "prefix": prefix, "tenant": tenant,
                                                         "amount": "1", "tasks": 32, "seed": i}, q, barrier))
                 for i in range(2)]
        for p in procs:
            p.start()
        results = [q.get(timeout=300) for _ in procs]
        for p in procs:
            p.join()
        charged = sorted((t, Decimal(c)) for r in results for t, c in r["charged"])
        spent = sum((c for _, c in charged), Decimal(0))
        biggest = max(c for _, c in charged)
        with db.engine.connect() as conn:
            n, total = conn.execute(sa.select(sa.func.count(), sa.func.sum(ledger.c.cost_eur))
                                    .where(ledger.c.tenant == tenant)).one()
        lat = [x for r in results for x in r["lat"]]
        over = spent - 1
        worst_over = max(worst_over, over)
        print(f"trial {trial}: requests={len(charged)} (per process {[len(r['charged']) for r in results]}) "
              f"spent={spent} overspend={over} largest single request={biggest} "
              f"overspend<=largest request: {over <= biggest} | ledger rows={n} ledger total={total} "
              f"equal to sum of per-request costs: {total == spent} | admit wall time incl. event-loop queueing "
              f"p50={pct(lat, 50) * 1e3:.3f} ms "
              f"p99={pct(lat, 99) * 1e3:.3f} ms")
        client = redis.Redis.from_url(REDIS)
        for key in client.scan_iter(match=prefix + "*"):
            client.delete(key)
        client.close()
    print(f"worst overspend over {trials} trials: EUR {worst_over} (a single request costs at most EUR 0.008)")
    db.dispose()
    with admin.begin() as conn:
        conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


# ---------------------------------------------------------------- rate limit
async def _hammer_rate(args: dict[str, Any]) -> dict[str, Any]:
    acc = Accounting(SETTINGS, None, REDIS, key_prefix=args["prefix"])
    policy = TenantPolicy(rate_limit=RateLimit(**args["limit"]))
    admitted: list[tuple[float, int]] = []
    refused: list[float] = []
    lat: list[float] = []
    end = time.time() + args["seconds"]
    units = 1 if "requests_per_minute" in args["limit"] else args["prompt"] + args["max_out"]

    async def task() -> None:
        while time.time() < end:
            t0 = time.perf_counter()
            try:
                adm = await acc.admit("bench", "k1", policy, args["prompt"], args["max_out"], CATALOG)
            except RateLimited:
                lat.append(time.perf_counter() - t0)
                refused.append(time.time())
                await asyncio.sleep(0.0005)
                continue
            lat.append(time.perf_counter() - t0)
            admitted.append((time.time(), units))
            await acc.settle(adm, Decimal(0), args["prompt"] + args["max_out"])

    try:
        await asyncio.gather(*(task() for _ in range(8)))
    finally:
        await acc.close()
    return {"admitted": admitted, "refused": refused, "lat": lat}


def _rate_proc(args: dict[str, Any], q: Any) -> None:
    q.put(asyncio.run(_hammer_rate(args)))


def _rate_run(limit: dict[str, int], prompt: int, max_out: int, seconds: float) -> None:
    """The steady window starts 1 s after the first refusal (the initial one-minute burst is spent)."""
    prefix = f"bench:{uuid.uuid4().hex}:"
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    args = {"prefix": prefix, "limit": limit, "prompt": prompt, "max_out": max_out, "seconds": seconds + 4}
    procs = [ctx.Process(target=_rate_proc, args=(args, q)) for _ in range(2)]
    for p in procs:
        p.start()
    results = [q.get(timeout=seconds + 120) for _ in procs]
    for p in procs:
        p.join()
    events = sorted(e for r in results for e in r["admitted"])
    lo = min(t for r in results for t in r["refused"]) + 1
    hi = max(t for t, _ in events) - 0.5
    units = sum(u for t, u in events if lo <= t < hi)
    per_unit = "requests" if "requests_per_minute" in limit else "tokens"
    configured = next(iter(limit.values())) / 60
    measured = units / (hi - lo)
    lat = [x for r in results for x in r["lat"]]
    print(f"{per_unit}/min={next(iter(limit.values()))}: steady window {hi - lo:.1f} s (after the burst): admitted {units} {per_unit} = {measured:.3f}/s vs configured {configured:.3f}/s "
          f"-> error {100 * (measured - configured) / configured:+.2f} % | calls={len(lat)} "
          f"admit p50={pct(lat, 50) * 1e3:.3f} ms p99={pct(lat, 99) * 1e3:.3f} ms | "
          f"per-process admitted {[len(r['admitted']) for r in results]}")
    client = redis.Redis.from_url(REDIS)
    for key in client.scan_iter(match=prefix + "*"):
        client.delete(key)
    client.close()


def bench_ratelimit(seconds: float) -> None:
    print(f"## rate limit: 2 processes x 8 tasks hammering one key on Redis for {seconds:.0f} s")
    _rate_run({"requests_per_minute": 1200}, 10, 10, seconds)
    _rate_run({"tokens_per_minute": 300000}, 400, 600, seconds)


# ---------------------------------------------------------------- latency
async def _latency(acc: Accounting, policy: TenantPolicy, n: int) -> tuple[list[float], list[float]]:
    admit, settle = [], []
    for _ in range(n):
        t0 = time.perf_counter()
        adm = await acc.admit("lat", "k1", policy, 500, 500, CATALOG)
        t1 = time.perf_counter()
        await acc.settle(adm, Decimal("0.0001"), 600)
        admit.append(t1 - t0)
        settle.append(time.perf_counter() - t1)
    return admit, settle


async def _ping(n: int) -> list[float]:
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(REDIS)
    out = []
    try:
        for i in range(n + 200):
            t0 = time.perf_counter()
            await client.ping()
            if i >= 200:
                out.append(time.perf_counter() - t0)
    finally:
        await client.aclose()
    return out


def bench_latency(n: int) -> None:
    print(f"## admit+settle latency, one process, sequential, {n} calls each")
    ping = asyncio.run(_ping(n))
    print(f"baseline redis.asyncio PING round trip: p50={pct(ping, 50) * 1e6:.1f} us p99={pct(ping, 99) * 1e6:.1f} us")
    busy = TenantPolicy(budgets=[Budget(amount_eur=Decimal("1000000"), mode="hard"),
                                 Budget(scope="key", amount_eur=Decimal("1000000"), mode="soft")],
                        rate_limit=RateLimit(requests_per_minute=10**8, tokens_per_minute=10**9))
    import tempfile

    tmp = tempfile.mkdtemp()
    cases: list[tuple[str, str | None, Any, TenantPolicy]] = [
        ("no budgets/limits", None, False, TenantPolicy()), ("in-process counters", None, False, busy),
        ("SQLite counters (one machine)", None, f"{tmp}/counters.db", busy), ("Redis counters", REDIS, None, busy)]
    for name, url, counters_file, policy in cases:
        prefix = f"bench:{uuid.uuid4().hex}:"

        async def run(url: str | None = url, policy: TenantPolicy = policy, prefix: str = prefix,
                      counters_file: Any = counters_file) -> tuple[list[float], list[float]]:
            acc = Accounting(SETTINGS, None, url, key_prefix=prefix, counters_file=counters_file)
            try:
                await _latency(acc, policy, 200)  # warm-up (script load, connection)
                return await _latency(acc, policy, n)
            finally:
                await acc.close()

        admit, settle = asyncio.run(run())
        print(f"{name}: admit p50={pct(admit, 50) * 1e6:.1f} us p99={pct(admit, 99) * 1e6:.1f} us "
              f"mean={statistics.mean(admit) * 1e6:.1f} us | settle p50={pct(settle, 50) * 1e6:.1f} us "
              f"p99={pct(settle, 99) * 1e6:.1f} us")
        client = redis.Redis.from_url(REDIS)
        for key in client.scan_iter(match=prefix + "*"):
            client.delete(key)
        client.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("what", nargs="?", default="all", choices=["budget", "ratelimit", "latency", "all"])
    ap.add_argument("--trials", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--calls", type=int, default=20000)
    a = ap.parse_args()
    if a.what in ("latency", "all"):
        bench_latency(a.calls)
    if a.what in ("budget", "all"):
        bench_budget(a.trials)
    if a.what in ("ratelimit", "all"):
        bench_ratelimit(a.seconds)


if __name__ == "__main__":
    main()
