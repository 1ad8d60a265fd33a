"""Turn a backend ``Outcome`` into an ``Admission`` (headers, downgrade) or a 429 error."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from aiguillage.accounting import metrics
from aiguillage.accounting.cost import ZERO, decimal_str
from aiguillage.accounting.plan import Outcome, Plan, Rule
from aiguillage.config import TIER_RANK, Deployment
from aiguillage.errors import BudgetExceeded, RateLimited

__all__ = ["Admission", "decide", "too_many_tokens", "fmt_duration"]

WARNING_HEADER = "x-aiguillage-budget-warning"


@dataclass(slots=True)
class Admission:
    """The result of ``Accounting.admit``; settle it exactly once with ``Accounting.settle``."""

    headers: dict[str, str] = field(default_factory=dict)
    # None = every tier allowed; otherwise route only to these tiers (budget downgrade).
    allowed_tiers: frozenset[str] | None = None
    reason: str | None = None  # why the tiers were restricted, for the decision record
    warnings: list[str] = field(default_factory=list)
    reserved_eur: Decimal = ZERO
    plan: Plan | None = None
    token_estimate: int = 0
    settled: bool = False

    @property
    def downgraded(self) -> bool:
        return self.allowed_tiers is not None

    def filter(self, candidates: Sequence[Deployment]) -> list[Deployment]:
        """The candidates this admission allows (all of them unless a downgrade applies)."""
        if self.allowed_tiers is None:
            return list(candidates)
        return [d for d in candidates if d.tier in self.allowed_tiers]


def fmt_duration(seconds: float) -> str:
    """OpenAI's reset format: ``20ms``, ``1s``, ``1.5s``, ``6m0s``, ``1h2m3s``."""
    if seconds < 1:
        return f"{max(0, math.ceil(seconds * 1000))}ms"
    secs = math.ceil(seconds * 1000) / 1000
    h, rest = divmod(secs, 3600)
    m, s = divmod(rest, 60)
    s_txt = f"{s:.3f}".rstrip("0").rstrip(".")
    if h:
        return f"{int(h)}h{int(m)}m{s_txt}s"
    if m:
        return f"{int(m)}m{s_txt}s"
    return f"{s_txt}s"


def _ascii(text: str) -> str:
    return text.encode("ascii", "backslashreplace").decode("ascii")


def _rate_headers(plan: Plan, out: Outcome) -> dict[str, str]:
    h: dict[str, str] = {}
    if plan.requests is not None:
        h["x-ratelimit-limit-requests"] = str(plan.requests.limit)
        h["x-ratelimit-remaining-requests"] = str(out.req_remaining)
        h["x-ratelimit-reset-requests"] = fmt_duration(out.req_reset_s)
    if plan.tokens is not None:
        h["x-ratelimit-limit-tokens"] = str(plan.tokens.limit)
        h["x-ratelimit-remaining-tokens"] = str(out.tok_remaining)
        h["x-ratelimit-reset-tokens"] = fmt_duration(out.tok_reset_s)
    return h


def _retry_headers(h: dict[str, str], seconds: float) -> dict[str, str]:
    h["retry-after"] = str(max(1, math.ceil(seconds)))
    h["retry-after-ms"] = str(max(1, math.ceil(seconds * 1000)))
    return h


def _label(plan: Plan, rule: Rule) -> str:
    b = rule.budget
    scope = f"key '{plan.key_id}' of tenant '{plan.tenant}'" if b.scope == "key" else f"tenant '{plan.tenant}'"
    period = f"{b.period_days}-day" if b.period == "custom" else b.period
    return f"{scope} {period} budget (budgets[{rule.index}], {b.mode})"


def _eur(amount: Decimal) -> str:
    # Cents for real budgets; more digits for tiny test or trial budgets, so the message stays true.
    return f"{amount:.2f}" if abs(amount) >= 1 or amount == 0 else decimal_str(amount.normalize())


