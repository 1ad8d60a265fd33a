"""Fake Ollama: ``POST /api/chat`` (JSON or NDJSON stream) and ``POST /api/embed``, no auth."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from tests.providers.fakes.server import Answer, FakeVendor

MODEL = "llama3.2:3b"


class FakeOllama(FakeVendor):
    paths = ("/api/chat", "/api/embed")
    stream_content_type = "application/x-ndjson"

    def check_auth(self, request: web.Request) -> web.Response | None:
        return None

    def is_stream(self, path: str, body: Any) -> bool:
        return path == "/api/chat" and bool(body.get("stream", True))  # Ollama streams unless told not to

    def error_body(self, status: int, message: str) -> Any:
        return {"error": message}

    def _final(self, answer: Answer) -> dict[str, Any]:
        return {"model": MODEL, "created_at": "2026-01-01T00:00:00Z", "done": True,
                "done_reason": "length" if answer.finish == "length" else "stop",
                "total_duration": 1000, "prompt_eval_count": answer.input_tokens, "eval_count": answer.output_tokens}

    def _message(self, content: str, answer: Answer | None = None) -> dict[str, Any]:
        msg: dict[str, Any] = {"role": "assistant", "content": content}
        if answer is not None and answer.tool_calls:
            msg["tool_calls"] = [{"function": {"name": n, "arguments": a}} for _cid, n, a in answer.tool_calls]
        return msg

    def validate(self, path: str, body: Any) -> None:
        if body.get("model") != MODEL:
            raise web.HTTPNotFound(text=json.dumps({"error": f"model '{body.get('model')}' not found"}),
                                   content_type="application/json")

    def render(self, path: str, body: Any, answer: Answer) -> Any:
        if path == "/api/embed":
            inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
            return {"model": MODEL, "embeddings": [[0.1, 0.9] for _ in inputs], "prompt_eval_count": 5}
        return {**self._final(answer), "message": self._message(answer.text, answer)}

    def stream_pieces(self, path: str, body: Any, answer: Answer) -> list[bytes]:
        lines = []
        text = answer.text
        for half in (text[: len(text) // 2], text[len(text) // 2:]) if text else ():
            lines.append({"model": MODEL, "created_at": "2026-01-01T00:00:00Z", "message": self._message(half),
                          "done": False})
        if answer.tool_calls:
            lines.append({"model": MODEL, "created_at": "2026-01-01T00:00:00Z", "message": self._message("", answer),
                          "done": False})
        lines.append({**self._final(answer), "message": self._message("")})
        return [json.dumps(line).encode() + b"\n" for line in lines]

    def stream_error(self) -> bytes:
        return json.dumps({"error": "model runner has unexpectedly stopped"}).encode() + b"\n"
