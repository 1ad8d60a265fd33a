"""Ollama's native API: ``POST /api/chat`` (NDJSON stream) and ``POST /api/embed``.

Sampling parameters move into ``options`` (``max_tokens`` -> ``num_predict``, ``stop``,
``seed``, ...), JSON mode is ``format: "json"`` (or the JSON Schema itself), images are bare
base64 strings in ``images``, tool-call arguments are objects, not JSON strings. Ollama sends
no tool-call ids, so ids are minted here. ``stream`` defaults to true on Ollama, hence it is
always sent explicitly. ``options.keep_alive`` and ``options.num_ctx`` pass through.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any, ClassVar

from aiguillage.errors import UpstreamHTTPError
from aiguillage.providers.base import CHAT, EMBEDDINGS, JSON_MODE, STREAM, TOOLS, VISION, Provider, iter_ndjson
from aiguillage.tokens import content_text

_OPTIONS = {"temperature": "temperature", "top_p": "top_p", "seed": "seed", "max_tokens": "num_predict",
            "max_completion_tokens": "num_predict", "presence_penalty": "presence_penalty",
            "frequency_penalty": "frequency_penalty"}


def _images(content: Any) -> list[str]:
    out = []
    for part in content if isinstance(content, list) else []:
        if isinstance(part, dict) and part.get("type") == "image_url":
            url = part["image_url"]["url"] if isinstance(part.get("image_url"), dict) else str(part.get("image_url"))
            out.append(url.split(";base64,", 1)[1] if ";base64," in url else url)
    return out


def _message(msg: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    role = "system" if msg.get("role") == "developer" else msg.get("role")
    out: dict[str, Any] = {"role": role, "content": content_text(msg.get("content"))}
    if images := _images(msg.get("content")):
        out["images"] = images
    if msg.get("tool_calls"):
        calls = []
        for call in msg["tool_calls"]:
            fn = call.get("function", {})
            names[str(call.get("id"))] = fn.get("name", "")
            try:
                args = json.loads(fn.get("arguments") or "{}")
            except ValueError:
                args = {}
            calls.append({"function": {"name": fn.get("name"), "arguments": args}})
        out["tool_calls"] = calls
    if role == "tool" and str(msg.get("tool_call_id")) in names:
        out["tool_name"] = names[str(msg.get("tool_call_id"))]
    return out


def to_ollama(body: dict[str, Any], model: str, options: dict[str, Any], stream: bool) -> dict[str, Any]:
    names: dict[str, str] = {}
    out: dict[str, Any] = {"model": model, "messages": [_message(m, names) for m in body.get("messages", [])],
                           "stream": stream}
    opts = {dst: body[src] for src, dst in _OPTIONS.items() if body.get(src) is not None}
    if body.get("stop"):
        opts["stop"] = [body["stop"]] if isinstance(body["stop"], str) else list(body["stop"])
    if options.get("num_ctx"):
        opts["num_ctx"] = int(options["num_ctx"])
    if opts:
        out["options"] = opts
    fmt = body.get("response_format") or {}
    if fmt.get("type") == "json_object":
        out["format"] = "json"
    elif fmt.get("type") == "json_schema":
        out["format"] = (fmt.get("json_schema") or {}).get("schema") or "json"
    if body.get("tools") and body.get("tool_choice") != "none":
        out["tools"] = body["tools"]
    if options.get("keep_alive") is not None:
        out["keep_alive"] = options["keep_alive"]
    return out


def _tool_calls(msg: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"id": call.get("id") or f"call_{uuid.uuid4().hex[:24]}", "type": "function",
             "function": {"name": call["function"]["name"],
                          "arguments": json.dumps(call["function"].get("arguments") or {}, ensure_ascii=False)}}
            for call in msg.get("tool_calls") or []]


def _usage(data: dict[str, Any]) -> dict[str, int]:
    prompt, completion = int(data.get("prompt_eval_count") or 0), int(data.get("eval_count") or 0)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _finish(data: dict[str, Any], had_tools: bool) -> str:
    if had_tools:
        return "tool_calls"
    return "length" if data.get("done_reason") == "length" else "stop"


class OllamaProvider(Provider):
    kind: ClassVar[str] = "ollama"
    capabilities: ClassVar[frozenset[str]] = frozenset({CHAT, STREAM, TOOLS, JSON_MODE, EMBEDDINGS, VISION})
    default_base_url: ClassVar[str | None] = "http://127.0.0.1:11434"
    default_jurisdiction: ClassVar[str | None] = "on_prem"
    default_data_retention: ClassVar[str | None] = "none (self-hosted; Ollama keeps no request logs)"

    def _headers(self) -> dict[str, str]:
        # Plain Ollama has no auth; a reverse proxy in front of it often wants a bearer token.
        key = self.deployment.api_key
        return {"Authorization": f"Bearer {key}"} if key else {}

    def _chunk(self, cid: str, created: int, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {"id": cid, "object": "chat.completion.chunk", "created": created, "model": self.upstream_model,
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}

    async def complete(self, body: dict[str, Any]) -> dict[str, Any]:
        payload = to_ollama(body, self.upstream_model, self.deployment.options, stream=False)
        data = await self.read_json(await self.post(f"{self.base_url}/api/chat", payload, self._headers()))
        if not isinstance(data, dict) or not isinstance(data.get("message"), dict):
            raise UpstreamHTTPError(f"deployment '{self.deployment.id}' answered without a message",
                                    deployment=self.deployment.id)
        calls = _tool_calls(data["message"])
        message: dict[str, Any] = {"role": "assistant", "content": data["message"].get("content") or ""}
        if calls:
            message["tool_calls"] = calls
            message["content"] = message["content"] or None
        return {"id": f"chatcmpl-{time.time_ns():x}", "object": "chat.completion", "created": int(time.time()),
                "model": self.upstream_model,
                "choices": [{"index": 0, "message": message, "logprobs": None,
                             "finish_reason": _finish(data, bool(calls))}],
                "usage": _usage(data)}

    async def stream(self, body: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        dep = self.deployment.id
        payload = to_ollama(body, self.upstream_model, self.deployment.options, stream=True)
        resp = await self.post_stream(f"{self.base_url}/api/chat", payload, self._headers())
        try:  # closed even if the consumer stops after the role chunk, before iter_ndjson started
            cid, created, tools = f"chatcmpl-{time.time_ns():x}", int(time.time()), 0
            yield self._chunk(cid, created, {"role": "assistant", "content": ""})
            async for line in iter_ndjson(resp, dep):
                if not isinstance(line, dict) or "error" in line:
                    msg = line.get("error") if isinstance(line, dict) else line
                    raise UpstreamHTTPError(f"deployment '{dep}' failed mid-stream: {msg}", deployment=dep)
                msg = line.get("message") or {}
                if msg.get("content"):
                    yield self._chunk(cid, created, {"content": msg["content"]})
                for call in _tool_calls(msg):
                    yield self._chunk(cid, created, {"tool_calls": [{"index": tools, **call}]})
                    tools += 1
                if line.get("done"):
                    final = self._chunk(cid, created, {}, _finish(line, tools > 0))
                    final["usage"] = _usage(line)
                    yield final
                    return
            raise UpstreamHTTPError(f"deployment '{dep}' ended the stream before done", deployment=dep)
        finally:
            await resp.aclose()

    async def embed(self, body: dict[str, Any]) -> dict[str, Any]:
        payload = {"model": self.upstream_model, "input": body.get("input")}
        data = await self.read_json(await self.post(f"{self.base_url}/api/embed", payload, self._headers()))
        if not isinstance(data, dict) or not isinstance(data.get("embeddings"), list):
            raise UpstreamHTTPError(f"deployment '{self.deployment.id}' answered embeddings without vectors",
                                    deployment=self.deployment.id)
        tokens = int(data.get("prompt_eval_count") or 0)
        return {"object": "list", "model": self.upstream_model,
                "data": [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(data["embeddings"])],
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}
