"""Fake Anthropic Messages API: ``POST /v1/messages`` with its headers, blocks and SSE events."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from tests.providers.fakes.server import Answer, FakeVendor, sse

STOP = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use"}


class FakeAnthropic(FakeVendor):
    paths = ("/v1/messages",)

    def check_auth(self, request: web.Request) -> web.Response | None:
        if request.headers.get("x-api-key") != "sk-test":
            return self.error(401, "invalid x-api-key", None)
        if not request.headers.get("anthropic-version"):
            return self.error(400, "anthropic-version: header is required", None)
        return None

    def error_body(self, status: int, message: str) -> Any:
        kind = {400: "invalid_request_error", 401: "authentication_error", 429: "rate_limit_error",
                529: "overloaded_error"}.get(status, "api_error")
        return {"type": "error", "error": {"type": kind, "message": message}}

    def _blocks(self, answer: Answer) -> list[dict[str, Any]]:
        blocks: list[dict[str, Any]] = [{"type": "text", "text": answer.text}] if answer.text else []
        blocks += [{"type": "tool_use", "id": cid, "name": n, "input": a} for cid, n, a in answer.tool_calls]
        return blocks

    def validate(self, path: str, body: Any) -> None:
        if "max_tokens" not in body or any(m.get("role") not in ("user", "assistant") for m in body["messages"]):
            raise web.HTTPBadRequest(text=json.dumps(self.error_body(400, "max_tokens or messages invalid")),
                                     content_type="application/json")

    def render(self, path: str, body: Any, answer: Answer) -> Any:
        return {"id": "msg_01FAKE", "type": "message", "role": "assistant", "model": body["model"],
                "content": self._blocks(answer), "stop_reason": STOP[answer.finish], "stop_sequence": None,
                "usage": {"input_tokens": answer.input_tokens, "output_tokens": answer.output_tokens,
                          "cache_read_input_tokens": 0, "cache_creation_input_tokens": 0}}

    def stream_pieces(self, path: str, body: Any, answer: Answer) -> list[bytes]:
        msg = {"id": "msg_01FAKE", "type": "message", "role": "assistant", "model": body["model"], "content": [],
               "stop_reason": None, "stop_sequence": None,
               "usage": {"input_tokens": answer.input_tokens, "output_tokens": 1}}
        out = [sse({"type": "message_start", "message": msg}, "message_start"), sse({"type": "ping"}, "ping")]
        for i, block in enumerate(self._blocks(answer)):
            if block["type"] == "text":
                start, halves = {"type": "text", "text": ""}, _halves(block["text"])
                deltas = [{"type": "text_delta", "text": h} for h in halves]
            else:
                start = {**block, "input": {}}
                deltas = [{"type": "input_json_delta", "partial_json": h} for h in _halves(json.dumps(block["input"]))]
            out.append(sse({"type": "content_block_start", "index": i, "content_block": start}, "content_block_start"))
            out += [sse({"type": "content_block_delta", "index": i, "delta": d}, "content_block_delta") for d in deltas]
            out.append(sse({"type": "content_block_stop", "index": i}, "content_block_stop"))
        out.append(sse({"type": "message_delta", "delta": {"stop_reason": STOP[answer.finish], "stop_sequence": None},
                        "usage": {"output_tokens": answer.output_tokens}}, "message_delta"))
        out.append(sse({"type": "message_stop"}, "message_stop"))
        return out

    def stream_error(self) -> bytes:
        return sse({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}, "error")


def _halves(text: str) -> list[str]:
    return [text[: len(text) // 2], text[len(text) // 2:]]
