"""Deployment health: circuit breakers, concurrency limits and optional active checks.

State is per worker process: each worker (and each replica) protects itself from a failing
deployment on its own evidence, with no shared store on the hot path. With N workers a
deployment sees up to N half-open probes and N times ``max_concurrency`` requests at once.

A breaker opens after ``breaker_failures`` retryable failures within ``breaker_window_s``;
after ``breaker_cooldown_s`` it lets one probe request through (half-open); the probe's
outcome closes it or opens it again. An open breaker does not make a deployment ineligible
(that would turn an outage into a 403): the caller skips it, and fails fast with 503 when
every deployment of the chain is open.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from typing import Any

from prometheus_client import Counter, Gauge

from aiguillage import metrics
from aiguillage.config import Deployment, ResilienceSettings
from aiguillage.errors import Overloaded, UpstreamError

log = logging.getLogger(__name__)

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"

TRANSITIONS = Counter("aiguillage_breaker_transitions", "Circuit-breaker state changes", ["deployment", "to"])
INFLIGHT = Gauge("aiguillage_deployment_inflight", "Requests in flight per deployment", ["deployment"],
                 multiprocess_mode="livesum")
QUEUED = Gauge("aiguillage_deployment_queued", "Requests waiting for a concurrency slot", ["deployment"],
               multiprocess_mode="livesum")
REJECTED = Counter("aiguillage_deployment_rejected", "Requests refused because the queue was full", ["deployment"])


class Breaker:
    """One deployment's circuit breaker. Time comes from ``time.monotonic``."""

    def __init__(self, dep_id: str, failures: int, window_s: float, cooldown_s: float) -> None:
        self.dep_id = dep_id
        self.threshold = failures
        self.window_s = window_s
        self.cooldown_s = cooldown_s
        self.state = CLOSED
        self.failures: deque[float] = deque()
        self.opened_at = 0.0
        self.probing = False  # a half-open probe is in flight
        metrics.BREAKER.labels(dep_id).set(0)

    def _move(self, to: str, why: str) -> str:
        frm, self.state = self.state, to
        TRANSITIONS.labels(self.dep_id, to).inc()
        metrics.BREAKER.labels(self.dep_id).set(1 if to == OPEN else 0)
        note = f"breaker {self.dep_id}: {frm} -> {to} ({why})"
        log.warning(note)
        return note

    def tick(self, now: float) -> str | None:
        """Open → half-open once the cool-down has passed."""
        if self.state == OPEN and now - self.opened_at >= self.cooldown_s:
            self.probing = False
            return self._move(HALF_OPEN, f"cool-down of {self.cooldown_s:g}s over")
        return None

    def view(self, now: float) -> str:
        """The state without moving it: the transition itself happens in the request that probes,
        so it is written to that request's decision record."""
        if self.state == OPEN and now - self.opened_at >= self.cooldown_s:
            return HALF_OPEN
        return self.state

    def admit(self, now: float) -> tuple[bool, str | None]:
        """May a request go to this deployment now? Returns (allowed, transition note)."""
        note = self.tick(now)
        if self.state == CLOSED:
            return True, note
        if self.state == HALF_OPEN and not self.probing:
            self.probing = True
            return True, note
        return False, note

    def retry_after(self, now: float) -> float:
        if self.state == OPEN:
            return max(0.0, self.cooldown_s - (now - self.opened_at))
        return 0.0

    def record(self, ok: bool, now: float) -> str | None:
        if self.state == HALF_OPEN:
            self.probing = False
            if ok:
                self.failures.clear()
                return self._move(CLOSED, "half-open probe succeeded")
            self.opened_at = now
            return self._move(OPEN, "half-open probe failed")
        if ok or self.state == OPEN:
            return None
        self.failures.append(now)
        while self.failures and now - self.failures[0] > self.window_s:
            self.failures.popleft()
        if len(self.failures) >= self.threshold:
            self.failures.clear()
            self.opened_at = now
            return self._move(OPEN, f"{self.threshold} failures within {self.window_s:g}s")
        return None

    def release_probe(self) -> None:
        """A probe that ended without a verdict (e.g. cancelled) frees the half-open slot."""
        self.probing = False


class Slot:
    """One call's place in a deployment's concurrency limit (an async context manager).

    ``take_free`` enters without awaiting when a slot is free, so the caller can skip the
    timeout scope a wait would need: per request, that scope cost more than the slot itself."""

    __slots__ = ("limiter", "t")

    def __init__(self, limiter: Limiter) -> None:
        self.limiter = limiter
        self.t = 0.0

    def take_free(self) -> bool:
        if not self.limiter.try_acquire():
            return False
        self._entered()
        return True

    def _entered(self) -> None:
        metrics.child(INFLIGHT, self.limiter.dep_id).inc()
        self.t = time.monotonic()

    async def __aenter__(self) -> None:
        await self.limiter.acquire()
        self._entered()

    async def __aexit__(self, *exc: object) -> None:
        metrics.child(INFLIGHT, self.limiter.dep_id).dec()
        self.limiter.release(time.monotonic() - self.t)


