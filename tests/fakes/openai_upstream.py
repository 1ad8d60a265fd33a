"""A fake OpenAI-compatible model server (real HTTP on 127.0.0.1), with a request log.

Each request takes the next action from ``script`` (or ``default`` when it is empty):
``ok``, ``500``, ``429``, ``400``, ``reset`` (drop the connection), ``stall`` (sleep past the
caller's first-token timeout), ``slow`` (``latency_s`` before answering), ``midstream`` (fail after
the first streamed chunk), ``nousage`` (answer without a usage block).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from typing import Any

import orjson
from aiohttp import web


class FakeOpenAI:
    def __init__(self, name: str = "fake", answer: str = "Bonjour! Je suis un modèle.") -> None:
        self.name = name
        self.answer = answer
        self.default = "ok"
        self.script: deque[str] = deque()
        self.latency_s = 0.0
        self.stall_s = 5.0
        self.chunk_delay_s = 0.0  # pause between streamed chunks
        self.requests: list[dict[str, Any]] = []
        self.answer_for: Any = None  # optional callable(body) -> answer text
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self.port = 0
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def plan(self, *actions: str) -> None:
        with self._lock:
            self.script.extend(actions)

    def reset(self) -> None:
        with self._lock:
            self.script.clear()
            self.requests.clear()
            self.default = "ok"
            self.latency_s = 0.0
            self.chunk_delay_s = 0.0
            self.answer_for = None

    def _next(self) -> str:
        with self._lock:
            return self.script.popleft() if self.script else self.default

    # -- server ---------------------------------------------------------------------------------
    def start(self) -> FakeOpenAI:
        ready = threading.Event()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
            app = web.Application(client_max_size=64 * 1024 * 1024)
            app.router.add_post("/v1/chat/completions", self._chat)
            app.router.add_post("/v1/embeddings", self._embeddings)
            app.router.add_get("/v1/models", self._models)
            self._runner = web.AppRunner(app, access_log=None)
            self._loop.run_until_complete(self._runner.setup())
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            self._loop.run_until_complete(site.start())
            self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            ready.set()
            self._loop.run_forever()
            self._loop.run_until_complete(self._runner.cleanup())
            self._loop.close()

        self._thread = threading.Thread(target=run, daemon=True, name=f"fake-{self.name}")
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(5)

    async def _models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": self.name, "object": "model"}]})

    async def _embeddings(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append({"path": request.path, "headers": dict(request.headers), "json": body, "t": time.time()})
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        data = [{"object": "embedding", "index": i, "embedding": [0.1, 0.2, float(len(x))]} for i, x in enumerate(inputs)]
        return web.json_response({"object": "list", "data": data, "model": body.get("model"),
                                  "usage": {"prompt_tokens": 3, "total_tokens": 3}})

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        body = orjson.loads(raw)
        self.requests.append({"path": request.path, "headers": dict(request.headers), "json": body, "t": time.time()})
        action = self._next()
        if action == "slow" or self.latency_s:
            await asyncio.sleep(self.latency_s)
        if action == "stall":
            await asyncio.sleep(self.stall_s)
        if action in ("500", "503", "502"):
            return web.json_response({"error": {"message": "upstream exploded", "type": "server_error"}},
                                     status=int(action))
        if action == "429":
            return web.json_response({"error": {"message": "slow down", "type": "rate_limit"}}, status=429,
                                     headers={"Retry-After": "0"})
        if action == "400":
            return web.json_response({"error": {"message": "bad parameter 'foo'", "type": "invalid_request_error"}},
                                     status=400)
        if action == "reset":
            assert request.transport is not None
            request.transport.abort()
            return web.Response(status=500)
        text = self.answer_for(body) if self.answer_for else self.answer
        usage = {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}
        if body.get("stream"):
            return await self._stream(request, body, text, usage, action)
        resp: dict[str, Any] = {
            "id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()), "model": body["model"],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        }
        if action != "nousage":
            resp["usage"] = usage
        # Answers of the wrong shape, as a broken or hostile upstream might send.
        if action == "bad-message":
            resp["choices"] = [{"index": 0, "message": 5, "finish_reason": "stop"}]
        if action == "bad-usage":
            resp["usage"] = {"prompt_tokens": "a", "completion_tokens": 7}
        # "cookie": answer with a session cookie, as load balancers in front of vendor APIs do
        headers = {"Set-Cookie": f"affinity={len(self.requests)}; Path=/"} if action == "cookie" else None
        return web.Response(body=orjson.dumps(resp), content_type="application/json", headers=headers)

    async def _stream(self, request: web.Request, body: dict[str, Any], text: str, usage: dict[str, int],
                      action: str) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        base = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": int(time.time()),
                "model": body["model"]}
        pieces = [text[i:i + 4] for i in range(0, len(text), 4)]
        first: Any = {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                            "finish_reason": None}]}
        await resp.write(b"data: " + orjson.dumps([1] if action == "bad-first" else first) + b"\n\n")
        for n, piece in enumerate(pieces):
            if action == "bad-mid" and n == 1:
                await resp.write(b"data: " + orjson.dumps({**base, "choices": [{"index": 0, "delta": "x"}]}) + b"\n\n")
            if action == "midstream" and n == 1:
                assert request.transport is not None
                request.transport.abort()
                return resp
            chunk = {**base, "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
            await resp.write(b"data: " + orjson.dumps(chunk) + b"\n\n")
            await asyncio.sleep(self.chunk_delay_s)
        last = {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
        await resp.write(b"data: " + orjson.dumps(last) + b"\n\n")
        if (body.get("stream_options") or {}).get("include_usage") and action != "nousage":
            await resp.write(b"data: " + orjson.dumps({**base, "choices": [], "usage": usage}) + b"\n\n")
        await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp
