"""What one admission has to check, independent of where the counters live.

``build_plan`` turns a tenant policy into counter keys, budget rules and rate limits; a
backend (in-process or Redis) evaluates the plan atomically and returns an ``Outcome``.

Reservation design (why a budget is never overspent by more than one request's cost):
admission runs before routing, so it reserves the worst case over every eligible candidate
(prompt estimate x input price + max_tokens x output price of the most expensive one; when a
downgrade applies, of the most expensive *allowed* one). A request is admitted only while
``spent + reserved < amount``, checked and reserved in one atomic step (a Lua script in
Redis, shared by all replicas). Settling replaces the reservation by the actual cost, which
is never more than it. So ``spent + reserved`` can pass the budget only through the one
admission that crosses the line, and the final spend exceeds the budget by less than that
request's actual cost.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from aiguillage.accounting.cost import EXACT, ZERO, cost_of, to_nano
from aiguillage.accounting.periods import Period, period_of
from aiguillage.config import TIER_RANK, Budget, Deployment, TenantPolicy

__all__ = ["Plan", "Counter", "Rule", "Rate", "Outcome", "Planner", "build_plan", "MODE_CODES"]

MODE_CODES = {"soft": 0, "hard": 1, "downgrade": 2}


@dataclass(frozen=True, slots=True)
class Counter:
    """One spend counter (spent + reserved) for one budget scope and period."""

    key: str
    tenant: str
    key_id: str | None  # set for per-key budgets: the ledger seed filters on it
    period: Period


@dataclass(frozen=True, slots=True)
class Rule:
    index: int  # position in policy.budgets, for messages
    budget: Budget
    counter: int  # index into Plan.counters
    amount: Decimal
    down_at: Decimal  # downgrade once spent + reserved passes this


@dataclass(frozen=True, slots=True)
class Rate:
    key: str
    limit: int  # units per minute (also the burst: a full bucket holds one minute)
    units: int  # what this request takes: 1 request, or its token estimate


@dataclass(slots=True)
class Plan:
    tenant: str
    key_id: str
    requests: Rate | None
    tokens: Rate | None
    counters: list[Counter]
    rules: list[Rule]
    reserve_full: Decimal
    reserve_down: Decimal
    down_tiers: frozenset[str] | None  # tiers left after a downgrade; None = no cheaper tier


@dataclass(slots=True)
class Outcome:
    status: str  # "ok" | "requests" | "tokens" | "budget" | "seed"
    rule: int = -1  # index into Plan.rules of the refusing budget
    missing: list[int] = field(default_factory=list)  # counters to seed from the ledger
    req_remaining: int = 0
    req_reset_s: float = 0.0
    tok_remaining: int = 0
    tok_reset_s: float = 0.0
    retry_after_s: float = 0.0
    downgraded: bool = False
    reserved: Decimal = ZERO
    committed: list[Decimal] = field(default_factory=list)  # spent + reserved per counter, before this request


def _downgraded_tiers(candidates: Sequence[Deployment]) -> frozenset[str] | None:
    if not candidates:
        return None
    top = max(TIER_RANK[d.tier] for d in candidates)
    lower = frozenset(d.tier for d in candidates if TIER_RANK[d.tier] < top)
    return lower or None


@dataclass(frozen=True, slots=True)
class _Static:
    """What a policy implies regardless of the request, computed once per policy object."""

    budgets: tuple[tuple[int, Budget, Decimal], ...]  # (index, budget, downgrade-at amount)
    requests_per_minute: int | None
    tokens_per_minute: int | None


class Planner:
    """Builds plans; caches per-policy constants and the current budget periods (hot path)."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self._static: dict[int, tuple[TenantPolicy, _Static]] = {}
        self._periods: dict[tuple[str, int | None], Period] = {}

    def static(self, policy: TenantPolicy) -> _Static:
        hit = self._static.get(id(policy))
        if hit is not None and hit[0] is policy:
            return hit[1]
        rl = policy.rate_limit
        budgets = tuple(
            (i, b, EXACT.multiply(b.amount_eur, Decimal(1) - Decimal(str(b.downgrade_below))))
            for i, b in enumerate(policy.budgets)
        )
        st = _Static(budgets, rl.requests_per_minute if rl else None, rl.tokens_per_minute if rl else None)
        if len(self._static) > 10_000:  # policies are few; this only guards against a reload loop
            self._static.clear()
        self._static[id(policy)] = (policy, st)  # keeping the policy alive keeps its id unique
        return st

    def period(self, budget: Budget, now: float) -> Period:
        key = (budget.period, budget.period_days)
        p = self._periods.get(key)
        if p is None or not (p.start <= now < p.end):
            p = self._periods[key] = period_of(budget, now)
        return p

    def build(
        self,
        tenant: str,
        key_id: str,
        policy: TenantPolicy,
        est_prompt_tokens: int,
        max_output_tokens: int,
        candidates: Sequence[Deployment],
        now: float,
    ) -> Plan:
        st = self.static(policy)
        base = f"{self.prefix}{{{tenant}}}:"  # the {tenant} hash tag keeps one admission in one Cluster slot
        requests = Rate(f"{base}rl:r:{key_id}", st.requests_per_minute, 1) if st.requests_per_minute else None
        tokens = None
        if st.tokens_per_minute:
            units = max(0, est_prompt_tokens) + max(0, max_output_tokens)
            tokens = Rate(f"{base}rl:t:{key_id}", st.tokens_per_minute, units)
        counters: list[Counter] = []
        rules: list[Rule] = []
        for i, b, down_at in st.budgets:
            if b.scope == "key" and b.key_id is not None and b.key_id != key_id:
                continue
            period = self.period(b, now)
            if b.scope == "key":
                ckey, cfilter = f"{base}b:k:{key_id}:{period.tag}", key_id
            else:
                ckey, cfilter = f"{base}b:t:{period.tag}", None
            # Budgets with the same scope and period share one counter: the spend is the same.
            n = next((j for j, c in enumerate(counters) if c.key == ckey), len(counters))
            if n == len(counters):
                counters.append(Counter(ckey, tenant, cfilter, period))
            rules.append(Rule(i, b, n, b.amount_eur, down_at))
        full = down = ZERO
        down_tiers: frozenset[str] | None = None
        if rules and candidates:
            costs = [(d.tier, cost_of(d, est_prompt_tokens, max_output_tokens)) for d in candidates]
            full = max(c for _, c in costs)
            down_tiers = _downgraded_tiers(candidates)
            down = max((c for t, c in costs if down_tiers is None or t in down_tiers), default=ZERO)
        return Plan(tenant, key_id, requests, tokens, counters, rules, full, down, down_tiers)


def build_plan(
    prefix: str,
    tenant: str,
    key_id: str,
    policy: TenantPolicy,
    est_prompt_tokens: int,
    max_output_tokens: int,
    candidates: Sequence[Deployment],
    now: float,
) -> Plan:
    """One-off plan (tests, tools); ``Accounting`` keeps a ``Planner`` to reuse its caches."""
    return Planner(prefix).build(tenant, key_id, policy, est_prompt_tokens, max_output_tokens, candidates, now)


def nano_args(plan: Plan) -> tuple[int, int]:
    return to_nano(plan.reserve_full), to_nano(plan.reserve_down)
