"""Anthropic Messages API (``POST /v1/messages``) <-> the gateway's OpenAI chat format.

Pure functions for the HTTP layer, so the official ``anthropic`` SDK works against the
gateway: the request is turned into an OpenAI chat body, the answer (or the chunk stream)
back into a Messages ``message`` (or its SSE events). Shapes follow the SDK's types: every
field its parser requires is always present.
"""

from __future__ import annotations

import json
import time
from typing import Any

from aiguillage.errors import GatewayError, InvalidRequest

STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use",
                "function_call": "tool_use", "content_filter": "refusal"}
ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
               404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error",
               503: "overloaded_error", 504: "timeout_error"}


def _text(content: Any, where: str) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text")
    if content is None:
        return ""
    raise InvalidRequest(f"{where}: expected a string or a list of content blocks", param=where)


def _image_part(block: dict[str, Any], where: str) -> dict[str, Any]:
    src = block.get("source") or {}
    if src.get("type") == "base64":
        url = f"data:{src.get('media_type', 'image/png')};base64,{src.get('data', '')}"
    elif src.get("type") == "url":
        url = str(src.get("url", ""))
    else:
        raise InvalidRequest(f"{where}: image source type '{src.get('type')}' is not supported "
                             "(use 'base64' or 'url')", param=where)
    return {"type": "image_url", "image_url": {"url": url}}


def _user_turn(content: Any, where: str) -> list[dict[str, Any]]:
    """Tool results first (OpenAI wants them right after the assistant's calls), then the rest."""
    if isinstance(content, str):
        return [{"role": "user", "content": content}]
    if not isinstance(content, list):
        raise InvalidRequest(f"{where}.content: expected a string or a list of content blocks", param=where)
    tools: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for i, block in enumerate(content):
        kind = block.get("type") if isinstance(block, dict) else None
        at = f"{where}.content[{i}]"
        if kind == "text":
            parts.append({"type": "text", "text": str(block.get("text", ""))})
        elif kind == "image":
            parts.append(_image_part(block, at))
        elif kind == "tool_result":
            text = _text(block.get("content"), f"{at}.content")
            if block.get("is_error"):
                text = f"Error: {text}"
            tools.append({"role": "tool", "tool_call_id": block.get("tool_use_id"), "content": text})
        elif kind == "document" and (block.get("source") or {}).get("type") == "text":
            parts.append({"type": "text", "text": str(block["source"].get("data", ""))})
        else:
            raise InvalidRequest(f"{at}: content block type '{kind}' is not supported in user turns", param=at)
    if parts and all(p["type"] == "text" for p in parts):
        return [*tools, {"role": "user", "content": "\n".join(p["text"] for p in parts)}]
    return [*tools, {"role": "user", "content": parts}] if parts else tools


def _assistant_turn(content: Any, where: str) -> dict[str, Any]:
    if isinstance(content, str):
        return {"role": "assistant", "content": content}
    if not isinstance(content, list):
        raise InvalidRequest(f"{where}.content: expected a string or a list of content blocks", param=where)
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for block in content:
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            texts.append(str(block.get("text", "")))
        elif kind == "tool_use":
            calls.append({"id": block.get("id"), "type": "function",
                          "function": {"name": block.get("name"),
                                       "arguments": json.dumps(block.get("input") or {}, ensure_ascii=False)}})
        # thinking / redacted_thinking blocks are the model's own scratch work: not replayed.
    msg: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts or not calls else None}
    if calls:
        msg["tool_calls"] = calls
    return msg


def _tools(tools: Any) -> list[dict[str, Any]]:
    if not isinstance(tools, list):
        raise InvalidRequest("tools: expected a list", param="tools")
    out = []
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict) or tool.get("type") not in (None, "custom") or "name" not in tool:
            kind = tool.get("type") if isinstance(tool, dict) else type(tool).__name__
            raise InvalidRequest(f"tools[{i}]: only client tools with name and input_schema are supported "
                                 f"(got '{kind}')", param=f"tools[{i}]")
        fn: dict[str, Any] = {"name": tool["name"], "parameters": tool.get("input_schema") or {"type": "object"}}
        if tool.get("description"):
            fn["description"] = tool["description"]
        out.append({"type": "function", "function": fn})
    return out


