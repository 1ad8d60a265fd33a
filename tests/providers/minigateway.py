"""A stand-in for the lead's HTTP layer: just enough aiohttp to put the inbound translators
between a real SDK client and canned OpenAI answers (the real app adds auth, routing, audit)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import web

from aiguillage.errors import GatewayError


@asynccontextmanager
async def serve(path: str, handler: Callable[[web.Request], Any]) -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_post(path, handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def write_sse(request: web.Request, events: list[tuple[str, dict[str, Any]]]) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await resp.prepare(request)
    for name, data in events:
        await resp.write(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())
    await resp.write_eof()
    return resp


def error_response(err: GatewayError, body: dict[str, Any]) -> web.Response:
    return web.json_response(body, status=err.status, headers=err.headers)


def text_chunks(cid: str, pieces: list[str], usage: dict[str, int]) -> list[dict[str, Any]]:
    base = {"id": cid, "object": "chat.completion.chunk", "created": 1700000000, "model": "upstream"}
    out = [{**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]}]
    out += [{**base, "choices": [{"index": 0, "delta": {"content": p}, "finish_reason": None}]} for p in pieces]
    out.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    out.append({**base, "choices": [], "usage": usage})
    return out


def tool_chunks(cid: str, calls: list[tuple[str, str, str]], usage: dict[str, int]) -> list[dict[str, Any]]:
    base = {"id": cid, "object": "chat.completion.chunk", "created": 1700000000, "model": "upstream"}
    out = [{**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Je regarde."},
                                 "finish_reason": None}]}]
    for i, (call_id, name, args) in enumerate(calls):
        out.append({**base, "choices": [{"index": 0, "finish_reason": None, "delta": {"tool_calls": [
            {"index": i, "id": call_id, "type": "function", "function": {"name": name, "arguments": ""}}]}}]})
        for half in (args[: len(args) // 2], args[len(args) // 2:]):
            out.append({**base, "choices": [{"index": 0, "finish_reason": None, "delta": {"tool_calls": [
                {"index": i, "function": {"arguments": half}}]}}]})
    out.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}], "usage": usage})
    return out