def too_many_tokens(plan: Plan) -> RateLimited:
    t = plan.tokens
    assert t is not None
    return RateLimited(
        f"Request too large for key '{plan.key_id}' (tenant '{plan.tenant}'): it may use {t.units} tokens "
        f"(prompt + max_tokens) but the limit is {t.limit} tokens per minute. Lower max_tokens or raise "
        "rate_limit.tokens_per_minute in the tenant policy.",
        code="tokens_per_minute_exceeded",
    )


def _rate_error(plan: Plan, out: Outcome) -> RateLimited:
    kind = "requests" if out.status == "requests" else "tokens"
    rate = plan.requests if kind == "requests" else plan.tokens
    assert rate is not None
    metrics.refused(plan.tenant, f"rate_{kind}")
    return RateLimited(
        f"Rate limit reached for key '{plan.key_id}' (tenant '{plan.tenant}'): {rate.limit} {kind} per minute. "
        f"Retry after {out.retry_after_s:.2f} s, or raise rate_limit.{kind}_per_minute in the tenant policy.",
        headers=_retry_headers(_rate_headers(plan, out), out.retry_after_s),
    )


def _budget_error(plan: Plan, out: Outcome, now: float) -> BudgetExceeded:
    rule = plan.rules[out.rule]
    counter = plan.counters[rule.counter]
    committed = out.committed[rule.counter]
    metrics.refused(plan.tenant, f"budget_{rule.budget.mode}")
    headers = _retry_headers(_rate_headers(plan, out), counter.period.end - now)
    return BudgetExceeded(
        f"Budget exhausted: the {_label(plan, rule)} of EUR {_eur(rule.amount)} is spent "
        f"(EUR {_eur(committed)} spent or reserved); it renews at {counter.period.iso_end()}. "
        f"Raise budgets[{rule.index}].amount_eur for tenant '{plan.tenant}' or wait for the next period.",
        headers={k: _ascii(v) for k, v in headers.items()},
        details={
            "budget": rule.index,
            "scope": rule.budget.scope,
            "amount_eur": decimal_str(rule.amount.normalize()),
            "spent_eur": decimal_str(committed.normalize()),
            "period_end": counter.period.iso_end(),
        },
    )


def _warnings(plan: Plan, out: Outcome) -> list[str]:
    notes = []
    for rule in plan.rules:
        # Spent + reserved by other requests, before this one: what the tenant has used so far.
        used = out.committed[rule.counter]
        if rule.budget.mode == "soft" and used >= rule.amount:
            metrics.soft_exceeded(plan.tenant)
            notes.append(f"{_label(plan, rule)} exceeded: EUR {_eur(used)} of {_eur(rule.amount)}")
        elif used > rule.down_at:
            metrics.near_limit(plan.tenant)
            notes.append(f"{_label(plan, rule)} nearly spent: EUR {_eur(used)} of {_eur(rule.amount)}")
    return notes


def decide(plan: Plan, out: Outcome, token_estimate: int, now: float) -> Admission:
    if out.status in ("requests", "tokens"):
        raise _rate_error(plan, out)
    if out.status == "budget":
        raise _budget_error(plan, out, now)
    adm = Admission(headers=_rate_headers(plan, out), reserved_eur=out.reserved, plan=plan,
                    token_estimate=token_estimate)
    adm.warnings = _warnings(plan, out)
    if adm.warnings:
        adm.headers[WARNING_HEADER] = _ascii("; ".join(adm.warnings))
    if out.downgraded:
        if plan.down_tiers is None:
            adm.reason = "budget nearly spent but no cheaper tier is eligible: routing unchanged"
        else:
            adm.allowed_tiers = plan.down_tiers
            tiers = ", ".join(sorted(plan.down_tiers, key=TIER_RANK.__getitem__))
            rules = [r for r in plan.rules if r.budget.mode == "downgrade" and out.committed[r.counter] > r.down_at]
            adm.reason = f"budget downgrade: {_label(plan, rules[0])} is nearly spent; routing only to {tiers}"
            metrics.downgraded(plan.tenant)
    return adm
