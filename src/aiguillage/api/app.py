"""The HTTP edge: a raw ASGI application (no framework objects on the hot path).

``create_app(settings)`` returns the ASGI callable; routes are a dict from (method, path) to a
handler coroutine. Every error leaves as the OpenAI error format through ``_send_error``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from aiguillage import metrics
from aiguillage.api import openapi
from aiguillage.api.validate import ChatRequest, parse_chat, parse_json
from aiguillage.config import Settings
from aiguillage.decision import new_id
from aiguillage.errors import AuthenticationError, GatewayError, InvalidRequest, NotFound, PayloadTooLarge
from aiguillage.gateway import Gateway
from aiguillage.keys import KeyInfo
from aiguillage.embeddings import EmbeddingsPipeline
from aiguillage.pipeline import ChatPipeline
from aiguillage.shadow import Shadow

log = logging.getLogger("aiguillage")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

_JSON = (b"content-type", b"application/json")
_SSE = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache"), (b"x-accel-buffering", b"no")]

class Request:
    """The little we need from an HTTP request, read straight from the ASGI scope."""

    __slots__ = ("scope", "receive", "headers", "request_id", "key")

    def __init__(self, scope: Scope, receive: Receive) -> None:
        self.scope = scope
        self.receive = receive
        self.headers: dict[bytes, bytes] = dict(scope["headers"])
        rid = self.headers.get(b"x-request-id")
        self.request_id = rid.decode("latin-1")[:128] if rid else new_id()
        self.key: KeyInfo | None = None

    def header(self, name: bytes) -> str | None:
        v = self.headers.get(name)
        return v.decode("latin-1") if v is not None else None

    async def body(self, limit: int) -> bytes:
        cl = self.headers.get(b"content-length")
        if cl is not None:
            try:
                n = int(cl)
            except ValueError:
                raise InvalidRequest("invalid Content-Length header") from None
            if n > limit:
                raise PayloadTooLarge(f"the request body is {n} bytes; the limit is {limit} bytes")
        chunks: list[bytes] = []
        size = 0
        while True:
            msg = await self.receive()
            if msg["type"] == "http.disconnect":
                raise InvalidRequest("the client disconnected while sending the body")
            part = msg.get("body", b"")
            size += len(part)
            if size > limit:
                raise PayloadTooLarge(f"the request body exceeds the limit of {limit} bytes")
            chunks.append(part)
            if not msg.get("more_body"):
                return b"".join(chunks) if len(chunks) != 1 else chunks[0]


def _headers(req: Request, extra: dict[str, str] | None = None) -> list[tuple[bytes, bytes]]:
    out = [(b"x-request-id", req.request_id.encode("latin-1"))]
    if extra:
        out.extend((k.encode("latin-1"), v.encode("latin-1", "replace")) for k, v in extra.items())
    return out


async def send_json(send: Send, status: int, body: Any, headers: list[tuple[bytes, bytes]]) -> None:
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    await send({"type": "http.response.start", "status": status,
                "headers": [_JSON, (b"content-length", str(len(data)).encode()), *headers]})
    await send({"type": "http.response.body", "body": data})


async def _send_error(send: Send, req: Request, err: GatewayError) -> None:
    await send_json(send, err.status, err.to_body(), _headers(req, err.headers))


Handler = Callable[[Request, Send], Awaitable[None]]


class App:
    def __init__(self, settings: Settings, gateway: Gateway | None = None) -> None:
        self.settings = settings
        self.gw = gateway or Gateway(settings)
        self.chat = ChatPipeline(self.gw)
        self.chat.shadow = Shadow(self.chat, self.gw.outcomes)
        self.embeddings = EmbeddingsPipeline(self.chat)
        self.limit = settings.server.max_body_bytes
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

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self.http(scope, receive, send)
        elif kind == "lifespan":
            await self.lifespan(receive, send)

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
                await send({"type": "lifespan.startup.complete"})
            elif msg["type"] == "lifespan.shutdown":
                # The server has stopped accepting connections (SIGTERM); finish what is in flight,
                # then flush the audit and ledger writers (Gateway.close) before the process exits.
                await self.drain()
                health = getattr(self.gw, "health", None)
                if health is not None:
                    await health.close()
                try:
                    await self.gw.close()
                except Exception:
                    log.exception("shutdown: closing the gateway failed")
                await send({"type": "lifespan.shutdown.complete"})
                return

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
        return None

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        req = Request(scope, receive)
        method, path = scope["method"], scope["path"]
        hit = self._resolve(method, path)
        self.gw.inflight += 1
        try:
            if hit is None:
                known = any(p == path for _, p in self.routes)
                err: GatewayError = (InvalidRequest(f"method {method} is not allowed on {path}", code="method_not_allowed")
                                     if known else NotFound(f"no route {method} {path}", code="not_found"))
                if known:
                    err.status = 405
                await _send_error(send, req, err)
                return
            handler, needs_key = hit
            if needs_key:
                req.key = await self.gw.authenticate(_api_key(req))
                if req.key is None:
                    await _send_error(send, req, AuthenticationError(
                        "missing or invalid API key: send 'Authorization: Bearer <key>' "
                        "(create one with: aiguillage keys create --tenant NAME)"))
                    return
            await handler(req, send)
        except GatewayError as exc:
            await _send_error(send, req, exc)
        except Exception:
            log.exception("unhandled error on %s %s", method, path)
            await _send_error(send, req, GatewayError(
                "internal error in the gateway; the request id identifies it in the logs"))
        finally:
            self.gw.inflight -= 1

    # -- handlers ------------------------------------------------------------------------------
    async def healthz(self, req: Request, send: Send) -> None:
        ready = self.gw.ready and not self.draining
        await send_json(send, 200 if ready else 503, {"status": "ok" if ready else "starting"}, _headers(req))

    async def metrics(self, req: Request, send: Send) -> None:
        data, ctype = metrics.render()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", ctype.encode()), *_headers(req)]})
        await send({"type": "http.response.body", "body": data})

    async def models(self, req: Request, send: Send) -> None:
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
        await send_json(send, 200, {"object": "list", "data": data}, _headers(req))

    async def run_chat(self, req: Request, chat: ChatRequest, endpoint: str
                       ) -> tuple[dict[str, str], dict[str, Any] | None, Any]:
        """The pipeline for any chat-shaped endpoint: (headers, body) or (headers, chunk iterator)."""
        assert req.key is not None
        prep = await self.chat.prepare(req.key, chat, req.request_id, endpoint,
                                       req.header(b"x-aiguillage-subject"), _deadline(req))
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

    async def chat_completions(self, req: Request, send: Send) -> None:
        chat = parse_chat(parse_json(await req.body(self.limit)))
        headers, body, items = await self.run_chat(req, chat, "/v1/chat/completions")
        if items is None:
            await send_json(send, 200, body, _headers(req, headers))
        else:
            await stream_out(send, _headers(req, headers), openai_sse(items))

    async def decision(self, req: Request, send: Send) -> None:
        decision_id = req.scope["path"].rsplit("/", 1)[-1]
        audit = self.gw.audit
        record = None
        if audit is not None and req.key is not None:
            # An admin key reads any tenant's decisions; every other key only its own tenant's.
            tenant = None if req.key.admin else req.key.tenant
            record = await asyncio.to_thread(audit.get_decision, decision_id, tenant)
        if record is None:
            raise NotFound(f"no decision '{decision_id}' for this tenant", code="decision_not_found")
        await send_json(send, 200, record, _headers(req))


async def openai_sse(items: Any) -> Any:
    """OpenAI's SSE framing: one ``data:`` line per chunk (or error), then ``[DONE]``."""
    async for item in items:
        body = item.to_body() if isinstance(item, GatewayError) else item
        yield b"data: " + orjson.dumps(body) + b"\n\n"
    yield b"data: [DONE]\n\n"


