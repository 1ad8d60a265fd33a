"""Counters kept in Python dicts: the in-process backend, and the evaluator the SQLite one reuses.

``CounterState`` holds GCRA buckets and budget counters (exact Decimals) and applies a plan to
them; ``MemoryBackend`` keeps one state per process behind a lock. Several processes need the
SQLite (one machine) or Redis (any number of replicas) backend. Counters are seeded from the
ledger after a restart, so a restart does not reset a budget.
"""

from __future__ import annotations

import math
import threading
import time
from decimal import Decimal

from aiguillage.accounting.cost import EXACT, ZERO
from aiguillage.accounting.plan import Counter, Outcome, Plan, Rate

__all__ = ["MemoryBackend", "CounterState", "GRACE_S"]

WINDOW = 60.0  # seconds: a bucket holds one minute's worth of its limit
GRACE_S = 3600.0  # a counter outlives its period by this much, so late settlements find it
_EPS = 1e-9
_PRUNE_EVERY = 4096


class CounterState:
    """Buckets (key -> theoretical arrival time) and counters (key -> [spent, reserved, expires_at])."""

    def __init__(self) -> None:
        self.tat: dict[str, float] = {}
        self.counters: dict[str, list[Decimal | float]] = {}

    def seed(self, counter: Counter, spent: Decimal) -> None:
        self.counters.setdefault(counter.key, [spent, ZERO, counter.period.end + GRACE_S])

    def settle(self, plan: Plan, reserved: Decimal, actual: Decimal, token_delta: int, now: float) -> None:
        if plan.tokens is not None and token_delta:
            t = plan.tokens
            tat = max(self.tat.get(t.key, now), now) + token_delta * WINDOW / t.limit
            if tat <= now:
                self.tat.pop(t.key, None)
            else:
                self.tat[t.key] = tat
        for c in plan.counters:
            entry = self.counters.setdefault(c.key, [ZERO, ZERO, c.period.end + GRACE_S])
            entry[0] = EXACT.add(entry[0], actual)  # type: ignore[arg-type]
            entry[1] = EXACT.subtract(entry[1], reserved)  # type: ignore[arg-type]

    def _gcra(self, rate: Rate, now: float) -> tuple[float, float, bool]:
        """(current tat, tat after this request, admitted?)"""
        interval = WINDOW / rate.limit
        tat = max(self.tat.get(rate.key, now), now)
        new = tat + rate.units * interval
        return tat, new, new - now <= WINDOW + _EPS

    def admit(self, plan: Plan, now: float) -> Outcome:
        missing = [i for i, c in enumerate(plan.counters) if c.key not in self.counters]
        if missing:
            return Outcome("seed", missing=missing)
        out = Outcome("ok")
        req = self._gcra(plan.requests, now) if plan.requests else None
        tok = self._gcra(plan.tokens, now) if plan.tokens else None
        if req is not None and not req[2]:
            out.status, out.retry_after_s = "requests", req[1] - now - WINDOW
        elif tok is not None and not tok[2]:
            out.status, out.retry_after_s = "tokens", tok[1] - now - WINDOW
        out.committed = [
            EXACT.add(e[0], e[1])  # type: ignore[arg-type]
            for e in (self.counters[c.key] for c in plan.counters)
        ]
        if out.status == "ok":
            self._check_budgets(plan, out)
        ok = out.status == "ok"
        if req is not None:
            out.req_remaining, out.req_reset_s = _state(plan.requests, req, now, ok)  # type: ignore[arg-type]
        if tok is not None:
            out.tok_remaining, out.tok_reset_s = _state(plan.tokens, tok, now, ok)  # type: ignore[arg-type]
        if ok:
            self._apply(plan, out, req, tok)
        return out

    def _check_budgets(self, plan: Plan, out: Outcome) -> None:
        for j, rule in enumerate(plan.rules):
            committed = out.committed[rule.counter]
            mode = rule.budget.mode
            if mode != "soft" and committed >= rule.amount:
                out.status, out.rule = "budget", j
                return
            if mode == "downgrade" and committed > rule.down_at:
                out.downgraded = True

    def _apply(self, plan: Plan, out: Outcome, req: tuple | None, tok: tuple | None) -> None:
        if req is not None:
            self.tat[plan.requests.key] = req[1]  # type: ignore[union-attr]
        if tok is not None:
            self.tat[plan.tokens.key] = tok[1]  # type: ignore[union-attr]
        out.reserved = plan.reserve_down if out.downgraded else plan.reserve_full
        for c in plan.counters:
            entry = self.counters[c.key]
            entry[1] = EXACT.add(entry[1], out.reserved)  # type: ignore[arg-type]


class MemoryBackend:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state = CounterState()
        self._ops = 0

    async def admit(self, plan: Plan) -> Outcome:
        with self._lock:
            now = time.monotonic()
            self._maybe_prune(now)
            return self._state.admit(plan, now)

    async def seed(self, counter: Counter, spent: Decimal) -> None:
        with self._lock:
            self._state.seed(counter, spent)

    async def settle(self, plan: Plan, reserved: Decimal, actual: Decimal, token_delta: int) -> None:
        with self._lock:
            self._state.settle(plan, reserved, actual, token_delta, time.monotonic())

    async def close(self) -> None:
        return None

    def _maybe_prune(self, now: float) -> None:
        self._ops += 1
        if self._ops % _PRUNE_EVERY:
            return
        wall = time.time()
        st = self._state
        st.tat = {k: v for k, v in st.tat.items() if v > now}
        st.counters = {k: v for k, v in st.counters.items() if v[2] > wall}  # type: ignore[operator]


def _state(rate: Rate, gcra: tuple[float, float, bool], now: float, applied: bool) -> tuple[int, float]:
    """(remaining units, seconds until the bucket is full again) for the x-ratelimit headers."""
    tat = gcra[1] if applied else gcra[0]
    used = max(0.0, tat - now)
    remaining = math.floor((WINDOW - used) * rate.limit / WINDOW + _EPS)
    return max(0, remaining), used
