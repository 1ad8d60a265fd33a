"""Requests/min and tokens/min per key, with the OpenAI x-ratelimit-* and Retry-After headers."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from decimal import Decimal

import pytest

from aiguillage.accounting import Accounting
from aiguillage.accounting.decide import fmt_duration
from aiguillage.config import Budget, RateLimit, TenantPolicy
from aiguillage.errors import BudgetExceeded, RateLimited
from tests.accounting.conftest import CATALOG, run


def tenant() -> str:
    return f"t-{uuid.uuid4().hex[:8]}"


def test_requests_per_minute_headers_and_retry_after(make_acc: Callable[..., Accounting]) -> None:
    t = tenant()
    pol = TenantPolicy(rate_limit=RateLimit(requests_per_minute=5))

    async def scenario() -> tuple[list[dict[str, str]], RateLimited]:
        acc = make_acc()
        seen = []
        try:
            for _ in range(5):
                adm = await acc.admit(t, "k1", pol, 10, 10, CATALOG)
                seen.append(adm.headers)
                await acc.settle(adm, Decimal(0), 20)
            with pytest.raises(RateLimited) as info:
                await acc.admit(t, "k1", pol, 10, 10, CATALOG)
            other = await acc.admit(t, "k2", pol, 10, 10, CATALOG)  # limits are per key
            assert other.headers["x-ratelimit-remaining-requests"] == "4"
            return seen, info.value
        finally:
            await acc.close()

    seen, exc = run(scenario())
    assert [h["x-ratelimit-remaining-requests"] for h in seen] == ["4", "3", "2", "1", "0"]
    assert all(h["x-ratelimit-limit-requests"] == "5" for h in seen)
    assert "x-ratelimit-limit-tokens" not in seen[0]
    # One request every 12 s refills the bucket: after 5 at once it is full again in about a minute.
    assert seen[0]["x-ratelimit-reset-requests"] in ("12s", "11.999s", "11.998s")
    assert seen[4]["x-ratelimit-reset-requests"].startswith(("59.9", "1m0s", "59.8"))
    assert exc.status == 429 and exc.code == "rate_limit_exceeded"
    assert exc.headers["x-ratelimit-remaining-requests"] == "0"
    assert 11 <= int(exc.headers["retry-after"]) <= 12  # the next slot opens 12 s after the first request
    assert 11_000 < int(exc.headers["retry-after-ms"]) <= 12_000
    assert "requests_per_minute" in exc.message


def test_tokens_per_minute_charged_by_estimate_then_corrected(make_acc: Callable[..., Accounting]) -> None:
    t = tenant()
    pol = TenantPolicy(rate_limit=RateLimit(tokens_per_minute=1000))

    async def scenario() -> None:
        acc = make_acc()
        try:
            a = await acc.admit(t, "k1", pol, 100, 500, CATALOG)  # estimate 600
            assert a.headers["x-ratelimit-limit-tokens"] == "1000"
            assert a.headers["x-ratelimit-remaining-tokens"] == "400"
            with pytest.raises(RateLimited) as info:  # another 600 does not fit in 400
                await acc.admit(t, "k1", pol, 100, 500, CATALOG)
            assert info.value.headers["x-ratelimit-remaining-tokens"] == "400"
            assert int(info.value.headers["retry-after"]) == 12  # 200 tokens at 1000/min
            await acc.settle(a, Decimal("0.0001"), 150)  # used 150, not 600: 450 go back
            b = await acc.admit(t, "k1", pol, 100, 500, CATALOG)
            assert 240 <= int(b.headers["x-ratelimit-remaining-tokens"]) <= 250  # 1000 - 150 - 600, plus refill
            await acc.settle(b, Decimal(0), 0)  # failed upstream: the whole estimate goes back
            c = await acc.admit(t, "k1", pol, 10, 10, CATALOG)
            assert int(c.headers["x-ratelimit-remaining-tokens"]) >= 825
            with pytest.raises(RateLimited) as too_big:
                await acc.admit(t, "k1", pol, 900, 200, CATALOG)
            assert too_big.value.code == "tokens_per_minute_exceeded" and "max_tokens" in too_big.value.message
        finally:
            await acc.close()

    run(scenario())


def test_rate_limit_is_checked_before_budget_and_consumes_nothing_when_refused(
    make_acc: Callable[..., Accounting],
) -> None:
    t = tenant()
    pol = TenantPolicy(rate_limit=RateLimit(requests_per_minute=2),
                       budgets=[Budget(amount_eur=Decimal("0.001"), mode="hard")])

    async def scenario() -> None:
        acc = make_acc()
        try:
            a = await acc.admit(t, "k1", pol, 1000, 1000, CATALOG)
            await acc.settle(a, Decimal("0.002"), 2000)
            with pytest.raises(BudgetExceeded) as info:
                await acc.admit(t, "k1", pol, 1000, 1000, CATALOG)
            # The refused request did not take a request slot: one is still left.
            assert info.value.headers["x-ratelimit-remaining-requests"] == "1"
            assert "x-ratelimit-limit-requests" in info.value.headers
        finally:
            await acc.close()

    run(scenario())


def test_fmt_duration_matches_openai_style() -> None:
    assert fmt_duration(0.02) == "20ms"
    assert fmt_duration(0) == "0ms"
    assert fmt_duration(1) == "1s"
    assert fmt_duration(1.5) == "1.5s"
    assert fmt_duration(360) == "6m0s"
    assert fmt_duration(3723) == "1h2m3s"
