"""One "replica" for the two-process tests: hammers a shared budget (Redis or SQLite counters), writes the ledger."""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

from aiguillage.accounting import Accounting, cost_of, counterfactual_cost, decimal_str
from aiguillage.config import Budget, Settings, TenantPolicy
from aiguillage.errors import BudgetExceeded
from aiguillage.store.db import Database
from aiguillage.store.writer import GroupCommitWriter
from tests.accounting.conftest import CATALOG


async def _hammer(acc: Accounting, writer: GroupCommitWriter, tenant: str, policy: TenantPolicy, seed: int,
                  charged: list[str]) -> None:
    rnd = random.Random(seed)
    while True:
        try:
            adm = await acc.admit(tenant, "key-1", policy, 1000, 1000, CATALOG)
        except BudgetExceeded:
            return
        dep = rnd.choice(adm.filter(CATALOG))
        completion = rnd.randint(0, 1000)
        await asyncio.sleep(rnd.random() * 0.002)  # the upstream call
        cost = cost_of(dep, 1000, completion)
        cf, cf_dep = counterfactual_cost(CATALOG, 1000, completion)
        record = {"decision_id": uuid.uuid4().hex, "tenant": tenant, "key_id": "key-1", "status": 200,
                  "received_at": __import__("time").time(), "chosen": {"id": dep.id, "tier": dep.tier},
                  "usage": {"prompt_tokens": 1000, "completion_tokens": completion},
                  "cost_eur": decimal_str(cost), "counterfactual_cost_eur": decimal_str(cf),
                  "counterfactual_deployment": cf_dep}
        await writer.submit(record)
        await acc.settle(adm, cost, 1000 + completion)
        charged.append(decimal_str(cost))


async def _main(args: dict[str, Any], barrier: Any) -> list[str]:
    settings = Settings(models=CATALOG)
    db = Database(args["db_url"])
    acc = Accounting(settings, db, args["redis_url"], key_prefix=args["prefix"],
                     counters_file=args.get("counters_file"))
    writer = GroupCommitWriter(db, [acc.sink()])
    writer.start()
    policy = TenantPolicy(budgets=[Budget(amount_eur=Decimal(args["amount"]), mode="hard")])
    charged: list[str] = []
    if barrier is not None:  # start together: process start-up time varies a lot on a busy machine
        await asyncio.to_thread(barrier.wait, 60)
    try:
        await asyncio.gather(*(_hammer(acc, writer, args["tenant"], policy, args["seed"] * 100 + i, charged)
                               for i in range(args["tasks"])))
    finally:
        writer.close()
        await acc.close()
        db.dispose()
    return charged


def run_replica(args: dict[str, Any], barrier: Any = None) -> None:
    charged = asyncio.run(_main(args, barrier))
    Path(args["out"]).write_text(json.dumps(charged))
