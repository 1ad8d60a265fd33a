"""Anthropic Messages API (``POST /v1/messages``), both directions, streaming included.

Request: system/developer messages become the separate ``system`` field; tool calls become
``tool_use`` blocks and tool answers ``tool_result`` blocks inside a user turn (consecutive
turns of one role are merged, as the API wants alternation); ``max_tokens`` is mandatory
(``options.max_tokens``, default 4096); ``temperature`` is clamped to Anthropic's 0..1.
There is no native JSON mode: ``response_format`` is emulated with a system instruction.
Response: text blocks join into ``content``, ``tool_use`` blocks into ``tool_calls``.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any, ClassVar

import orjson

from aiguillage.errors import UpstreamHTTPError, UpstreamRateLimited
from aiguillage.providers.base import CHAT, JSON_MODE, STREAM, TOOLS, VISION, Provider, iter_sse
from aiguillage.tokens import content_text

API_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096
STOP_REASONS = {
    "end_turn": "stop", "stop_sequence": "stop", "pause_turn": "stop",
    "max_tokens": "length", "tool_use": "tool_calls", "refusal": "content_filter",
}
JSON_INSTRUCTION = "Respond only with a single valid JSON object, without any text before or after it."


def _image_block(url: str) -> dict[str, Any]:
    if url.startswith("data:") and ";base64," in url:
        media, data = url[5:].split(";base64,", 1)
        return {"type": "image", "source": {"type": "base64", "media_type": media, "data": data}}
    return {"type": "image", "source": {"type": "url", "url": url}}


def _user_blocks(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    blocks: list[dict[str, Any]] = []
    for part in content or []:
        if part.get("type") == "text":
            blocks.append({"type": "text", "text": part.get("text", "")})
        elif part.get("type") == "image_url":
            url = part["image_url"]["url"] if isinstance(part.get("image_url"), dict) else part.get("image_url")
            blocks.append(_image_block(str(url)))
    return blocks


def _arguments(raw: Any) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    try:
        val = json.loads(raw or "{}")
    except ValueError:
        return {"_raw": raw}
    return val if isinstance(val, dict) else {"value": val}


def _assistant_blocks(msg: dict[str, Any]) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    text = content_text(msg.get("content"))
    if text:
        blocks.append({"type": "text", "text": text})
    for call in msg.get("tool_calls") or []:
        fn = call.get("function", {})
        blocks.append({"type": "tool_use", "id": call.get("id"), "name": fn.get("name"),
                       "input": _arguments(fn.get("arguments"))})
    return blocks


def _messages(messages: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    system: list[str] = []
    out: list[dict[str, Any]] = []
    for msg in messages:
        role = msg.get("role")
        if role in ("system", "developer"):
            system.append(content_text(msg.get("content")))
            continue
        if role == "tool":
            role, blocks = "user", [{"type": "tool_result", "tool_use_id": msg.get("tool_call_id"),
                                     "content": content_text(msg.get("content"))}]
        elif role == "assistant":
            blocks = _assistant_blocks(msg)
        else:
            role, blocks = "user", _user_blocks(msg.get("content"))
        if not blocks:
            continue  # the API rejects empty turns
        if out and out[-1]["role"] == role:
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": role, "content": blocks})
    return "\n\n".join(s for s in system if s), out


def _tool_choice(choice: Any, parallel: Any) -> dict[str, Any] | None:
    if choice is None and parallel is None:
        return None
    if isinstance(choice, dict):
        out: dict[str, Any] = {"type": "tool", "name": (choice.get("function") or {}).get("name")}
    else:
        out = {"type": {"required": "any", "none": "none"}.get(str(choice), "auto")}
    if parallel is False and out["type"] != "none":
        out["disable_parallel_tool_use"] = True
    return out


def _tool(fn: dict[str, Any]) -> dict[str, Any]:
    tool = {"name": fn["name"], "input_schema": fn.get("parameters") or {"type": "object", "properties": {}}}
    if fn.get("description"):
        tool["description"] = fn["description"]
    return tool


def to_anthropic(body: dict[str, Any], model: str, options: dict[str, Any]) -> dict[str, Any]:
    system, messages = _messages(body.get("messages", []))
    fmt = body.get("response_format") or {}
    if fmt.get("type") in ("json_object", "json_schema"):
        hint = JSON_INSTRUCTION
        schema = (fmt.get("json_schema") or {}).get("schema")
        if schema:
            hint += " It must match this JSON Schema: " + json.dumps(schema, ensure_ascii=False)
        system = f"{system}\n\n{hint}" if system else hint
    out: dict[str, Any] = {
        "model": model, "messages": messages,
        "max_tokens": body.get("max_completion_tokens") or body.get("max_tokens")
        or int(options.get("max_tokens", DEFAULT_MAX_TOKENS)),
    }
    if system:
        out["system"] = system
    if body.get("temperature") is not None:
        out["temperature"] = min(float(body["temperature"]), 1.0)
    if body.get("top_p") is not None:
        out["top_p"] = body["top_p"]
    stop = body.get("stop")
    if stop:
        out["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    # Tools stay declared even with tool_choice "none": the API refuses tool_use history without them.
    if body.get("tools"):
        out["tools"] = [_tool(t["function"]) for t in body["tools"] if t.get("type", "function") == "function"]
        choice = _tool_choice(body.get("tool_choice"), body.get("parallel_tool_calls"))
        if choice:
            out["tool_choice"] = choice
    if body.get("user"):
        out["metadata"] = {"user_id": str(body["user"])}
    if body.get("stream"):
        out["stream"] = True
    return out


def _usage(u: dict[str, Any]) -> dict[str, int]:
    prompt = sum(int(u.get(k) or 0) for k in ("input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens"))
    completion = int(u.get("output_tokens") or 0)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def from_anthropic(data: dict[str, Any]) -> dict[str, Any]:
    text = "".join(b.get("text", "") for b in data.get("content", []) if b.get("type") == "text")
    calls = [{"id": b["id"], "type": "function",
              "function": {"name": b["name"], "arguments": json.dumps(b.get("input", {}), ensure_ascii=False)}}
             for b in data.get("content", []) if b.get("type") == "tool_use"]
    message: dict[str, Any] = {"role": "assistant", "content": text if text or not calls else None}
    if calls:
        message["tool_calls"] = calls
    return {
        "id": data.get("id") or f"chatcmpl-{time.time_ns():x}", "object": "chat.completion",
        "created": int(time.time()), "model": data.get("model", ""),
        "choices": [{"index": 0, "message": message, "logprobs": None,
                     "finish_reason": STOP_REASONS.get(data.get("stop_reason") or "end_turn", "stop")}],
        "usage": _usage(data.get("usage") or {}),
    }


class _StreamState:
    """Turns Anthropic SSE events into OpenAI chunks; tool blocks get consecutive tool indexes."""

    def __init__(self, dep: str) -> None:
        self.dep, self.id, self.model, self.created = dep, "", "", int(time.time())
        self.usage: dict[str, Any] = {}
        self.tool_index: dict[int, int] = {}
        self.finish: str | None = None

    def chunk(self, delta: dict[str, Any], finish: str | None = None, usage: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "object": "chat.completion.chunk", "created": self.created,
                               "model": self.model,
                               "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}
        if usage:
            out["usage"] = _usage(self.usage)
        return out

    def handle(self, kind: str, ev: dict[str, Any]) -> dict[str, Any] | None:
        if kind == "message_start":
            msg = ev.get("message", {})
            self.id, self.model = msg.get("id", ""), msg.get("model", "")
            self.usage.update(msg.get("usage") or {})
            return self.chunk({"role": "assistant", "content": ""})
        if kind == "content_block_start":
            block = ev.get("content_block", {})
            if block.get("type") == "tool_use":
                idx = self.tool_index.setdefault(ev.get("index", 0), len(self.tool_index))
                return self.chunk({"tool_calls": [{"index": idx, "id": block.get("id"), "type": "function",
                                                   "function": {"name": block.get("name"), "arguments": ""}}]})
            if block.get("type") == "text" and block.get("text"):
                return self.chunk({"content": block["text"]})
            return None
        if kind == "content_block_delta":
            delta = ev.get("delta", {})
            if delta.get("type") == "text_delta":
                return self.chunk({"content": delta.get("text", "")})
            if delta.get("type") == "input_json_delta" and ev.get("index") in self.tool_index:
                return self.chunk({"tool_calls": [{"index": self.tool_index[ev["index"]],
                                                   "function": {"arguments": delta.get("partial_json", "")}}]})
            return None
        if kind == "message_delta":
            self.usage.update({k: v for k, v in (ev.get("usage") or {}).items() if v is not None})
            reason = (ev.get("delta") or {}).get("stop_reason")
            self.finish = STOP_REASONS.get(reason or "end_turn", "stop")
            return None
        if kind == "message_stop":
            return self.chunk({}, self.finish or "stop", usage=True)
        if kind == "error":
            err = ev.get("error") or {}
            msg = f"deployment '{self.dep}' failed mid-stream: {err.get('type')}: {err.get('message')}"
            if err.get("type") == "rate_limit_error":
                raise UpstreamRateLimited(msg, deployment=self.dep)
            raise UpstreamHTTPError(msg, deployment=self.dep)
        return None  # ping, and block types this gateway does not forward (thinking)


class AnthropicProvider(Provider):
    kind: ClassVar[str] = "anthropic"
    capabilities: ClassVar[frozenset[str]] = frozenset({CHAT, STREAM, TOOLS, JSON_MODE, VISION})
    default_base_url: ClassVar[str | None] = "https://api.anthropic.com/v1"
    default_jurisdiction: ClassVar[str | None] = "us"
    default_data_retention: ClassVar[str | None] = (
        "deleted within 30 days (API terms); zero data retention by agreement"
    )

    def _headers(self) -> dict[str, str]:
        headers = {"anthropic-version": str(self.deployment.options.get("anthropic_version", API_VERSION))}
        if self.deployment.api_key:
            headers["x-api-key"] = self.deployment.api_key
        return headers

    def _payload(self, body: dict[str, Any]) -> dict[str, Any]:
        return to_anthropic(body, self.upstream_model, self.deployment.options)

    async def complete(self, body: dict[str, Any]) -> dict[str, Any]:
        resp = await self.post(f"{self.base_url}/messages", self._payload({**body, "stream": False}), self._headers())
        data = await self.read_json(resp)
        if not isinstance(data, dict) or not isinstance(data.get("content"), list):
            raise UpstreamHTTPError(f"deployment '{self.deployment.id}' answered without content",
                                    deployment=self.deployment.id)
        return from_anthropic(data)

    async def stream(self, body: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        dep = self.deployment.id
        resp = await self.post_stream(f"{self.base_url}/messages", self._payload({**body, "stream": True}), self._headers())
        state = _StreamState(dep)
        async for event, raw in iter_sse(resp, dep):
            try:
                ev = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                raise UpstreamHTTPError(f"deployment '{dep}' sent an invalid stream event", deployment=dep) from exc
            chunk = state.handle(event or ev.get("type", ""), ev)
            if chunk is not None:
                yield chunk
            if (event or ev.get("type")) == "message_stop":
                return
        raise UpstreamHTTPError(f"deployment '{dep}' ended the stream without message_stop", deployment=dep)
