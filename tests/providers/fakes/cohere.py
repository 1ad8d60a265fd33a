"""Fake Cohere Chat API v2: ``POST /v2/chat`` (JSON or SSE events) and ``POST /v2/embed``."""

from __future__ import annotations

import json
from typing import Any

from tests.providers.fakes.server import Answer, FakeVendor, sse

FINISH = {"stop": "COMPLETE", "length": "MAX_TOKENS", "tool_calls": "TOOL_CALL"}


class FakeCohere(FakeVendor):
    paths = ("/v2/chat", "/v2/embed")

    def error_body(self, status: int, message: str) -> Any:
        return {"id": "err-1", "message": message}

    def _usage(self, answer: Answer) -> dict[str, Any]:
        # billed_units is what Cohere charges; tokens adds its own prompt template.
        return {"billed_units": {"input_tokens": answer.input_tokens, "output_tokens": answer.output_tokens},
                "tokens": {"input_tokens": answer.input_tokens + 200, "output_tokens": answer.output_tokens}}

    def render(self, path: str, body: Any, answer: Answer) -> Any:
        if path == "/v2/embed":
            return {"id": "emb-1", "texts": body["texts"], "embeddings": {"float": [[0.5, 0.25] for _ in body["texts"]]},
                    "meta": {"billed_units": {"input_tokens": 4}}}
        message: dict[str, Any] = {"role": "assistant"}
        if answer.tool_calls:
            message["tool_plan"] = "I will call the tool."
            message["tool_calls"] = [{"id": cid, "type": "function",
                                      "function": {"name": n, "arguments": json.dumps(a)}}
                                     for cid, n, a in answer.tool_calls]
        if answer.text:
            message["content"] = [{"type": "text", "text": answer.text}]
        return {"id": "c-fake-1", "finish_reason": FINISH[answer.finish], "message": message,
                "usage": self._usage(answer)}

    def stream_pieces(self, path: str, body: Any, answer: Answer) -> list[bytes]:
        def ev(kind: str, **fields: Any) -> bytes:
            return sse({"type": kind, **fields}, kind)

        out = [ev("message-start", id="c-fake-1", delta={"message": {"role": "assistant", "content": [],
                                                                     "tool_plan": "", "tool_calls": []}})]
        if answer.text:
            out.append(ev("content-start", index=0,
                          delta={"message": {"content": {"type": "text", "text": ""}}}))
            for half in (answer.text[: len(answer.text) // 2], answer.text[len(answer.text) // 2:]):
                out.append(ev("content-delta", index=0, delta={"message": {"content": {"text": half}}}))
            out.append(ev("content-end", index=0))
        if answer.tool_calls:
            out.append(ev("tool-plan-delta", delta={"message": {"tool_plan": "I will call the tool."}}))
        for i, (cid, name, args) in enumerate(answer.tool_calls):
            raw = json.dumps(args)
            out.append(ev("tool-call-start", index=i, delta={"message": {"tool_calls": {
                "id": cid, "type": "function", "function": {"name": name, "arguments": ""}}}}))
            for half in (raw[: len(raw) // 2], raw[len(raw) // 2:]):
                out.append(ev("tool-call-delta", index=i,
                              delta={"message": {"tool_calls": {"function": {"arguments": half}}}}))
            out.append(ev("tool-call-end", index=i))
        out.append(ev("message-end", delta={"finish_reason": FINISH[answer.finish], "usage": self._usage(answer)}))
        return out

    def stream_error(self) -> bytes:
        return sse({"type": "message-end", "delta": {"finish_reason": "ERROR", "error": "internal error"}},
                   "message-end")
