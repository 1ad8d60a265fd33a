"""Calling the ranked deployments: fallbacks, retries, deadlines, breakers, verification.

The chain is the router's ranking of *eligible* deployments only, so a fallback can never
reach a deployment the tenant's policy excluded. Retryable failures (connect errors, 429,
5xx, timeouts) move on to the next deployment; a 4xx caused by the request stops at once.
When the chain is exhausted and attempts remain, it starts over after a jittered backoff
(at least the upstream's ``Retry-After``). Deployments whose circuit breaker is open are
skipped; a full concurrency queue moves on too. Every skip, failure and breaker transition
is written to the decision (``attempts`` and ``notes``).

Timeouts: ``connect`` is the provider's socket connect; ``first_token`` bounds a stream's
first chunk (a non-streaming answer's first byte, via the provider's read timeout); ``idle``
bounds the gap between streamed chunks; ``total`` bounds one attempt; the request's deadline
bounds everything, including the wait for a concurrency slot.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

from aiguillage import metrics
from aiguillage.config import Deployment, ResilienceSettings
from aiguillage.decision import Attempt, Decision
from aiguillage.errors import GatewayError, Overloaded, UpstreamError, UpstreamRateLimited, UpstreamTimeout
from aiguillage.providers.base import Provider
from aiguillage.providers.http import call_deadline
from aiguillage.providers.shape import SHAPE_ERRORS, checked_chunk, checked_completion, provider_failed
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


class _Chain:
    """Book-keeping of one request's walk along the chain."""

    def __init__(self) -> None:
        self.last: GatewayError | None = None
        self.called = 0
        self.open_skipped: list[str] = []
        self.overloaded: Overloaded | None = None
        self.deadline_hit = False
        self.pauses = 0  # the last round that was preceded by a back-off pause


