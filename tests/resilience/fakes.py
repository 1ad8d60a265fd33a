"""The shared fake upstream plus one fault it lacks: ``midstall`` (a stream that goes silent
after its first chunks, to exercise the idle timeout)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
from aiohttp import web

from tests.fakes.openai_upstream import FakeOpenAI


class FaultyOpenAI(FakeOpenAI):
    async def _stream(self, request: web.Request, body: dict[str, Any], text: str, usage: dict[str, int],
                      action: str) -> web.StreamResponse:
        if action != "midstall":
            return await super()._stream(request, body, text, usage, action)
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        base = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": int(time.time()),
                "model": body["model"]}
        for delta in ({"role": "assistant", "content": ""}, {"content": text[:6]}):
            chunk = {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
            await resp.write(b"data: " + orjson.dumps(chunk) + b"\n\n")
        await asyncio.sleep(self.stall_s)  # silent: the gateway's idle timeout must fire first
        return resp

    def concurrency_peak(self) -> int:
        """Most requests this fake was serving at once, from the log's start times and latency."""
        starts = sorted(r["t"] for r in self.requests)
        peak = 0
        for i, t in enumerate(starts):
            peak = max(peak, sum(1 for u in starts[: i + 1] if t - u < self.latency_s * 0.9))
        return peak
