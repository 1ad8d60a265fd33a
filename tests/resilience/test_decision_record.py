"""Fallbacks and breaker transitions land in the Decision (attempts and notes), which is what the
audit record and GET /v1/decisions/{id} serialise. Real Caller, Health, OpenAI provider and
HTTP fake upstreams, in-process so the Decision object itself can be read."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from aiguillage.providers.http import UpstreamHttp
from aiguillage.call import Caller
from aiguillage.config import Deployment, ResilienceSettings, Timeouts
from aiguillage.decision import Decision
from aiguillage.errors import Overloaded, UpstreamHTTPError
from aiguillage.health import Health
from aiguillage.providers.openai import OpenAIProvider
from tests.resilience.fakes import FaultyOpenAI

SETTINGS = ResilienceSettings(max_attempts=2, backoff_base_s=0.0, breaker_failures=2, breaker_cooldown_s=0.3,
                              timeouts=Timeouts(connect=1, first_token=0.5, idle=0.5, total=5))


@pytest.fixture
def two() -> Iterator[tuple[FaultyOpenAI, FaultyOpenAI]]:
    a, b = FaultyOpenAI("a").start(), FaultyOpenAI("b").start()
    yield a, b
    a.stop()
    b.stop()


def deployment(dep_id: str, fake: FaultyOpenAI) -> Deployment:
    return Deployment(id=dep_id, provider="openai", base_url=fake.url, model=dep_id, tier="small", jurisdiction="eu")


def decision() -> Decision:
    return Decision(request_id="r", tenant="t", key_id="k", endpoint="/v1/chat/completions", requested_model="auto",
                    stream=False, subject_id="t")


async def run(deps: list[Deployment], calls: int, stream: bool = False) -> list[Decision | BaseException]:
    async with UpstreamHttp() as http:
        providers = {d.id: OpenAIProvider(d, http, SETTINGS.timeouts) for d in deps}
        health = Health(SETTINGS, deps, providers, http)
        caller = Caller(providers, SETTINGS, health)  # type: ignore[arg-type]
        out: list[Decision | BaseException] = []
        for _ in range(calls):
            d = decision()
            body = lambda dep: {"model": dep.model, "messages": [{"role": "user", "content": "hi"}]}  # noqa: E731
            try:
                if stream:
                    opened = await caller.open_stream(deps, body, d, time.monotonic() + 5)
                    async for _chunk in opened.rest:
                        pass
                else:
                    await caller.complete(deps, body, d, time.monotonic() + 5)
                out.append(d)
            except Exception as exc:  # kept with the decision so the test can read both
                exc.decision = d  # type: ignore[attr-defined]
                out.append(exc)
        return out


def test_breaker_transitions_and_skips_are_in_the_decision_notes(two: tuple[FaultyOpenAI, FaultyOpenAI]) -> None:
    a, b = two
    a.default = "500"
    deps = [deployment("a", a), deployment("b", b)]
    first, second, third = asyncio.run(run(deps, 3))
    assert isinstance(first, Decision) and [x.outcome for x in first.attempts] == ["error", "ok"]
    assert first.attempts[0].error.startswith("upstream_error: deployment 'a' answered 500")
    assert first.notes == []
    assert isinstance(second, Decision)
    assert "breaker a: closed -> open (2 failures within 30s)" in second.notes
    assert isinstance(third, Decision)
    assert third.notes == ["skipped a: circuit breaker open"] and [x.deployment for x in third.attempts] == ["b"]
    assert len(a.requests) == 2 and len(b.requests) == 3


def test_fail_fast_with_503_when_every_breaker_is_open(two: tuple[FaultyOpenAI, FaultyOpenAI]) -> None:
    a, b = two
    a.default = b.default = "500"
    deps = [deployment("a", a), deployment("b", b)]
    results = asyncio.run(run(deps, 3))
    assert isinstance(results[0], UpstreamHTTPError) and results[0].decision.notes == []  # type: ignore[attr-defined]
    assert isinstance(results[1], UpstreamHTTPError)
    opened = results[1].decision.notes  # type: ignore[attr-defined]
    assert "breaker a: closed -> open (2 failures within 30s)" in opened
    assert "breaker b: closed -> open (2 failures within 30s)" in opened
    fast = results[2]
    assert isinstance(fast, Overloaded) and fast.status == 503 and fast.headers["Retry-After"] == "1"
    skipped = ["skipped a: circuit breaker open", "skipped b: circuit breaker open"]
    assert fast.decision.notes == skipped  # type: ignore[attr-defined]
    assert len(a.requests) == 2 and len(b.requests) == 2  # the open breakers kept the upstreams quiet


def test_half_open_probe_success_closes_and_is_noted(two: tuple[FaultyOpenAI, FaultyOpenAI]) -> None:
    a, b = two
    deps = [deployment("a", a)]

    async def scenario() -> Decision:
        async with UpstreamHttp() as http:
            providers = {"a": OpenAIProvider(deps[0], http, SETTINGS.timeouts)}
            health = Health(SETTINGS, deps, providers, http)
            caller = Caller(providers, SETTINGS, health)  # type: ignore[arg-type]
            body = lambda dep: {"model": "a", "messages": [{"role": "user", "content": "hi"}]}  # noqa: E731
            a.plan("500", "500")
            with pytest.raises(UpstreamHTTPError):
                await caller.complete(deps, body, decision(), time.monotonic() + 5)
            assert health.breaker_state("a") == "open"
            await asyncio.sleep(0.35)
            d = decision()
            await caller.complete(deps, body, d, time.monotonic() + 5)
            assert health.breaker_state("a") == "closed"
            return d

    d = asyncio.run(scenario())
    assert d.notes == ["breaker a: open -> half_open (cool-down of 0.3s over)",
                       "breaker a: half_open -> closed (half-open probe succeeded)"]
    assert len(a.requests) == 3


def test_stream_idle_timeout_counts_against_the_breaker(two: tuple[FaultyOpenAI, FaultyOpenAI]) -> None:
    a, _ = two
    a.stall_s = 1.0
    a.default = "midstall"
    deps = [deployment("a", a)]
    results = asyncio.run(run(deps, 3, stream=True))
    assert all(isinstance(r, Exception) for r in results[:2])
    last = results[1].decision  # type: ignore[union-attr]
    assert "breaker a: closed -> open (2 failures within 30s)" in last.notes
    assert isinstance(results[2], Overloaded)
    assert len(a.requests) == 2


def test_skipping_an_open_breaker_leaves_the_retries_to_the_fallback(two: tuple[FaultyOpenAI, FaultyOpenAI]) -> None:
    a, b = two
    a.default = "500"
    deps = [deployment("a", a), deployment("b", b)]
    b.plan("ok", "ok", "503")  # the first two requests open a's breaker; b then fails once
    results = asyncio.run(run(deps, 3))
    last = results[2]
    assert isinstance(last, Decision)
    assert [(x.deployment, x.outcome) for x in last.attempts] == [("b", "error"), ("b", "ok")]
    assert last.notes == ["skipped a: circuit breaker open"]
    assert len(a.requests) == 2 and len(b.requests) == 4


def test_a_malformed_answer_counts_against_the_breaker(two: tuple[FaultyOpenAI, FaultyOpenAI]) -> None:
    a, b = two
    a.default = "bad-message"  # choices [{"message": 5}]: the upstream's fault
    deps = [deployment("a", a), deployment("b", b)]
    first, second, third = asyncio.run(run(deps, 3))
    assert isinstance(first, Decision) and [x.outcome for x in first.attempts] == ["error", "ok"]
    assert "answered with a malformed chat completion" in first.attempts[0].error
    assert isinstance(second, Decision) and "breaker a: closed -> open (2 failures within 30s)" in second.notes
    assert isinstance(third, Decision) and [x.deployment for x in third.attempts] == ["b"]


class TripsOnTheRequest(OpenAIProvider):
    """A provider whose request translation has a bug for some field (a plugin's, say)."""

    def _quirks(self, body: dict) -> dict:  # type: ignore[override]
        if "trip" in body:
            raise AttributeError("'int' object has no attribute 'get'")
        return super()._quirks(body)


def test_a_provider_failing_on_what_may_be_the_request_fails_over_without_opening_the_breaker(
    two: tuple[FaultyOpenAI, FaultyOpenAI],
) -> None:
    a, b = two
    deps = [deployment("a", a), deployment("b", b)]

    async def scenario() -> tuple[list[Decision], str]:
        async with UpstreamHttp() as http:
            providers = {"a": TripsOnTheRequest(deps[0], http, SETTINGS.timeouts),
                         "b": OpenAIProvider(deps[1], http, SETTINGS.timeouts)}
            health = Health(SETTINGS, deps, providers, http)
            caller = Caller(providers, SETTINGS, health)  # type: ignore[arg-type]
            body = lambda dep: {"model": dep.model, "trip": 1, "messages": [{"role": "user", "content": "hi"}]}  # noqa: E731
            out = []
            for _ in range(2 * SETTINGS.breaker_failures + 1):  # far past the breaker's threshold
                d = decision()
                await caller.complete(deps, body, d, time.monotonic() + 5)
                out.append(d)
            return out, health.breaker_state("a")

    decisions, state = asyncio.run(scenario())
    assert state == "closed"  # a client's odd request must not take 'a' out of service for everyone
    for d in decisions:
        assert [x.deployment for x in d.attempts] == ["a", "b"] and d.attempts[1].outcome == "ok"
        assert "could not be used: its provider failed" in d.attempts[0].error and d.notes == []
