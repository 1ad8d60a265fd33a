"""The gateway: long-lived parts (catalog, providers, keys, writer) built once per process.

``Gateway`` owns the resources; the request path itself lives in ``aiguillage.pipeline``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from aiguillage import metrics
from aiguillage.config import Deployment, Settings, TenantPolicy
from aiguillage.keys import KeyCache, KeyInfo, KeyStore, hash_key
from aiguillage.providers.base import Provider, load_provider_class
from aiguillage.providers.http import UpstreamHttp
from aiguillage.routing.base import CheapestRouter, Router
from aiguillage.store.db import Database
from aiguillage.store.writer import GroupCommitWriter, Sink
from aiguillage.call import Caller
from aiguillage.outcomes import Outcomes
from aiguillage.sovereignty import Inspector
from aiguillage.telemetry import Tracing

log = logging.getLogger(__name__)


class Gateway:
    def __init__(self, settings: Settings, db: Database | None = None) -> None:
        self.settings = settings
        self.db = db or Database.for_settings(settings)
        self.http: UpstreamHttp | None = None
        self.providers: dict[str, Provider] = {}
        self.provider_classes: dict[str, type[Provider]] = {
            d.id: load_provider_class(d.provider) for d in settings.models
        }
        self.jurisdictions = {d.id: self.provider_classes[d.id].jurisdiction_of(d) for d in settings.models}
        self.capabilities = {d.id: self.provider_classes[d.id].effective_capabilities(d) for d in settings.models}
        self.keys = KeyCache(KeyStore(self.db))
        self.sinks: list[Sink] = []
        self.writer: GroupCommitWriter | None = None
        self.caller: Caller | None = None
        self._routers: dict[int, Router] = {}
        self._misses: dict[str, float] = {}  # unknown key hash -> refuse without a lookup until
        self.ready = False
        self.inflight = 0  # HTTP requests being served by this process (the app counts them)
        self.started_at = time.time()
        self.audit: Any = None
        self.accounting: Any = None
        self.inspector = Inspector(settings)
        self.outcomes = Outcomes(self.db)
        self.tracing = Tracing(settings.otlp_endpoint)
        self.metrics = metrics.Flusher()
        self._record_watch: asyncio.Task[None] | None = None

    # -- lifecycle -----------------------------------------------------------------------------
    async def start(self) -> None:
        self.db.migrate()
        self.keys.start()
        self.http = UpstreamHttp()
        self._build_extensions()
        for policy in (self.settings.default_policy, *self.settings.tenants.values()):
            self.router_for(policy)  # load every router artifact now: fail at start, not on a request
        self.writer = GroupCommitWriter(self.db, self.sinks, timeout_s=self.settings.resilience.record_timeout_s)
        self.writer.start()
        self._record_watch = asyncio.get_running_loop().create_task(self._expire_records(self.writer))
        for d in self.settings.models:
            self.providers[d.id] = self.provider_classes[d.id](d, self.http, self.settings.resilience.timeouts)
        warm = [p.start() for p in self.providers.values()]
        if self.inspector.needed_by_any(self.settings):
            from aiguillage.inspect import warm_up

            warm.append(asyncio.to_thread(warm_up))
        await asyncio.gather(*warm)
        from aiguillage.health import Health  # breakers, concurrency limits, active checks (per process)

        self.health = Health(self.settings.resilience, list(self.settings.models), self.providers, self.http)
        self.health.start()
        self.caller = Caller(self.providers, self.settings.resilience, self._health())
        self.metrics.start()
        self.ready = True

    def _build_extensions(self) -> None:
        """Audit log, accounting and inspection, each from its own package."""
        from aiguillage.extensions import build_extensions

        build_extensions(self)

    async def _expire_records(self, writer: GroupCommitWriter) -> None:
        """Answer the requests whose record the database has not confirmed in time (503), and
        while the database is down, find out when it is back: a few times per
        ``record_timeout_s``, at least every second."""
        interval = min(1.0, self.settings.resilience.record_timeout_s / 4)
        while True:
            await asyncio.sleep(interval)
            try:
                writer.expire_overdue()
                writer.probe_if_down()
            except Exception:  # the watch must outlive any one failure
                log.exception("expiring unconfirmed records failed")

    def _health(self) -> Any:
        return getattr(self, "health", None)

    async def close(self) -> None:
        self.ready = False
        if self._record_watch is not None:
            self._record_watch.cancel()
            self._record_watch = None
        await self.metrics.stop()
        for p in self.providers.values():
            await p.close()
        if self.http is not None:
            await self.http.close()
        if self.writer is not None:
            await asyncio.to_thread(self.writer.close)
        if self.audit is not None:
            await asyncio.to_thread(self.audit.checkpoint)
        if self.accounting is not None:
            await self.accounting.close()
        self.tracing.shutdown()
        self.keys.stop()
        self.db.dispose()

    # -- lookups used by the request path -----------------------------------------------------
    async def authenticate(self, key: str | None) -> KeyInfo | None:
        if not key:
            return None
        h = hash_key(key)
        info = self.keys.get_cached(h)
        if info is None:
            # A key the database did not know a moment ago is refused without asking again, so
            # random bearer tokens cannot turn into one database query each. New keys are random,
            # so no real key was ever looked up before its creation.
            now = time.monotonic()
            if self._misses.get(h, 0.0) > now:
                return None
            info = await asyncio.to_thread(self.keys.lookup_slow, h)
            if info is None:
                if len(self._misses) > 100_000:
                    self._misses.clear()
                self._misses[h] = now + 1.0
        if info is None or not info.valid(time.time()):
            return None
        return info

    def policy(self, tenant: str) -> TenantPolicy:
        return self.settings.policy_for(tenant)

    def router_for(self, policy: TenantPolicy) -> Router:
        key = id(policy.router)
        router = self._routers.get(key)
        if router is None:
            router = self._build_router(policy)
            self._routers[key] = router
        return router

    def _build_router(self, policy: TenantPolicy) -> Router:
        if policy.router.strategy == "cheapest":
            return CheapestRouter()
        from aiguillage.routing import build_router

        return build_router(policy.router, list(self.settings.models))

    def jurisdiction_of(self, d: Deployment) -> str:
        return self.jurisdictions[d.id]

    def capabilities_of(self, d: Deployment) -> frozenset[str]:
        return self.capabilities[d.id]


