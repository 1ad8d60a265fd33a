"""Cohere Chat API v2 (``POST /v2/chat``), both directions, streaming included.

v2 messages already use OpenAI's roles and tool-call shape; the differences are parameter
names (``p``, ``stop_sequences``), ``tool_choice`` in capitals (``REQUIRED``/``NONE``),
``response_format`` as ``json_object`` with an optional ``json_schema``, the answer's content
as a list of text parts, upper-case finish reasons, and usage in ``billed_units`` (what is
charged, used for accounting) and ``tokens``. Streams are SSE events ``message-start``,
``content-delta``, ``tool-call-start``/``-delta``/``-end``, ``message-end``.
Embeddings go to ``/v2/embed``.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any, ClassVar

import orjson

from aiguillage.errors import UpstreamHTTPError
from aiguillage.providers.base import CHAT, EMBEDDINGS, JSON_MODE, STREAM, TOOLS, Provider, iter_sse
from aiguillage.tokens import content_text

FINISH = {"COMPLETE": "stop", "STOP_SEQUENCE": "stop", "MAX_TOKENS": "length", "TOOL_CALL": "tool_calls"}
_RENAMED = {"temperature": "temperature", "top_p": "p", "seed": "seed", "frequency_penalty": "frequency_penalty",
            "presence_penalty": "presence_penalty", "logprobs": "logprobs"}


def _message(msg: dict[str, Any]) -> dict[str, Any]:
    role = "system" if msg.get("role") == "developer" else msg.get("role")
    if role == "tool":
        return {"role": "tool", "tool_call_id": msg.get("tool_call_id"), "content": content_text(msg.get("content"))}
    if role == "assistant":
        out: dict[str, Any] = {"role": "assistant"}
        text = content_text(msg.get("content"))
        if msg.get("tool_calls"):
            out["tool_calls"] = [{"id": c.get("id"), "type": "function",
                                  "function": {"name": c["function"]["name"],
                                               "arguments": c["function"].get("arguments") or "{}"}}
                                 for c in msg["tool_calls"]]
            if text:
                out["tool_plan"] = text
        else:
            out["content"] = text
        return out
    content = msg.get("content")
    if isinstance(content, list):
        content = [p for p in content if isinstance(p, dict) and p.get("type") in ("text", "image_url")]
    return {"role": role, "content": content}


def to_cohere(body: dict[str, Any], model: str) -> dict[str, Any]:
    out: dict[str, Any] = {"model": model, "messages": [_message(m) for m in body.get("messages", [])]}
    for src, dst in _RENAMED.items():
        if body.get(src) is not None:
            out[dst] = body[src]
    # Cohere's ranges are narrower than OpenAI's (p in [0.01, 0.99], penalties in [0, 1]).
    if "p" in out:
        out["p"] = min(max(float(out["p"]), 0.01), 0.99)
    for key in ("frequency_penalty", "presence_penalty"):
        if key in out:
            out[key] = min(max(float(out[key]), 0.0), 1.0)
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    if limit:
        out["max_tokens"] = limit
    stop = body.get("stop")
    if stop:
        out["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    if body.get("tools") and body.get("tool_choice") != "none":
        out["tools"] = [t for t in body["tools"] if t.get("type", "function") == "function"]
        if body.get("tool_choice") == "required" or isinstance(body.get("tool_choice"), dict):
            out["tool_choice"] = "REQUIRED"
    elif body.get("tools"):
        out["tool_choice"] = "NONE"
        out["tools"] = body["tools"]
    fmt = body.get("response_format") or {}
    if fmt.get("type") == "json_object":
        out["response_format"] = {"type": "json_object"}
    elif fmt.get("type") == "json_schema":
        out["response_format"] = {"type": "json_object", "json_schema": (fmt.get("json_schema") or {}).get("schema")}
    if body.get("stream"):
        out["stream"] = True
    return out


def _usage(u: dict[str, Any]) -> dict[str, int]:
    counts = u.get("billed_units") or u.get("tokens") or {}
    prompt, completion = int(counts.get("input_tokens") or 0), int(counts.get("output_tokens") or 0)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _finish(reason: str | None, dep: str, error: str | None = None) -> str:
    if reason in ("ERROR", "TIMEOUT"):
        detail = f": {error}" if error else ""
        raise UpstreamHTTPError(f"deployment '{dep}' ended generation with {reason}{detail}", deployment=dep)
    return FINISH.get(reason or "COMPLETE", "stop")


def from_cohere(data: dict[str, Any], model: str, dep: str) -> dict[str, Any]:
    msg = data.get("message") or {}
    text = "".join(p.get("text", "") for p in msg.get("content") or [] if p.get("type") == "text")
    message: dict[str, Any] = {"role": "assistant", "content": text or None}
    if msg.get("tool_calls"):
        message["tool_calls"] = [{"id": c.get("id"), "type": "function",
                                  "function": {"name": c["function"]["name"],
                                               "arguments": c["function"].get("arguments") or "{}"}}
                                 for c in msg["tool_calls"]]
        message["content"] = text or None
    elif message["content"] is None:
        message["content"] = ""
    return {
        "id": data.get("id") or f"chatcmpl-{time.time_ns():x}", "object": "chat.completion",
        "created": int(time.time()), "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": None,
                     "finish_reason": _finish(data.get("finish_reason"), dep)}],
        "usage": _usage(data.get("usage") or {}),
    }


class _StreamState:
    def __init__(self, model: str, dep: str) -> None:
        self.id, self.model, self.dep, self.created = "", model, dep, int(time.time())
        self.tools = 0

    def chunk(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {"id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model,
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}

    def handle(self, ev: dict[str, Any]) -> dict[str, Any] | None:
        kind, msg = ev.get("type"), ((ev.get("delta") or {}).get("message") or {})
        if kind == "message-start":
            self.id = ev.get("id") or f"chatcmpl-{time.time_ns():x}"
            return self.chunk({"role": "assistant", "content": ""})
        if kind == "content-delta":
            text = (msg.get("content") or {}).get("text")
            return self.chunk({"content": text}) if text else None  # thinking deltas are not forwarded
        if kind == "tool-call-start":
            call = msg.get("tool_calls") or {}
            self.tools += 1
            fn = call.get("function") or {}
            return self.chunk({"tool_calls": [{"index": self.tools - 1, "id": call.get("id"), "type": "function",
                                               "function": {"name": fn.get("name"),
                                                            "arguments": fn.get("arguments", "")}}]})
        if kind == "tool-call-delta":
            args = ((msg.get("tool_calls") or {}).get("function") or {}).get("arguments", "")
            return self.chunk({"tool_calls": [{"index": max(self.tools - 1, 0), "function": {"arguments": args}}]})
        if kind == "message-end":
            delta = ev.get("delta") or {}
            out = self.chunk({}, _finish(delta.get("finish_reason"), self.dep, delta.get("error")))
            out["usage"] = _usage(delta.get("usage") or {})
            return out
        if kind == "error" or "error" in ev:
            detail = ev.get("error") or ev.get("message") or ev
            raise UpstreamHTTPError(f"deployment '{self.dep}' failed mid-stream: {detail}", deployment=self.dep)
        return None  # content-start/-end, tool-plan-delta, citations


class CohereProvider(Provider):
    kind: ClassVar[str] = "cohere"
    capabilities: ClassVar[frozenset[str]] = frozenset({CHAT, STREAM, TOOLS, JSON_MODE, EMBEDDINGS})
    default_base_url: ClassVar[str | None] = "https://api.cohere.com/v2"
    default_jurisdiction: ClassVar[str | None] = "ca"
    default_data_retention: ClassVar[str | None] = (
        "up to 30 days for abuse monitoring (API terms); zero data retention by agreement"
    )

    def _headers(self) -> dict[str, str]:
        key = self.deployment.api_key
        return {"Authorization": f"Bearer {key}", "Accept": "application/json"} if key else {}

    async def complete(self, body: dict[str, Any]) -> dict[str, Any]:
        payload = to_cohere({**body, "stream": False}, self.upstream_model)
        data = await self.read_json(await self.post(f"{self.base_url}/chat", payload, self._headers()))
        if not isinstance(data, dict) or "message" not in data:
            raise UpstreamHTTPError(f"deployment '{self.deployment.id}' answered without a message",
                                    deployment=self.deployment.id)
        return from_cohere(data, self.upstream_model, self.deployment.id)

    async def stream(self, body: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        dep = self.deployment.id
        payload = to_cohere({**body, "stream": True}, self.upstream_model)
        resp = await self.post_stream(f"{self.base_url}/chat", payload, self._headers())
        state = _StreamState(self.upstream_model, dep)
        async for _event, raw in iter_sse(resp, dep):
            if raw == b"[DONE]":
                break
            try:
                ev = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                raise UpstreamHTTPError(f"deployment '{dep}' sent an invalid stream event", deployment=dep) from exc
            chunk = state.handle(ev)
            if chunk is not None:
                yield chunk
            if ev.get("type") == "message-end":
                return
        raise UpstreamHTTPError(f"deployment '{dep}' ended the stream without message-end", deployment=dep)

    async def embed(self, body: dict[str, Any]) -> dict[str, Any]:
        texts = body.get("input")
        texts = [texts] if isinstance(texts, str) else list(texts or [])
        payload = {"model": self.upstream_model, "texts": texts, "embedding_types": ["float"],
                   "input_type": str(self.deployment.options.get("input_type", "search_document"))}
        data = await self.read_json(await self.post(f"{self.base_url}/embed", payload, self._headers()))
        vectors = ((data or {}).get("embeddings") or {}).get("float") if isinstance(data, dict) else None
        if not isinstance(vectors, list):
            raise UpstreamHTTPError(f"deployment '{self.deployment.id}' answered embeddings without vectors",
                                    deployment=self.deployment.id)
        tokens = int((((data.get("meta") or {}).get("billed_units") or {}).get("input_tokens")) or 0)
        return {"object": "list", "model": self.upstream_model,
                "data": [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)],
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}