class Limiter:
    """At most ``limit`` calls at once, at most ``queue_size`` waiting; beyond that: 503."""

    def __init__(self, dep_id: str, limit: int | None, queue_size: int) -> None:
        self.dep_id = dep_id
        self.limit = limit
        self.queue_size = queue_size
        self.active = 0
        self.waiters: deque[asyncio.Future[None]] = deque()
        self.mean_s = 1.0  # moving average of a call's duration, for Retry-After

    def _retry_after(self) -> int:
        per_slot = self.mean_s * (len(self.waiters) + 1) / max(1, self.limit or 1)
        return max(1, math.ceil(per_slot))

    def try_acquire(self) -> bool:
        """Take a free slot without waiting (the common case: no await, no timeout scope)."""
        if self.limit is None or (self.active < self.limit and not self.waiters):
            self.active += 1
            return True
        return False

    async def acquire(self) -> None:
        if self.try_acquire():
            return
        if len(self.waiters) >= self.queue_size:
            REJECTED.labels(self.dep_id).inc()
            raise Overloaded(
                f"deployment '{self.dep_id}' is at its concurrency limit ({self.limit}) and its queue "
                f"({self.queue_size}) is full; retry later",
                headers={"Retry-After": str(self._retry_after())},
            )
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiters.append(fut)
        QUEUED.labels(self.dep_id).inc()
        try:
            await fut  # release() hands its slot over (active stays counted)
        except BaseException:
            if fut.done() and not fut.cancelled():
                self._release_slot()  # the slot was handed over just as we were cancelled
            elif fut in self.waiters:
                self.waiters.remove(fut)
            raise
        finally:
            QUEUED.labels(self.dep_id).dec()

    def _release_slot(self) -> None:
        while self.waiters:
            fut = self.waiters.popleft()
            if not fut.done():
                fut.set_result(None)
                return
        self.active -= 1

    def release(self, took_s: float) -> None:
        self.mean_s = 0.9 * self.mean_s + 0.1 * took_s
        if self.limit is None:
            self.active -= 1
            return
        self._release_slot()


class Health:
    """Breakers and limiters for every deployment of the catalog (see the module docstring)."""

    def __init__(self, settings: ResilienceSettings, deployments: list[Deployment],
                 providers: dict[str, Any] | None = None, http: Any = None) -> None:
        self.settings = settings
        self.breakers = {d.id: Breaker(d.id, settings.breaker_failures, settings.breaker_window_s,
                                       settings.breaker_cooldown_s) for d in deployments}
        self.limiters = {d.id: Limiter(d.id, d.max_concurrency, d.queue_size) for d in deployments}
        self.deployments = {d.id: d for d in deployments}
        self.providers = providers or {}
        self.http = http
        self._checker: asyncio.Task[None] | None = None

    # -- used by the request path ----------------------------------------------------------------
    def unavailable(self, d: Deployment) -> str | None:
        """Eligibility hook: always None. Health is availability, not policy: excluding a failing
        deployment here would turn an outage into a 403; the caller skips it instead (or 503s)."""
        return None

    def status(self, dep_id: str) -> str:
        """For GET /v1/models: available, degraded (half-open) or unavailable (open)."""
        b = self.breakers.get(dep_id)
        if b is None:
            return "available"
        return {CLOSED: "available", HALF_OPEN: "degraded", OPEN: "unavailable"}[b.view(time.monotonic())]

    def breaker_state(self, dep_id: str) -> str:
        return self.breakers[dep_id].view(time.monotonic())

    def admit(self, dep_id: str) -> tuple[bool, str | None]:
        return self.breakers[dep_id].admit(time.monotonic())

    def retry_after(self, dep_ids: list[str]) -> int:
        now = time.monotonic()
        waits = [self.breakers[i].retry_after(now) for i in dep_ids]
        return max(1, math.ceil(min(waits))) if waits else 1

    def observe(self, dep_id: str, ok: bool) -> str | None:
        """Record a call's outcome; returns the breaker transition it caused, if any."""
        return self.breakers[dep_id].record(ok, time.monotonic())

    def release_probe(self, dep_id: str) -> None:
        self.breakers[dep_id].release_probe()

    def slot(self, dep: Deployment) -> Slot:
        return Slot(self.limiters[dep.id])

    def snapshot(self) -> dict[str, dict[str, Any]]:
        now = time.monotonic()
        out = {}
        for dep_id, b in self.breakers.items():
            lim = self.limiters[dep_id]
            out[dep_id] = {"breaker": b.view(now), "inflight": lim.active, "queued": len(lim.waiters)}
        return out

    # -- optional active checks --------------------------------------------------------------------
    def start(self) -> None:
        if self.settings.health_check_interval_s and self._checker is None:
            self._checker = asyncio.get_running_loop().create_task(self._check_loop(),
                                                                  name="aiguillage-health-checks")

    async def close(self) -> None:
        if self._checker is not None:
            self._checker.cancel()
            try:
                await self._checker
            except asyncio.CancelledError:
                pass
            self._checker = None

    async def _check_loop(self) -> None:
        interval = float(self.settings.health_check_interval_s or 30)
        while True:
            await asyncio.sleep(interval)
            await asyncio.gather(*(self.check_one(i) for i in self.deployments), return_exceptions=True)

    async def check_one(self, dep_id: str) -> bool:
        """GET {base_url}/models. A failure counts against the breaker; a success ends an open period early."""
        ok = await self._probe(dep_id)
        b = self.breakers[dep_id]
        now = time.monotonic()
        if ok and b.state == OPEN:
            b.opened_at = now - b.cooldown_s  # let the next request probe it (half-open)
            b.tick(now)
        elif not ok and b.state == CLOSED:
            b.record(False, now)
        return ok

    async def _probe(self, dep_id: str) -> bool:
        provider = self.providers.get(dep_id)
        base = getattr(provider, "base_url", "") if provider is not None else ""
        if provider is None or not base or self.http is None:
            return bool(provider is None or provider.ready)
        try:
            status = await self.http.get_status(provider.timeouts, f"{base}/models", _auth(provider), dep_id)
        except UpstreamError:
            return False
        # Up: it answers, even if refusing the probe (401, 404). A redirect is not followed by
        # requests either (providers/http.py), so it is as good as down.
        return status < 300 or 400 <= status < 500


def _auth(provider: Any) -> dict[str, str]:
    headers = getattr(provider, "_headers", None)
    return headers() if callable(headers) else {}