class Caller:
    def __init__(self, providers: dict[str, Provider], settings: ResilienceSettings, health: Any = None) -> None:
        self.providers = providers
        self.settings = settings
        self.health = health  # breakers / concurrency limits (aiguillage.health), optional

    def _walk(self, order: list[Deployment], chain: _Chain) -> Iterator[tuple[int, Deployment]]:
        """(round, deployment) in chain order, round after round, until ``max_attempts`` calls were
        made (at least one per deployment). A skipped deployment (breaker open, queue full) costs
        no attempt, so a healthy fallback gets the retries."""
        limit = max(self.settings.max_attempts, len(order))
        for round_no in range(limit):
            for dep in order:
                if chain.called >= limit:
                    return
                yield round_no, dep

    async def _pause(self, round_no: int, err: GatewayError | None, deadline: float) -> None:
        wait = self.settings.backoff_base_s * (2 ** (round_no - 1)) * random.uniform(0.5, 1.5)
        if isinstance(err, UpstreamRateLimited) and err.retry_after:
            wait = max(wait, err.retry_after)
        wait = min(wait, max(0.0, deadline - time.monotonic() - 0.01))
        if wait > 0:
            await asyncio.sleep(wait)

    # -- breakers and slots ---------------------------------------------------------------------
    def _admit(self, dep: Deployment, decision: Decision, chain: _Chain) -> bool:
        if self.health is None:
            return True
        ok, note = self.health.admit(dep.id)
        if note:
            decision.notes.append(note)
        if not ok:
            chain.open_skipped.append(dep.id)
            skip = f"skipped {dep.id}: circuit breaker open"
            if skip not in decision.notes:  # once per request, not once per round
                decision.notes.append(skip)
                metrics.FALLBACKS.labels(dep.id, "breaker_open").inc()
        return ok

    def _observe(self, decision: Decision, dep_id: str, ok: bool) -> None:
        if self.health is not None:
            note = self.health.observe(dep_id, ok)
            if note:
                decision.notes.append(note)

    def _no_verdict(self, dep_id: str) -> None:
        """The attempt ended for reasons not the deployment's (deadline, cancellation, full queue)."""
        if self.health is not None:
            self.health.release_probe(dep_id)

    async def _enter(self, round_no: int, dep: Deployment, decision: Decision, deadline: float,
                     chain: _Chain) -> Any:
        """Everything before calling ``dep``: the back-off between rounds, the deadline, the
        breaker and the concurrency slot. The entered slot; None to skip this deployment;
        ``_GIVE_UP`` when the deadline leaves no time for any."""
        if round_no > chain.pauses and chain.called:
            chain.pauses = round_no
            await self._pause(round_no, chain.last, deadline)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return _GIVE_UP
        if not self._admit(dep, decision, chain):
            return None
        slot = await self._acquire(dep, remaining, decision, chain)
        if slot is None:
            return _GIVE_UP if chain.deadline_hit else None
        chain.called += 1
        return slot

    async def _acquire(self, dep: Deployment, remaining: float, decision: Decision, chain: _Chain) -> Any:
        """Enter the deployment's concurrency slot; None when its queue is full."""
        if self.health is None:
            return _NULL_SLOT
        slot = self.health.slot(dep)
        if slot.take_free():
            return slot
        try:
            async with asyncio.timeout(remaining):
                await slot.__aenter__()
        except Overloaded as exc:
            self._no_verdict(dep.id)
            chain.overloaded = exc
            skip = f"skipped {dep.id}: concurrency queue full"
            if skip not in decision.notes:
                decision.notes.append(skip)
                metrics.FALLBACKS.labels(dep.id, "overloaded").inc()
            return None
        except TimeoutError:
            self._no_verdict(dep.id)
            chain.deadline_hit = True
            decision.notes.append(f"the deadline passed while waiting for a concurrency slot of {dep.id}")
            return None
        except BaseException:
            self._no_verdict(dep.id)
            raise
        return slot

    def _record(self, decision: Decision, dep: Deployment, t: float, err: BaseException | None,
                outcome: str | None = None) -> None:
        ms = (time.perf_counter() - t) * 1000
        if err is None:
            decision.attempts.append(Attempt(dep.id, outcome or "ok", None, ms))
        else:
            code = getattr(err, "code", None) or type(err).__name__
            decision.attempts.append(Attempt(dep.id, "error", f"{code}: {err}", ms))
            metrics.FALLBACKS.labels(dep.id, code).inc()
        # A 4xx the upstream blames on the request says nothing against the deployment, nor does a
        # provider that failed on something it could not tell apart from the request.
        if isinstance(err, UpstreamError) and not err.blames_deployment:
            self._no_verdict(dep.id)
            return
        self._observe(decision, dep.id, err is None or (isinstance(err, UpstreamError) and not err.retryable))

    # -- non-streaming --------------------------------------------------------------------------
    async def complete(
        self, order: list[Deployment], body_for: BodyFor, decision: Decision, deadline: float,
        verifier: Verifier | None = None, prompt: str = "",
    ) -> tuple[Deployment, dict[str, Any], float]:
        """Return (deployment, OpenAI response, seconds spent upstream)."""
        chain = _Chain()
        upstream_s = 0.0
        accepted: tuple[Deployment, dict[str, Any]] | None = None
        for round_no, dep in self._walk(order, chain):
            slot = await self._enter(round_no, dep, decision, deadline, chain)
            if slot is _GIVE_UP:
                break
            if slot is None:
                continue
            remaining = deadline - time.monotonic()
            limit = min(remaining, self.providers[dep.id].timeouts.total)
            t = time.perf_counter()
            bound = call_deadline.set(time.monotonic() + limit)  # the request's own limit (providers/http.py)
            try:
                async with asyncio.timeout(limit):
                    resp = await _complete(self.providers[dep.id], body_for(dep), dep.id)
            except TimeoutError:
                upstream_s += time.perf_counter() - t
                if limit < remaining:
                    chain.last = UpstreamTimeout(f"deployment '{dep.id}' exceeded its total timeout ({limit:g}s)",
                                                 deployment=dep.id)
                    self._record(decision, dep, t, chain.last)
                    continue
                # A bare timeout at the request's deadline: no time is left for a fallback.
                chain.last = UpstreamTimeout(f"deployment '{dep.id}' exceeded the request deadline", deployment=dep.id)
                decision.attempts.append(Attempt(dep.id, "error", f"{chain.last.code}: {chain.last}",
                                                 (time.perf_counter() - t) * 1000))
                self._no_verdict(dep.id)
                break
            except UpstreamError as exc:
                upstream_s += time.perf_counter() - t
                self._record(decision, dep, t, exc)
                if not exc.retryable:
                    raise
                chain.last = exc
                continue
            except BaseException:
                self._no_verdict(dep.id)
                raise
            finally:
                call_deadline.reset(bound)
                await slot.__aexit__(None, None, None)
            upstream_s += time.perf_counter() - t
            # The cascade: accept unless the verifier says a stronger model is needed.
            if verifier is not None and dep is not order[-1] and round_no == 0:
                score = verifier.score(prompt, answer_text(resp))
                details = decision.router.setdefault("details", {})
                details.setdefault("verifier_scores", {})[dep.id] = round(score, 4)
                details["verifier_threshold"] = verifier.threshold
                if score >= verifier.threshold:
                    self._record(decision, dep, t, None, outcome="escalated")
                    # The escalated answer was paid for too: the pipeline charges its usage.
                    decision.attempts[-1].usage = resp.get("usage") or {}
                    accepted = accepted or (dep, resp)
                    continue
            self._record(decision, dep, t, None)
            return dep, resp, upstream_s
        if accepted is not None:  # every stronger model failed: the weak answer is better than none
            return accepted[0], accepted[1], upstream_s
        raise self._exhausted(decision, chain)

    def _exhausted(self, decision: Decision, chain: _Chain) -> GatewayError:
        if not chain.called and chain.open_skipped and chain.overloaded is None:
            wait = self.health.retry_after(chain.open_skipped) if self.health is not None else 1
            return Overloaded(
                f"every eligible deployment is failing (circuit breaker open: "
                f"{', '.join(dict.fromkeys(chain.open_skipped))}); retry in {wait}s",
                code="deployments_unavailable", headers={"Retry-After": str(wait)})
        if not chain.called and chain.overloaded is not None and not chain.deadline_hit:
            return chain.overloaded
        last = chain.last
        tried = ", ".join(f"{a.deployment} ({a.error})" for a in decision.attempts if a.outcome == "error")
        msg = f"every eligible deployment failed; tried: {tried or 'none within the deadline'}"
        err_cls = type(last) if isinstance(last, UpstreamError) else UpstreamTimeout
        dep = last.deployment if isinstance(last, UpstreamError) else "none"
        err = err_cls.__new__(err_cls)
        UpstreamError.__init__(err, msg, deployment=dep, details={"attempts": [a.as_dict() for a in decision.attempts]})
        if isinstance(last, UpstreamRateLimited) and last.retry_after:
            err.headers["Retry-After"] = str(int(last.retry_after + 0.999))
        return err

    # -- streaming ------------------------------------------------------------------------------
    async def open_stream(
        self, order: list[Deployment], body_for: BodyFor, decision: Decision, deadline: float,
    ) -> Opened:
        """Fail over transparently until some deployment produced its first chunk."""
        chain = _Chain()
        for round_no, dep in self._walk(order, chain):
            slot = await self._enter(round_no, dep, decision, deadline, chain)
            if slot is _GIVE_UP:
                break
            if slot is None:
                continue
            opened = await self._first_chunk(dep, body_for, decision, deadline, slot, chain)
            if opened is not None:
                return opened
            if chain.last is None:  # the deadline passed while waiting
                break
            if isinstance(chain.last, UpstreamError) and not chain.last.retryable:
                raise chain.last from None
        raise self._exhausted(decision, chain)

    async def _first_chunk(self, dep: Deployment, body_for: BodyFor, decision: Decision, deadline: float,
                           slot: Any, chain: _Chain) -> Opened | None:
        t = time.perf_counter()
        provider = self.providers[dep.id]
        remaining = deadline - time.monotonic()
        first_timeout = min(remaining, provider.timeouts.first_token)
        it: Any = None
        # The stream's request ends by itself once the stream must have: _released allows `total`
        # from the first chunk, which comes within first_timeout.
        bound = call_deadline.set(min(deadline, time.monotonic() + first_timeout + provider.timeouts.total))
        try:
            it = provider.stream(body_for(dep)).__aiter__()
            async with asyncio.timeout(first_timeout):
                first = await _next_chunk(it, dep.id)
        except (UpstreamError, TimeoutError, StopAsyncIteration) as exc:
            await _aclose(it)
            await slot.__aexit__(None, None, None)
            if isinstance(exc, UpstreamError):
                err: GatewayError = exc
            elif isinstance(exc, TimeoutError):
                err = UpstreamTimeout(f"deployment '{dep.id}' sent no first token in time", deployment=dep.id)
                if first_timeout >= remaining:  # the request's deadline, not the deployment's fault
                    decision.attempts.append(Attempt(dep.id, "error", f"{err.code}: {err}",
                                                     (time.perf_counter() - t) * 1000))
                    self._no_verdict(dep.id)
                    chain.last = None
                    return None
            else:
                err = UpstreamTimeout(f"deployment '{dep.id}' ended the stream without data", deployment=dep.id)
            self._record(decision, dep, t, err)
            chain.last = err
            return None
        except BaseException:
            await _aclose(it)
            await slot.__aexit__(None, None, None)
            self._no_verdict(dep.id)
            raise
        finally:
            call_deadline.reset(bound)
        self._record(decision, dep, t, None)
        rest = self._released(it, slot, dep, decision, deadline, time.monotonic())
        return Opened(dep, first, rest, time.perf_counter() - t)

    async def _released(self, it: AsyncIterator[dict[str, Any]], slot: Any, dep: Deployment, decision: Decision,
                        deadline: float, started: float) -> AsyncIterator[dict[str, Any]]:
        """The rest of a stream, with the idle, total and deadline limits; frees the slot at the end."""
        t = self.providers[dep.id].timeouts
        end = min(deadline, started + t.total)
        try:
            while True:
                wait = min(t.idle, end - time.monotonic())
                try:
                    async with asyncio.timeout(max(0.0, wait)):
                        chunk = await _next_chunk(it, dep.id)
                except StopAsyncIteration:
                    return
                except TimeoutError:
                    what = f"sent nothing for {t.idle:g}s" if wait >= t.idle else "exceeded the time limit"
                    err = UpstreamTimeout(f"deployment '{dep.id}' {what} mid-stream", deployment=dep.id)
                    self._observe(decision, dep.id, False)
                    raise err from None
                except UpstreamError as exc:
                    if exc.blames_deployment:
                        self._observe(decision, dep.id, False)
                    else:
                        self._no_verdict(dep.id)
                    raise
                yield chunk
        finally:
            await _aclose(it)
            await slot.__aexit__(None, None, None)


async def _complete(provider: Provider, body: dict[str, Any], deployment: str) -> dict[str, Any]:
    try:
        resp = await provider.complete(body)
    except SHAPE_ERRORS as exc:
        raise provider_failed(deployment, exc) from exc
    return checked_completion(deployment, resp)


async def _next_chunk(it: AsyncIterator[dict[str, Any]], deployment: str) -> dict[str, Any]:
    try:
        chunk = await it.__anext__()
    except SHAPE_ERRORS as exc:
        raise provider_failed(deployment, exc) from exc
    return checked_chunk(deployment, chunk)


async def _aclose(it: Any) -> None:
    close = getattr(it, "aclose", None)
    if close is not None:
        try:
            await close()
        except Exception:  # closing a failed upstream stream must not mask the original error
            return


class _NullSlot:
    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, *exc: object) -> None:
        return None


_NULL_SLOT = _NullSlot()
_GIVE_UP = object()  # _enter: the deadline has passed, stop walking the chain
