"""Calling the ranked deployments: fallbacks, retries, deadlines, verification.

The chain is the router's ranking of *eligible* deployments only, so a fallback can never
reach a deployment the tenant's policy excluded. Retryable failures (connect errors, 429,
5xx, timeouts) move on to the next deployment; a 4xx caused by the request stops at once.
When the chain is exhausted and attempts remain, it starts over after a jittered backoff.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from aiguillage import metrics
from aiguillage.config import Deployment, ResilienceSettings
from aiguillage.decision import Attempt, Decision
from aiguillage.errors import GatewayError, UpstreamError, UpstreamRateLimited, UpstreamTimeout
from aiguillage.providers.base import Provider
from aiguillage.routing.base import Verifier
from aiguillage.tokens import content_text

BodyFor = Callable[[Deployment], dict[str, Any]]


def answer_text(resp: dict[str, Any]) -> str:
    choices = resp.get("choices") or []
    return content_text((choices[0].get("message") or {}).get("content")) if choices else ""


@dataclass(slots=True)
class Opened:
    """A stream that has produced its first chunk on ``deployment``."""

    deployment: Deployment
    first: dict[str, Any]
    rest: AsyncIterator[dict[str, Any]]
    upstream_s: float


class Caller:
    def __init__(self, providers: dict[str, Provider], settings: ResilienceSettings, health: Any = None) -> None:
        self.providers = providers
        self.settings = settings
        self.health = health  # breakers / concurrency limits (aiguillage.health), optional

    def _schedule(self, order: list[Deployment]) -> list[Deployment]:
        n = self.settings.max_attempts
        return [order[i % len(order)] for i in range(max(n, len(order)))] if order else []

    async def _pause(self, round_no: int, err: GatewayError | None, deadline: float) -> None:
        wait = self.settings.backoff_base_s * (2 ** round_no) * random.uniform(0.5, 1.5)
        if isinstance(err, UpstreamRateLimited) and err.retry_after:
            wait = max(wait, err.retry_after)
        wait = min(wait, max(0.0, deadline - time.monotonic() - 0.01))
        if wait > 0:
            await asyncio.sleep(wait)

    def _record(self, decision: Decision, dep: Deployment, t: float, err: BaseException | None,
                outcome: str | None = None) -> None:
        ms = (time.perf_counter() - t) * 1000
        if err is None:
            decision.attempts.append(Attempt(dep.id, outcome or "ok", None, ms))
        else:
            code = getattr(err, "code", None) or type(err).__name__
            decision.attempts.append(Attempt(dep.id, "error", f"{code}: {err}", ms))
            metrics.FALLBACKS.labels(dep.id, code).inc()
        if self.health is not None:
            self.health.observe(dep.id, err is None or not isinstance(err, UpstreamError) or not err.retryable)

    async def complete(
        self, order: list[Deployment], body_for: BodyFor, decision: Decision, deadline: float,
        verifier: Verifier | None = None, prompt: str = "",
    ) -> tuple[Deployment, dict[str, Any], float]:
        """Return (deployment, OpenAI response, seconds spent upstream)."""
        last: GatewayError | None = None
        upstream_s = 0.0
        accepted: tuple[Deployment, dict[str, Any]] | None = None
        schedule = self._schedule(order)
        for i, dep in enumerate(schedule):
            if i and i % len(order) == 0:
                await self._pause(i // len(order), last, deadline)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            t = time.perf_counter()
            try:
                async with self._slot(dep):
                    async with asyncio.timeout(remaining):
                        resp = await self.providers[dep.id].complete(body_for(dep))
            except TimeoutError:
                # Providers raise typed UpstreamTimeout for their own timeouts; a bare one is the deadline.
                last = UpstreamTimeout(f"deployment '{dep.id}' exceeded the request deadline", deployment=dep.id)
                self._record(decision, dep, t, last)
                upstream_s += time.perf_counter() - t
                break
            except UpstreamError as exc:
                upstream_s += time.perf_counter() - t
                self._record(decision, dep, t, exc)
                if not exc.retryable:
                    raise
                last = exc
                continue
            upstream_s += time.perf_counter() - t
            # The cascade: accept unless the verifier says a stronger model is needed.
            if verifier is not None and dep is not order[-1] and i < len(order) - 1:
                score = verifier.score(prompt, answer_text(resp))
                decision.router.setdefault("verifier_scores", {})[dep.id] = round(score, 4)
                if score >= verifier.threshold:
                    self._record(decision, dep, t, None, outcome="escalated")
                    accepted = accepted or (dep, resp)
                    continue
            self._record(decision, dep, t, None)
            return dep, resp, upstream_s
        if accepted is not None:  # every stronger model failed: the weak answer is better than none
            return accepted[0], accepted[1], upstream_s
        raise self._exhausted(decision, last)

    def _exhausted(self, decision: Decision, last: GatewayError | None) -> GatewayError:
        tried = ", ".join(f"{a.deployment} ({a.error})" for a in decision.attempts if a.outcome == "error")
        msg = f"every eligible deployment failed; tried: {tried or 'none within the deadline'}"
        err_cls = type(last) if isinstance(last, UpstreamError) else UpstreamTimeout
        dep = last.deployment if isinstance(last, UpstreamError) else "none"
        err = err_cls.__new__(err_cls)
        UpstreamError.__init__(err, msg, deployment=dep, details={"attempts": [a.as_dict() for a in decision.attempts]})
        if isinstance(last, UpstreamRateLimited) and last.retry_after:
            err.headers["Retry-After"] = str(int(last.retry_after + 0.999))
        return err

    def _slot(self, dep: Deployment) -> Any:
        if self.health is not None:
            return self.health.slot(dep)
        return _NULL_SLOT

    async def open_stream(
        self, order: list[Deployment], body_for: BodyFor, decision: Decision, deadline: float,
    ) -> Opened:
        """Fail over transparently until some deployment produced its first chunk."""
        last: GatewayError | None = None
        for i, dep in enumerate(self._schedule(order)):
            if i and i % len(order) == 0:
                await self._pause(i // len(order), last, deadline)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            t = time.perf_counter()
            slot = self._slot(dep)
            await slot.__aenter__()
            it = self.providers[dep.id].stream(body_for(dep)).__aiter__()
            first_timeout = min(remaining, (self.providers[dep.id].timeouts.first_token))
            try:
                async with asyncio.timeout(first_timeout):
                    first = await it.__anext__()
            except (UpstreamError, TimeoutError, StopAsyncIteration) as exc:
                await slot.__aexit__(None, None, None)
                await _aclose(it)
                if isinstance(exc, UpstreamError):
                    err: GatewayError = exc
                elif isinstance(exc, TimeoutError):
                    err = UpstreamTimeout(f"deployment '{dep.id}' sent no first token in time", deployment=dep.id)
                else:
                    err = UpstreamTimeout(f"deployment '{dep.id}' ended the stream without data", deployment=dep.id)
                self._record(decision, dep, t, err)
                if isinstance(err, UpstreamError) and not err.retryable:
                    raise err from None
                last = err
                continue
            self._record(decision, dep, t, None)
            return Opened(dep, first, _released(it, slot), time.perf_counter() - t)
        raise self._exhausted(decision, last)


async def _aclose(it: Any) -> None:
    close = getattr(it, "aclose", None)
    if close is not None:
        try:
            await close()
        except Exception:  # closing a failed upstream stream must not mask the original error
            return


async def _released(it: AsyncIterator[dict[str, Any]], slot: Any) -> AsyncIterator[dict[str, Any]]:
    try:
        async for chunk in it:
            yield chunk
    finally:
        await _aclose(it)
        await slot.__aexit__(None, None, None)


class _NullSlot:
    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, *exc: object) -> None:
        return None


_NULL_SLOT = _NullSlot()