def _tool_choice(choice: dict[str, Any], out: dict[str, Any]) -> None:
    kind = choice.get("type")
    if kind == "tool":
        out["tool_choice"] = {"type": "function", "function": {"name": choice.get("name")}}
    elif kind in ("auto", "any", "none"):
        out["tool_choice"] = {"auto": "auto", "any": "required", "none": "none"}[kind]
    else:
        raise InvalidRequest(f"tool_choice.type '{kind}' is not one of auto, any, tool, none", param="tool_choice")
    if choice.get("disable_parallel_tool_use"):
        out["parallel_tool_calls"] = False


def messages_request_to_chat(body: dict[str, Any]) -> dict[str, Any]:
    """An Anthropic Messages request as an OpenAI chat-completions body."""
    if not isinstance(body, dict):
        raise InvalidRequest("the request body must be a JSON object")
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise InvalidRequest("model: field required", param="model")
    max_tokens = body.get("max_tokens")
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        raise InvalidRequest("max_tokens: field required (a positive integer)", param="max_tokens")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("messages: a non-empty list is required", param="messages")
    chat: list[dict[str, Any]] = []
    if body.get("system"):
        chat.append({"role": "system", "content": _text(body["system"], "system")})
    for i, msg in enumerate(messages):
        role = msg.get("role") if isinstance(msg, dict) else None
        if role == "user":
            chat.extend(_user_turn(msg.get("content"), f"messages[{i}]"))
        elif role == "assistant":
            chat.append(_assistant_turn(msg.get("content"), f"messages[{i}]"))
        else:
            raise InvalidRequest(f"messages[{i}].role: must be 'user' or 'assistant'", param=f"messages[{i}].role")
    out: dict[str, Any] = {"model": body["model"], "messages": chat, "max_tokens": max_tokens}
    for key in ("temperature", "top_p"):
        if body.get(key) is not None:
            out[key] = body[key]
    stops = body.get("stop_sequences")
    if stops:
        if not isinstance(stops, list) or not all(isinstance(x, str) for x in stops):
            raise InvalidRequest("stop_sequences: must be an array of strings", param="stop_sequences")
        out["stop"] = list(stops)
    if body.get("tools"):
        out["tools"] = _tools(body["tools"])
    if isinstance(body.get("tool_choice"), dict):
        _tool_choice(body["tool_choice"], out)
    metadata = body.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise InvalidRequest("metadata: must be an object", param="metadata")
    user = metadata.get("user_id")
    if user:
        out["user"] = str(user)
    if body.get("stream"):
        out["stream"] = True
        out["stream_options"] = {"include_usage": True}
    return out


def _message_id(chat_id: str | None) -> str:
    chat_id = chat_id or f"{time.time_ns():x}"
    return chat_id if chat_id.startswith("msg_") else f"msg_{chat_id}"


def _usage(usage: dict[str, Any] | None) -> dict[str, int]:
    usage = usage or {}
    return {"input_tokens": int(usage.get("prompt_tokens") or 0), "output_tokens": int(usage.get("completion_tokens") or 0)}


def _arguments(raw: Any) -> dict[str, Any]:
    try:
        val = json.loads(raw) if isinstance(raw, str) and raw else (raw or {})
    except ValueError:
        return {}
    return val if isinstance(val, dict) else {}


def chat_response_to_messages(resp: dict[str, Any], model: str) -> dict[str, Any]:
    """An OpenAI ``chat.completion`` as an Anthropic ``message``."""
    choice = (resp.get("choices") or [{}])[0]
    msg = choice.get("message") or {}
    content: list[dict[str, Any]] = []
    text = msg.get("content")
    if isinstance(text, str) and text:
        content.append({"type": "text", "text": text})
    for call in msg.get("tool_calls") or []:
        fn = call.get("function") or {}
        content.append({"type": "tool_use", "id": call.get("id"), "name": fn.get("name"),
                        "input": _arguments(fn.get("arguments"))})
    return {
        "id": _message_id(resp.get("id")), "type": "message", "role": "assistant", "model": model,
        "content": content, "stop_reason": STOP_REASONS.get(choice.get("finish_reason") or "stop", "end_turn"),
        "stop_sequence": None, "usage": _usage(resp.get("usage")),
    }


