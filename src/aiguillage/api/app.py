"""The HTTP edge: a raw RSGI and ASGI application (no framework objects on the hot path).

``create_app(settings)`` returns the App, callable over either interface
(aiguillage.api.transport). Routes are a dict from (method, path) to a handler coroutine that
takes the Request. Every error leaves as the OpenAI error format through ``_send_error``.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from aiguillage import metrics
from aiguillage.api import openapi
from aiguillage.api.transport import AsgiRequest, Headers, Receive, Request, RsgiRequest, Scope, Send
from aiguillage.api.validate import ChatRequest, parse_chat, parse_json
from aiguillage.config import Settings
from aiguillage.errors import AuthenticationError, GatewayError, InvalidRequest, NotFound, RequestTimeout
from aiguillage.gateway import Gateway
from aiguillage.embeddings import EmbeddingsPipeline
from aiguillage.pipeline import ChatPipeline, resource_error
from aiguillage.shadow import Shadow

log = logging.getLogger("aiguillage")

_JSON = ("content-type", "application/json")
_SSE = [("content-type", "text/event-stream"), ("cache-control", "no-cache"), ("x-accel-buffering", "no")]

def _headers(req: Request, extra: dict[str, str] | None = None) -> Headers:
    out = [("x-request-id", req.request_id)]
    if extra:
        out.extend((k, _header_value(v)) for k, v in extra.items())
    return out


def _header_value(v: str) -> str:
    # granian refuses (with a panic, not an exception) a value outside printable ASCII.
    return v if v.isascii() and v.isprintable() else "".join(c if " " <= c <= "~" else "?" for c in v)


async def send_json(req: Request, status: int, body: Any, headers: Headers) -> None:
    await req.respond(status, [_JSON, *headers], body if isinstance(body, bytes) else orjson.dumps(body))


async def _send_error(req: Request, err: GatewayError) -> None:
    await send_json(req, err.status, err.to_body(), _headers(req, err.headers))


Handler = Callable[[Request], Awaitable[None]]


class App:
    def __init__(self, settings: Settings, gateway: Gateway | None = None) -> None:
        self.settings = settings
        self.gw = gateway or Gateway(settings)
        self.chat = ChatPipeline(self.gw)
        self.chat.shadow = Shadow(self.chat, self.gw.outcomes)
        self.embeddings = EmbeddingsPipeline(self.chat)
        self.limit = settings.server.max_body_bytes
        self.body_timeout_s = settings.server.body_timeout_s
        # Body reads under way (task -> deadline) and the ones a sweep timed out; a sweep once a
        # second costs far less than a timer per request (asyncio.timeout: 11 µs each on this slow day).
        self._reading: dict[asyncio.Task[Any], float] = {}
        self._timed_out: set[asyncio.Task[Any]] = set()
        self._sweeper: asyncio.Task[None] | None = None
        self.draining = False
        self.routes: dict[tuple[str, str], tuple[Handler, bool]] = {
            ("POST", "/v1/chat/completions"): (self.chat_completions, True),
            ("GET", "/v1/models"): (self.models, True),
            ("GET", "/healthz"): (self.healthz, False),
            ("GET", "/metrics"): (self.metrics, False),
            ("GET", "/openapi.json"): (openapi.handler(self), False),
        }
        self.prefix_routes: list[tuple[str, str, Handler]] = [
            ("GET", "/v1/decisions/", self.decision),
        ]
        from aiguillage.api.extra import register_routes

        register_routes(self)

    # -- the two server interfaces (aiguillage.api.transport) -----------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI."""
        kind = scope["type"]
        if kind == "http":
            await self.http(AsgiRequest(scope, receive, send))
        elif kind == "lifespan":
            await self.lifespan(receive, send)

    async def __rsgi__(self, scope: Any, proto: Any) -> None:
        """RSGI (granian), what ``aiguillage serve`` runs."""
        if scope.proto == "http":
            await self.http(RsgiRequest(scope, proto))

    def __rsgi_init__(self, loop: asyncio.AbstractEventLoop) -> None:
        try:
            loop.run_until_complete(self.gw.start())
        except Exception:
            log.exception("start-up failed")
            raise SystemExit(1) from None
        freeze_heap()

    def __rsgi_del__(self, loop: asyncio.AbstractEventLoop) -> None:
        loop.run_until_complete(self.shutdown())

    async def lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                try:
                    await self.gw.start()
                except Exception as exc:
                    log.exception("start-up failed")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                freeze_heap()
                await send({"type": "lifespan.startup.complete"})
            elif msg["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def shutdown(self) -> None:
        """The server has stopped accepting connections (SIGTERM): finish what is in flight, then
        flush the audit and ledger writers (Gateway.close) before the process exits."""
        await self.drain()
        if self._sweeper is not None:
            self._sweeper.cancel()
        health = getattr(self.gw, "health", None)
        if health is not None:
            await health.close()
        try:
            await self.gw.close()
        except Exception:
            log.exception("shutdown: closing the gateway failed")

    async def drain(self) -> None:
        """Stop taking new work and wait for in-flight requests, up to ``server.shutdown_grace_s``."""
        self.draining = True
        grace = self.settings.server.shutdown_grace_s
        end = time.monotonic() + grace
        while self.gw.inflight and time.monotonic() < end:
            await asyncio.sleep(0.05)
        if self.gw.inflight:
            log.warning("shutdown: %d request(s) still in flight after the %gs grace period", self.gw.inflight, grace)
        # Shadow evaluations run after their answer; they record decisions too, so let them finish.
        await self.chat.shadow.drain(max(0.0, end - time.monotonic()))

    def _resolve(self, method: str, path: str) -> tuple[Handler, bool] | None:
        hit = self.routes.get((method, path))
        if hit is not None:
            return hit
        for m, prefix, handler in self.prefix_routes:
            if m == method and path.startswith(prefix):
                return handler, True
        if method == "HEAD":  # what GET would answer; the server leaves the body out
            return self._resolve("GET", path)
        return None

    def _allowed(self, path: str) -> list[str]:
        methods = {m for m, p in self.routes if p == path}
        methods |= {m for m, prefix, _ in self.prefix_routes if path.startswith(prefix)}
        if "GET" in methods:
            methods.add("HEAD")
        return sorted(methods)

    async def http(self, req: Request) -> None:
        method, path = req.method, req.path
        hit = self._resolve(method, path)
        self.gw.inflight += 1
        try:
            if hit is None:
                allowed = self._allowed(path)
                err: GatewayError = (InvalidRequest(f"method {method} is not allowed on {path}", code="method_not_allowed")
                                     if allowed else NotFound(f"no route {method} {path}", code="not_found"))
                if allowed:
                    err.status = 405
                    err.headers["Allow"] = ", ".join(allowed)
                await _send_error(req, err)
                return
            handler, needs_key = hit
            if needs_key:
                req.key = await self.gw.authenticate(_api_key(req))
                if req.key is None:
                    await _send_error(req, AuthenticationError(
                        "missing or invalid API key: send 'Authorization: Bearer <key>' "
                        "(create one with: aiguillage keys create --tenant NAME)"))
                    return
            await handler(req)
        except GatewayError as exc:
            await _send_error(req, exc)
        except Exception as exc:
            known = resource_error(exc, f"{method} {path}")  # e.g. the record could not be committed
            if known is not None:
                await _send_error(req, known)
                return
            log.exception("unhandled error on %s %s", method, path)
            await _send_error(req, GatewayError(
                "internal error in the gateway; the request id identifies it in the logs"))
        finally:
            self.gw.inflight -= 1

    async def read_body(self, req: Request) -> bytes:
        """The whole body, under the size limit and ``server.body_timeout_s`` (give or take the
        sweep's second)."""
        task = asyncio.current_task()
        assert task is not None
        if self._sweeper is None:
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep_body_reads())
        self._reading[task] = time.monotonic() + self.body_timeout_s
        try:
            return await req.body(self.limit)
        except asyncio.CancelledError:
            if task not in self._timed_out:
                raise
            task.uncancel()
            raise RequestTimeout(f"the request body did not arrive within {self.body_timeout_s:g}s") from None
        finally:
            del self._reading[task]
            self._timed_out.discard(task)

    async def _sweep_body_reads(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            now = time.monotonic()
            for task, deadline in list(self._reading.items()):
                if deadline <= now and task not in self._timed_out:
                    self._timed_out.add(task)
                    task.cancel()

    # -- handlers ------------------------------------------------------------------------------
    async def healthz(self, req: Request) -> None:
        ready = self.gw.ready and not self.draining
        await send_json(req, 200 if ready else 503, {"status": "ok" if ready else "starting"}, _headers(req))

    async def metrics(self, req: Request) -> None:
        data, ctype = metrics.render()
        await req.respond(200, [("content-type", ctype), *_headers(req)], data)

    async def models(self, req: Request) -> None:
        now = int(self.gw.started_at)
        health = getattr(self.gw, "health", None)
        data = [
            {"id": d.id, "object": "model", "created": now, "owned_by": d.provider, "tier": d.tier,
             "jurisdiction": self.gw.jurisdiction_of(d), "context_window": d.context_window,
             "languages": d.languages, "capabilities": sorted(self.gw.capabilities_of(d)),
             "price_eur_per_mtok": {"input": str(d.price_eur_per_mtok.input),
                                    "output": str(d.price_eur_per_mtok.output)},
             "status": health.status(d.id) if health is not None else "available"}
            for d in self.settings.models
        ]
        data.append({"id": "auto", "object": "model", "created": now, "owned_by": "aiguillage"})
        await send_json(req, 200, {"object": "list", "data": data}, _headers(req))

    async def run_chat(self, req: Request, chat: ChatRequest, endpoint: str
                       ) -> tuple[dict[str, str], dict[str, Any] | None, Any]:
        """The pipeline for any chat-shaped endpoint: (headers, body) or (headers, chunk iterator)."""
        assert req.key is not None
        prep = await self.chat.prepare(req.key, chat, req.request_id, endpoint,
                                       req.header("x-aiguillage-subject"), _deadline(req))
        if not chat.stream or prep.ranking.verifier is not None:
            # The cascade verifies a whole answer before releasing it, so a stream is replayed.
            result = await self.chat.complete(chat, prep)
            if not chat.stream:
                return result.headers, result.body, None
            return result.headers, None, self.chat.replay_as_stream(chat, result)
        opened = await self.chat.open_stream(chat, prep)
        overhead_ms = (time.perf_counter() - prep.t0 - opened.upstream_s) * 1000
        metrics.child(metrics.OVERHEAD).observe(overhead_ms / 1000)
        prep.decision.chosen = opened.deployment
        headers = self.chat.headers(prep, overhead_ms)
        headers.pop("x-aiguillage-cost-eur", None)  # not known until the end: sent in the final chunk
        return headers, None, self.chat.stream_events(chat, prep, opened)

    async def chat_completions(self, req: Request) -> None:
        chat = parse_chat(parse_json(await self.read_body(req)))
        headers, body, items = await self.run_chat(req, chat, "/v1/chat/completions")
        if items is None:
            await send_json(req, 200, body, _headers(req, headers))
        else:
            await stream_out(req, _headers(req, headers), openai_sse(items))

    async def decision(self, req: Request) -> None:
        decision_id = req.path.rsplit("/", 1)[-1]
        audit = self.gw.audit
        record = None
        if audit is not None and req.key is not None:
            # An admin key reads any tenant's decisions; every other key only its own tenant's.
            tenant = None if req.key.admin else req.key.tenant
            record = await asyncio.to_thread(audit.get_decision, decision_id, tenant)
        if record is None:
            raise NotFound(f"no decision '{decision_id}' for this tenant", code="decision_not_found")
        await send_json(req, 200, record, _headers(req))


async def openai_sse(items: Any) -> Any:
    """OpenAI's SSE framing: one ``data:`` line per chunk (or error), then ``[DONE]``."""
    async for item in items:
        body = item.to_body() if isinstance(item, GatewayError) else item
        yield b"data: " + orjson.dumps(body) + b"\n\n"
    yield b"data: [DONE]\n\n"


async def stream_out(req: Request, headers: Headers, events: Any) -> None:
    """Send SSE bytes; if the client goes away, keep draining so the answer is still recorded
    (and the upstream stream and its concurrency slot are released)."""
    try:
        await req.open_stream(200, [*_SSE, *headers])
        connected = True
    except Exception:  # gone before the first byte: still consume the stream to record and release it
        connected = False
    async for event in events:
        if connected:
            try:
                await req.send_chunk(event)
            except Exception:  # the client disconnected; finish quietly for the ledger's sake
                connected = False
    if connected:
        try:
            await req.close_stream()
        except Exception:
            return


def _api_key(req: Request) -> str | None:
    auth = req.header("authorization")
    if auth is not None:
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer" and value:
            return value.strip()
    key = req.header("x-api-key") or req.header("api-key")
    return key.strip() if key else None


def _deadline(req: Request) -> float | None:
    raw = req.header("x-aiguillage-deadline-ms")
    if raw is None:
        return None
    try:
        ms = float(raw)
    except ValueError:
        raise InvalidRequest("x-aiguillage-deadline-ms must be a number of milliseconds") from None
    if not 1 <= ms <= 3_600_000:
        raise InvalidRequest("x-aiguillage-deadline-ms must be between 1 and 3600000")
    return ms / 1000


def freeze_heap() -> None:
    """Called once the gateway has started: what exists by then (modules, the catalog, routers,
    pools) lives as long as the worker, so take it out of the cyclic collector's sight. Else
    every full collection walks it all with the event loop stopped: measured here, one 96 ms
    pause every few thousand requests, and about 30 µs of collector time per request on
    average, against 4 µs frozen (docs/benchmarks.md, sixth session). ``server.serve`` freezes
    the parent's heap before forking, so that this collection leaves the pages the workers share
    with it untouched."""
    gc.collect()  # garbage from start-up is freed, not frozen
    gc.freeze()


def create_app(settings: Settings) -> App:
    return App(settings)
