"""Two processes share one budget: never overspent by more than one request's cost.

Redis counters + PostgreSQL ledger (replicas), and SQLite counters + SQLite ledger (the
workers of the embedded default).
"""

from __future__ import annotations

import json
import multiprocessing
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import redis
import sqlalchemy as sa

from aiguillage.accounting.cost import to_nano
from aiguillage.accounting.ledger import exact_sum, ledger, prepare_exact_sum
from aiguillage.accounting.periods import period_of
from aiguillage.accounting.sqlite_backend import counters_file_for
from aiguillage.config import Budget
from aiguillage.store.db import Database
from tests.accounting.conftest import LARGE, cost
from tests.accounting.replica import run_replica

AMOUNT = Decimal("0.5")


def _run_two(tmp_path: Path, **common: Any) -> list[Decimal]:
    # fork: the processes start in milliseconds (spawn re-imports everything, seconds on a busy machine);
    # each builds its own engine, Redis client and writer, as a replica would.
    ctx = multiprocessing.get_context("fork")
    procs = []
    barrier = ctx.Barrier(2)
    for i in range(2):
        args = {**common, "amount": str(AMOUNT), "tasks": 16, "seed": i, "out": str(tmp_path / f"r{i}.json")}
        procs.append(ctx.Process(target=run_replica, args=(args, barrier)))
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    per_replica = [[Decimal(c) for c in json.loads((tmp_path / f"r{i}.json").read_text())] for i in range(2)]
    assert all(len(r) > 10 for r in per_replica), "both replicas must have served requests"
    charged = [c for r in per_replica for c in r]
    spent = sum(charged, Decimal(0))
    # Never overspent by more than one request's cost (the dearest possible request here).
    assert AMOUNT - cost(LARGE, 1000, 1000) <= spent
    assert spent - AMOUNT < cost(LARGE, 1000, 1000)
    return charged


def _ledger_total(db: Database, tenant: str) -> tuple[int, Decimal]:
    with db.engine.connect() as conn:
        prepare_exact_sum(conn)
        n, total = conn.execute(sa.select(sa.func.count(), exact_sum(conn, ledger.c.cost_eur))
                                .where(ledger.c.tenant == tenant)).one()
    return n, Decimal(str(total))


def test_two_replicas_on_redis_and_postgresql(pg_db: Database, redis_url: str, redis_prefix: str,
                                              tmp_path: Path) -> None:
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    charged = _run_two(tmp_path, db_url=pg_db.url, redis_url=redis_url, prefix=redis_prefix, tenant=tenant)
    # The ledger (PostgreSQL) holds exactly what the replicas charged, to the last digit.
    assert _ledger_total(pg_db, tenant) == (len(charged), sum(charged, Decimal(0)))
    # And the shared Redis counter agrees, with nothing left reserved.
    key = f"{redis_prefix}{{{tenant}}}:b:t:{period_of(Budget(amount_eur=AMOUNT), time.time()).tag}"
    client = redis.Redis.from_url(redis_url)
    state = client.hgetall(key)
    client.close()
    assert int(state[b"r"]) == 0
    assert int(state[b"s"]) == sum(to_nano(c) for c in charged)


def test_two_workers_on_sqlite(sqlite_db: Database, tmp_path: Path) -> None:
    tenant = f"t-{uuid.uuid4().hex[:8]}"
    charged = _run_two(tmp_path, db_url=sqlite_db.url, redis_url=None, prefix="w:", tenant=tenant)
    assert _ledger_total(sqlite_db, tenant) == (len(charged), sum(charged, Decimal(0)))
    counters = counters_file_for(sqlite_db.url)
    assert counters is not None and counters.exists()  # the workers shared the SQLite counters
