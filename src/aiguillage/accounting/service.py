"""``Accounting``: admission (rate limits + budgets) before a request, settlement after it.

With no budget and no rate limit in the tenant policy, ``admit`` returns at once (the gateway's
hot path). Otherwise it is one atomic backend operation: a Lua script round trip with Redis,
a ``BEGIN IMMEDIATE`` transaction on the SQLite counters file, or a locked in-process update. Counters missing from the backend (first use in a period,
restart, Redis flush) are seeded from the ledger before admitting.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal, Protocol
from urllib.parse import urlsplit, urlunsplit

from aiguillage.accounting.cost import ZERO
from aiguillage.accounting.decide import Admission, decide, too_many_tokens
from aiguillage.accounting.ledger import LedgerSink, spent_in_period
from aiguillage.accounting.memory import MemoryBackend
from aiguillage.accounting.plan import Counter, Outcome, Plan, Planner
from aiguillage.accounting.report import build_report, parse_when, report_json
from aiguillage.accounting.sqlite_backend import SqliteBackend, counters_file_for
from aiguillage.config import Deployment, Settings, TenantPolicy
from aiguillage.errors import InvalidRequest, Overloaded
from aiguillage.store.db import Database

__all__ = ["Accounting"]

log = logging.getLogger(__name__)
DEFAULT_PREFIX = "aiguillage:acct:"


class Backend(Protocol):
    async def admit(self, plan: Plan) -> Outcome: ...
    async def seed(self, counter: Counter, spent: Decimal) -> None: ...
    async def settle(self, plan: Plan, reserved: Decimal, actual: Decimal, token_delta: int) -> None: ...
    async def close(self) -> None: ...


class Accounting:
    """Budgets and rate limits. Counters live in Redis when ``redis_url`` is given (any number of
    replicas); else in a SQLite file next to a SQLite ``db`` (the worker processes of one machine),
    or ``counters_file`` if given; else in this process only (PostgreSQL without Redis, no db, or
    ``counters_file=False``)."""

    def __init__(
        self,
        settings: Settings,
        db: Database | None,
        redis_url: str | None = None,
        *,
        key_prefix: str = DEFAULT_PREFIX,
        counters_file: str | Path | Literal[False] | None = None,
    ) -> None:
        self.settings = settings
        self.db = db
        self.prefix = key_prefix
        self._planner = Planner(key_prefix)
        self.backend: Backend
        if counters_file is None and not redis_url and db is not None:
            counters_file = counters_file_for(db.url)  # False (in-process only) is left alone
        if redis_url:
            from aiguillage.accounting.redis_backend import RedisBackend

            self.backend = RedisBackend(redis_url)
            self._where = f"Redis at {_safe_url(redis_url)}"
        elif counters_file:
            self.backend = SqliteBackend(counters_file)
            self._where = f"SQLite counters at {counters_file}"
        else:
            self.backend = MemoryBackend()
            self._where = "in-process counters"

    async def admit(
        self,
        tenant: str,
        key_id: str,
        policy: TenantPolicy,
        est_prompt_tokens: int,
        max_output_tokens: int,
        candidates: Sequence[Deployment],
    ) -> Admission:
        """Check and reserve; raises RateLimited or BudgetExceeded (429, with Retry-After)."""
        rl = policy.rate_limit
        if not policy.budgets and (rl is None or not (rl.requests_per_minute or rl.tokens_per_minute)):
            return Admission()
        now = time.time()
        plan = self._planner.build(tenant, key_id, policy, est_prompt_tokens, max_output_tokens, candidates, now)
        if plan.tokens is not None and plan.tokens.units > plan.tokens.limit:
            raise too_many_tokens(plan)
        out = await self._admit(plan)
        return decide(plan, out, plan.tokens.units if plan.tokens else 0, now)

    async def settle(self, admission: Admission, actual_cost: Decimal, actual_tokens: int) -> None:
        """Replace the reservation by the actual cost (0 on errors). Idempotent; never raises."""
        if admission.settled:
            return
        admission.settled = True
        plan = admission.plan
        if plan is None:
            return
        delta = actual_tokens - admission.token_estimate if plan.tokens is not None else 0
        try:
            await self.backend.settle(plan, admission.reserved_eur, max(actual_cost, ZERO), delta)
        except Exception:  # the request is already answered; the ledger keeps the exact cost
            log.exception("settling tenant %r key %r on %s failed", plan.tenant, plan.key_id, self._where)

    def sink(self) -> LedgerSink:
        return LedgerSink(self.settings)

    def usage_for_tenant(
        self,
        tenant: str,
        since: str | None = None,
        until: str | None = None,
        project_monthly_requests: int | None = None,
    ) -> bytes:
        """``GET /v1/usage``: the tenant's report as exact JSON bytes. Blocking (run it in a thread)."""
        if self.db is None:
            raise InvalidRequest("usage reports need the database; none is configured")
        bounds = {}
        for name, value in (("since", since), ("until", until)):
            try:
                bounds[name] = parse_when(value) if value else None
            except ValueError as exc:
                raise InvalidRequest(f"{name}: {exc}", param=name) from None
        report = build_report(self.db, tenant=tenant, since=bounds["since"], until=bounds["until"],
                              project_monthly_requests=project_monthly_requests, settings=self.settings)
        return report_json(report).encode()

    async def close(self) -> None:
        await self.backend.close()

    async def _admit(self, plan: Plan) -> Outcome:
        try:
            for _ in range(3):
                out = await self.backend.admit(plan)
                if out.status != "seed":
                    return out
                for i in out.missing:
                    await self.backend.seed(plan.counters[i], await self._ledger_spent(plan.counters[i]))
        except (OSError, ConnectionError, TimeoutError) as exc:
            raise self._unavailable(exc) from exc
        except Exception as exc:
            if type(exc).__module__.startswith("redis"):
                raise self._unavailable(exc) from exc
            raise
        raise Overloaded(f"budget counters for tenant '{plan.tenant}' keep disappearing from {self._where}")

    async def _ledger_spent(self, counter: Counter) -> Decimal:
        if self.db is None:
            return ZERO
        p = counter.period
        return await asyncio.to_thread(spent_in_period, self.db, counter.tenant, counter.key_id, p.start, p.end)

    def _unavailable(self, exc: Any) -> Overloaded:
        return Overloaded(
            f"budget and rate-limit counters unavailable ({self._where}: {exc}); "
            "check that Redis is running and settings.redis_url is right"
        )


def _safe_url(url: str) -> str:
    """The URL without its password: it ends up in error messages sent to clients."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))