class MessagesStreamTranslator:
    """OpenAI chunks in, Anthropic SSE ``(event, data)`` pairs out; blocks are opened/closed in order."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.started = False
        self.block = -1  # index of the open content block, -1 when none
        self.block_kind: str | None = None
        self.tool_block: dict[int, int] = {}  # OpenAI tool index -> block index
        self.finish_reason: str | None = None
        self.usage: dict[str, Any] | None = None

    def _start(self, chat_id: str | None) -> list[tuple[str, dict[str, Any]]]:
        self.started = True
        message: dict[str, Any] = {"id": _message_id(chat_id), "type": "message", "role": "assistant", "model": self.model,
                   "content": [], "stop_reason": None, "stop_sequence": None,
                   "usage": {"input_tokens": 0, "output_tokens": 0}}
        return [("message_start", {"type": "message_start", "message": message})]

    def _close(self) -> list[tuple[str, dict[str, Any]]]:
        if self.block_kind is None:
            return []
        self.block_kind = None
        return [("content_block_stop", {"type": "content_block_stop", "index": self.block})]

    def _open(self, block: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        events = self._close()
        self.block += 1
        self.block_kind = block["type"]
        events.append(("content_block_start", {"type": "content_block_start", "index": self.block,
                                               "content_block": block}))
        return events

    def _delta(self, delta: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        return ("content_block_delta", {"type": "content_block_delta", "index": self.block, "delta": delta})

    def _tool(self, call: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        events: list[tuple[str, dict[str, Any]]] = []
        idx = int(call.get("index", 0))
        fn = call.get("function") or {}
        if idx not in self.tool_block:
            events += self._open({"type": "tool_use", "id": call.get("id") or f"toolu_{time.time_ns():x}",
                                  "name": fn.get("name") or "", "input": {}})
            self.tool_block[idx] = self.block
        # Upstreams stream tool calls one after another; a late fragment for an already closed block
        # cannot be expressed in Anthropic's strictly sequential block events.
        if fn.get("arguments") and self.tool_block[idx] == self.block:
            events.append(self._delta({"type": "input_json_delta", "partial_json": fn["arguments"]}))
        return events

    def feed(self, chunk: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        events = [] if self.started else self._start(chunk.get("id"))
        if chunk.get("usage"):
            self.usage = chunk["usage"]
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") or {}
            if delta.get("content"):
                if self.block_kind != "text":
                    events += self._open({"type": "text", "text": ""})
                events.append(self._delta({"type": "text_delta", "text": delta["content"]}))
            for call in delta.get("tool_calls") or []:
                events += self._tool(call)
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
        return events

    def finish(self) -> list[tuple[str, dict[str, Any]]]:
        events = [] if self.started else self._start(None)
        events += self._close()
        usage = _usage(self.usage)
        events.append(("message_delta", {
            "type": "message_delta",
            "delta": {"stop_reason": STOP_REASONS.get(self.finish_reason or "stop", "end_turn"), "stop_sequence": None},
            "usage": {"output_tokens": usage["output_tokens"], "input_tokens": usage["input_tokens"]},
        }))
        events.append(("message_stop", {"type": "message_stop"}))
        return events

    def error(self, err: GatewayError) -> list[tuple[str, dict[str, Any]]]:
        """The events for a failure mid-stream: Anthropic sends one ``error`` event and stops."""
        events = [] if self.started else self._start(None)
        return [*events, ("error", error_to_anthropic(err))]


def error_to_anthropic(err: GatewayError) -> dict[str, Any]:
    """The Anthropic error body for a gateway error (HTTP status stays ``err.status``)."""
    kind = ERROR_TYPES.get(err.status, "api_error" if err.status >= 500 else "invalid_request_error")
    return {"type": "error", "error": {"type": kind, "message": err.message}}