async def stream_out(send: Send, headers: list[tuple[bytes, bytes]], events: Any) -> None:
    """Send SSE bytes; if the client goes away, keep draining so the answer is still recorded
    (and the upstream stream and its concurrency slot are released)."""
    try:
        await send({"type": "http.response.start", "status": 200, "headers": [*_SSE, *headers]})
        connected = True
    except Exception:  # gone before the first byte: still consume the stream to record and release it
        connected = False
    async for event in events:
        if connected:
            try:
                await send({"type": "http.response.body", "body": event, "more_body": True})
            except Exception:  # the client disconnected; finish quietly for the ledger's sake
                connected = False
    if connected:
        try:
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except Exception:
            return


def _api_key(req: Request) -> str | None:
    auth = req.headers.get(b"authorization")
    if auth is not None:
        scheme, _, value = auth.decode("latin-1").partition(" ")
        if scheme.lower() == "bearer" and value:
            return value.strip()
    key = req.headers.get(b"x-api-key") or req.headers.get(b"api-key")
    return key.decode("latin-1").strip() if key else None


def _deadline(req: Request) -> float | None:
    raw = req.header(b"x-aiguillage-deadline-ms")
    if raw is None:
        return None
    try:
        ms = float(raw)
    except ValueError:
        raise InvalidRequest("x-aiguillage-deadline-ms must be a number of milliseconds") from None
    if not 1 <= ms <= 3_600_000:
        raise InvalidRequest("x-aiguillage-deadline-ms must be between 1 and 3600000")
    return ms / 1000


def create_app(settings: Settings) -> App:
    return App(settings)
