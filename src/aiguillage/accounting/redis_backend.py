"""Redis counters shared by any number of stateless replicas: one Lua script per operation.

Budget counters are hashes of integer nano-euros (``s`` spent, ``r`` reserved) that expire an
hour after their period ends; amounts are rounded *up* to the nano-euro, so the counters never
under-count (the exact amounts live in the ledger). Lua compares them as doubles, exact up to
2**53 nano-euros (about 9 million EUR per budget period). Rate limits are GCRA buckets keyed by
the time their next request is allowed, on Redis's own clock (``TIME``), so replicas with
skewed clocks still share one rate.
"""

from __future__ import annotations

from decimal import Decimal
from importlib.resources import files
from typing import Any

import redis.asyncio as aioredis

from aiguillage.accounting.cost import ZERO, to_nano
from aiguillage.accounting.plan import MODE_CODES, Counter, Outcome, Plan, nano_args

__all__ = ["RedisBackend"]

_STATUS = {0: "ok", 1: "requests", 2: "tokens", 3: "budget", 4: "seed"}
_GRACE_S = 3600  # a counter outlives its period by this much, so late settlements find it
_NANO = Decimal("1e-9")


def _lua(name: str) -> str:
    return (files("aiguillage.accounting") / "lua" / name).read_text(encoding="utf-8")


def _interval_us(limit: int) -> float:
    return 60_000_000 / limit


class RedisBackend:
    def __init__(self, url: str) -> None:
        self.url = url
        self.client: Any = aioredis.Redis.from_url(url)
        self._admit = self.client.register_script(_lua("admit.lua"))
        self._settle = self.client.register_script(_lua("settle.lua"))
        self._seed = self.client.register_script(_lua("seed.lua"))

    async def admit(self, plan: Plan) -> Outcome:
        full, down = nano_args(plan)
        unused = _unused_key(plan)
        keys = [
            plan.requests.key if plan.requests else unused,
            plan.tokens.key if plan.tokens else unused,
            *(c.key for c in plan.counters),
        ]
        args: list[Any] = [
            len(plan.counters),
            _interval_us(plan.requests.limit) if plan.requests else 0,
            _interval_us(plan.tokens.limit) if plan.tokens else 0,
            plan.tokens.units if plan.tokens else 0,
            full,
            down,
            len(plan.rules),
            *(_expire_at(c) for c in plan.counters),
        ]
        for r in plan.rules:
            args += [r.counter, MODE_CODES[r.budget.mode], to_nano(r.amount), to_nano(r.down_at)]
        reply = await self._admit(keys=keys, args=args)
        return _outcome(plan, reply, full, down)

    async def seed(self, counter: Counter, spent: Decimal) -> None:
        await self._seed(keys=[counter.key], args=[to_nano(spent), _expire_at(counter)])

    async def settle(self, plan: Plan, reserved: Decimal, actual: Decimal, token_delta: int) -> None:
        keys = [plan.tokens.key if plan.tokens else _unused_key(plan), *(c.key for c in plan.counters)]
        args: list[Any] = [
            _interval_us(plan.tokens.limit) if plan.tokens else 0,
            token_delta,
            -to_nano(reserved),
            to_nano(actual),
        ]
        await self._settle(keys=keys, args=args)

    async def close(self) -> None:
        await self.client.aclose()


def _unused_key(plan: Plan) -> str:
    """A placeholder for an unused KEYS slot, in the same Cluster slot as the real keys ({tenant} tag)."""
    real = plan.requests or plan.tokens or (plan.counters[0] if plan.counters else None)
    return (real.key if real else plan.tenant) + ":unused"


def _expire_at(counter: Counter) -> int:
    return int(counter.period.end) + _GRACE_S


def _outcome(plan: Plan, reply: list[Any], full: int, down: int) -> Outcome:
    status = _STATUS[int(reply[0])]
    if status == "seed":
        return Outcome("seed", missing=[int(x) for x in reply[8:]])
    out = Outcome(
        status,
        rule=int(reply[1]),
        req_remaining=int(reply[2]),
        req_reset_s=int(reply[3]) / 1e6,
        tok_remaining=int(reply[4]),
        tok_reset_s=int(reply[5]) / 1e6,
        retry_after_s=int(reply[6]) / 1e6,
        downgraded=bool(int(reply[7])),
    )
    tail = reply[8:]
    out.committed = [(Decimal(int(tail[i])) + Decimal(int(tail[i + 1]))) * _NANO for i in range(0, len(tail), 2)]
    if status == "ok":
        # Keep the exact Decimal the plan computed: settle refunds the same amount, rounded the same way.
        out.reserved = plan.reserve_down if out.downgraded else plan.reserve_full
    else:
        out.reserved = ZERO
    return out
