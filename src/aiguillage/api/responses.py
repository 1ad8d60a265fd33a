"""OpenAI Responses API (``POST /v1/responses``) <-> the gateway's chat-completions format.

Pure functions for the HTTP layer. The gateway is stateless, so ``previous_response_id``
(server-side conversation state) and built-in tools (web search, file search, ...) are refused
with a clear 400; function tools, instructions, text/JSON formats and streaming are supported.
Output shapes follow the ``openai`` SDK's ``Response`` type and its stream events.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from aiguillage.errors import InvalidRequest


def _new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


def _part(part: Any, where: str) -> dict[str, Any]:
    kind = part.get("type") if isinstance(part, dict) else None
    if kind in ("input_text", "output_text", "text"):
        return {"type": "text", "text": str(part.get("text", ""))}
    if kind == "input_image" and part.get("image_url"):
        return {"type": "image_url", "image_url": {"url": part["image_url"], "detail": part.get("detail", "auto")}}
    raise InvalidRequest(f"{where}: content type '{kind}' is not supported (use input_text or input_image "
                         "with image_url)", param=where)


def _content(content: Any, where: str) -> str | list[dict[str, Any]]:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise InvalidRequest(f"{where}: expected a string or a list of content parts", param=where)
    parts = [_part(p, f"{where}[{i}]") for i, p in enumerate(content)]
    if all(p["type"] == "text" for p in parts):
        return "".join(p["text"] for p in parts)
    return parts


def _output_text(output: Any) -> str:
    if isinstance(output, str):
        return output
    if isinstance(output, list):
        return "".join(str(p.get("text", "")) for p in output if isinstance(p, dict))
    return str(output)


def _input_items(items: list[Any]) -> list[dict[str, Any]]:
    chat: list[dict[str, Any]] = []
    for i, item in enumerate(items):
        where = f"input[{i}]"
        kind = item.get("type", "message") if isinstance(item, dict) else None
        if kind == "message" and item.get("role") in ("user", "assistant", "system", "developer"):
            chat.append({"role": item["role"], "content": _content(item.get("content"), f"{where}.content")})
        elif kind == "function_call":
            call = {"id": item.get("call_id"), "type": "function",
                    "function": {"name": item.get("name"), "arguments": item.get("arguments") or "{}"}}
            last = chat[-1] if chat else None
            if last and last["role"] == "assistant" and "tool_calls" in last:
                last["tool_calls"].append(call)
            elif last and last["role"] == "assistant" and isinstance(last.get("content"), str):
                last["tool_calls"] = [call]
            else:
                chat.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            chat.append({"role": "tool", "tool_call_id": item.get("call_id"), "content": _output_text(item.get("output"))})
        elif kind == "reasoning":
            continue  # the model's own scratch work: not replayed
        elif kind == "message":
            raise InvalidRequest(f"{where}.role must be user, assistant, system or developer (tool results are "
                                 "function_call_output items)", param=f"{where}.role")
        else:
            raise InvalidRequest(f"{where}: input item type '{kind}' is not supported by this gateway", param=where)
    return chat


def _tools(tools: list[Any]) -> list[dict[str, Any]]:
    out = []
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict) or tool.get("type") != "function":
            kind = tool.get("type") if isinstance(tool, dict) else None
            raise InvalidRequest(f"tools[{i}]: only function tools are supported (built-in tool '{kind}' is not)",
                                 param=f"tools[{i}]")
        fn = {"name": tool.get("name"), "parameters": tool.get("parameters") or {"type": "object", "properties": {}}}
        if tool.get("description"):
            fn["description"] = tool["description"]
        if tool.get("strict") is not None:
            fn["strict"] = tool["strict"]
        out.append({"type": "function", "function": fn})
    return out


def _text_format(text: Any) -> dict[str, Any] | None:
    fmt = (text or {}).get("format") if isinstance(text, dict) else None
    if not isinstance(fmt, dict) or fmt.get("type") in (None, "text"):
        return None
    if fmt["type"] == "json_object":
        return {"type": "json_object"}
    if fmt["type"] == "json_schema":
        schema = {"name": fmt.get("name", "response"), "schema": fmt.get("schema") or {}}
        if fmt.get("strict") is not None:
            schema["strict"] = fmt["strict"]
        return {"type": "json_schema", "json_schema": schema}
    raise InvalidRequest(f"text.format.type '{fmt['type']}' is not supported", param="text.format")


def responses_request_to_chat(body: dict[str, Any]) -> dict[str, Any]:
    """A Responses API request as an OpenAI chat-completions body."""
    if not isinstance(body, dict):
        raise InvalidRequest("the request body must be a JSON object")
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise InvalidRequest("model: field required", param="model")
    if body.get("previous_response_id") or body.get("conversation"):
        raise InvalidRequest("previous_response_id/conversation need server-side state, which this gateway does "
                             "not keep: send the whole conversation in 'input'", param="previous_response_id")
    raw = body.get("input")
    if isinstance(raw, str):
        messages: list[dict[str, Any]] = [{"role": "user", "content": raw}]
    elif isinstance(raw, list) and raw:
        messages = _input_items(raw)
    else:
        raise InvalidRequest("input: a string or a non-empty list of items is required", param="input")
    if body.get("instructions"):
        messages.insert(0, {"role": "system", "content": str(body["instructions"])})
    out: dict[str, Any] = {"model": body["model"], "messages": messages}
    if body.get("max_output_tokens") is not None:
        out["max_tokens"] = body["max_output_tokens"]
    for key in ("temperature", "top_p", "parallel_tool_calls", "top_logprobs"):
        if body.get(key) is not None:
            out[key] = body[key]
    user = body.get("safety_identifier") or body.get("user")
    if user:
        out["user"] = str(user)
    if body.get("tools"):
        out["tools"] = _tools(body["tools"])
    choice = body.get("tool_choice")
    if isinstance(choice, str):
        out["tool_choice"] = choice
    elif isinstance(choice, dict) and choice.get("type") == "function":
        out["tool_choice"] = {"type": "function", "function": {"name": choice.get("name")}}
    if fmt := _text_format(body.get("text")):
        out["response_format"] = fmt
    if body.get("stream"):
        out["stream"] = True
        out["stream_options"] = {"include_usage": True}
    return out


def _usage(usage: dict[str, Any] | None) -> dict[str, Any]:
    usage = usage or {}
    inp, out = int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
    cached = int(((usage.get("prompt_tokens_details") or {}).get("cached_tokens")) or 0)
    reasoning = int(((usage.get("completion_tokens_details") or {}).get("reasoning_tokens")) or 0)
    return {"input_tokens": inp, "input_tokens_details": {"cached_tokens": cached, "cache_write_tokens": 0},
            "output_tokens": out, "output_tokens_details": {"reasoning_tokens": reasoning},
            "total_tokens": inp + out}


def _status(finish: str | None) -> tuple[str, dict[str, str] | None]:
    if finish == "length":
        return "incomplete", {"reason": "max_output_tokens"}
    if finish == "content_filter":
        return "incomplete", {"reason": "content_filter"}
    return "completed", None


def response_envelope(resp_id: str, model: str, created: float, request: dict[str, Any] | None) -> dict[str, Any]:
    """The fields of a ``Response`` object that do not depend on the answer (echoing the request)."""
    req = request or {}
    return {
        "id": resp_id, "object": "response", "created_at": created, "model": model, "status": "in_progress",
        "output": [], "error": None, "incomplete_details": None, "instructions": req.get("instructions"),
        "metadata": req.get("metadata") or {}, "parallel_tool_calls": req.get("parallel_tool_calls", True),
        "temperature": req.get("temperature"), "top_p": req.get("top_p"),
        "tool_choice": req.get("tool_choice") or "auto", "tools": req.get("tools") or [],
        "max_output_tokens": req.get("max_output_tokens"), "previous_response_id": None,
        "reasoning": None, "store": False, "text": req.get("text") or {"format": {"type": "text"}},
        "truncation": "disabled", "usage": None, "user": req.get("user"),
    }


def message_item(item_id: str, text: str, status: str = "completed") -> dict[str, Any]:
    return {"id": item_id, "type": "message", "role": "assistant", "status": status,
            "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]}


def function_item(item_id: str, call_id: str, name: str, arguments: str, status: str = "completed") -> dict[str, Any]:
    return {"id": item_id, "type": "function_call", "call_id": call_id, "name": name, "arguments": arguments,
            "status": status}


def chat_response_to_responses(
    resp: dict[str, Any], model: str, request: dict[str, Any] | None = None
) -> dict[str, Any]:
    """An OpenAI ``chat.completion`` as a Responses API ``response`` (``request`` is echoed if given)."""
    choice = (resp.get("choices") or [{}])[0]
    msg = choice.get("message") or {}
    output: list[dict[str, Any]] = []
    if isinstance(msg.get("content"), str) and (msg["content"] or not msg.get("tool_calls")):
        output.append(message_item(_new_id("msg"), msg["content"]))
    for call in msg.get("tool_calls") or []:
        fn = call.get("function") or {}
        output.append(function_item(_new_id("fc"), call.get("id") or _new_id("call"), fn.get("name") or "",
                                    fn.get("arguments") or "{}"))
    status, incomplete = _status(choice.get("finish_reason"))
    created = float(resp.get("created") or time.time())
    out = response_envelope(_new_id("resp"), model, created, request)
    out.update(status=status, incomplete_details=incomplete, output=output, usage=_usage(resp.get("usage")))
    if status == "completed":
        out["completed_at"] = time.time()
    return out


class ResponsesStreamTranslator:
    """OpenAI chunks in, Responses API SSE ``(event, data)`` pairs out.

    Text becomes one ``message`` output item; each tool call its own ``function_call`` item.
    Every event carries a running ``sequence_number``, as the SDK's stream accumulator expects.
    """

    def __init__(self, model: str, request: dict[str, Any] | None = None) -> None:
        self.model, self.request = model, request
        self.resp_id, self.created = _new_id("resp"), time.time()
        self.seq = 0
        self.started = False
        self.items: list[dict[str, Any]] = []  # output items in order, mutated as deltas arrive
        self.text_item: dict[str, Any] | None = None
        self.tool_items: dict[int, dict[str, Any]] = {}
        self.finish_reason: str | None = None
        self.usage: dict[str, Any] | None = None

    def _ev(self, event: str, **fields: Any) -> tuple[str, dict[str, Any]]:
        data = {"type": event, "sequence_number": self.seq, **fields}
        self.seq += 1
        return event, data

    def _envelope(self) -> dict[str, Any]:
        return response_envelope(self.resp_id, self.model, self.created, self.request)

    def _start(self) -> list[tuple[str, dict[str, Any]]]:
        self.started = True
        return [self._ev("response.created", response=self._envelope()),
                self._ev("response.in_progress", response=self._envelope())]

    def _text(self, delta: str) -> list[tuple[str, dict[str, Any]]]:
        events = []
        if self.text_item is None:
            self.text_item = message_item(_new_id("msg"), "", "in_progress")
            self.items.append(self.text_item)
            idx = len(self.items) - 1
            events.append(self._ev("response.output_item.added", output_index=idx,
                                   item={**self.text_item, "content": []}))
            events.append(self._ev("response.content_part.added", item_id=self.text_item["id"], output_index=idx,
                                   content_index=0, part={"type": "output_text", "text": "", "annotations": []}))
        self.text_item["content"][0]["text"] += delta
        events.append(self._ev("response.output_text.delta", item_id=self.text_item["id"],
                               output_index=self.items.index(self.text_item), content_index=0, delta=delta,
                               logprobs=[]))
        return events

    def _tool(self, call: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        events = []
        idx = int(call.get("index", 0))
        fn = call.get("function") or {}
        item = self.tool_items.get(idx)
        if item is None:
            item = function_item(_new_id("fc"), call.get("id") or _new_id("call"), fn.get("name") or "", "",
                                 "in_progress")
            self.tool_items[idx] = item
            self.items.append(item)
            events.append(self._ev("response.output_item.added", output_index=len(self.items) - 1, item=dict(item)))
        if fn.get("arguments"):
            item["arguments"] += fn["arguments"]
            events.append(self._ev("response.function_call_arguments.delta", item_id=item["id"],
                                   output_index=self.items.index(item), delta=fn["arguments"]))
        return events

    def feed(self, chunk: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        events = [] if self.started else self._start()
        if chunk.get("usage"):
            self.usage = chunk["usage"]
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") or {}
            if delta.get("content"):
                events += self._text(delta["content"])
            for call in delta.get("tool_calls") or []:
                events += self._tool(call)
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
        return events

    def _close_item(self, idx: int, item: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        item["status"] = "completed"
        events = []
        if item["type"] == "message":
            part = item["content"][0]
            events.append(self._ev("response.output_text.done", item_id=item["id"], output_index=idx,
                                   content_index=0, text=part["text"], logprobs=[]))
            events.append(self._ev("response.content_part.done", item_id=item["id"], output_index=idx,
                                   content_index=0, part=part))
        else:
            events.append(self._ev("response.function_call_arguments.done", item_id=item["id"], output_index=idx,
                                   name=item["name"], arguments=item["arguments"]))
        events.append(self._ev("response.output_item.done", output_index=idx, item=item))
        return events

    def finish(self) -> list[tuple[str, dict[str, Any]]]:
        events = [] if self.started else self._start()
        for idx, item in enumerate(self.items):
            events += self._close_item(idx, item)
        status, incomplete = _status(self.finish_reason)
        final = self._envelope()
        final.update(status=status, incomplete_details=incomplete, output=self.items, usage=_usage(self.usage))
        if status == "completed":
            final["completed_at"] = time.time()
        name = "response.completed" if status == "completed" else "response.incomplete"
        events.append(self._ev(name, response=final))
        return events

    def error(self, err: Any) -> list[tuple[str, dict[str, Any]]]:
        """Events for a failure mid-stream (a ``GatewayError``): ``error`` then ``response.failed``."""
        events = [] if self.started else self._start()
        message, code = getattr(err, "message", str(err)), getattr(err, "code", None)
        events.append(self._ev("error", code=code, message=message, param=getattr(err, "param", None)))
        failed = self._envelope()
        failed.update(status="failed", output=self.items, error={"code": "server_error", "message": message})
        events.append(self._ev("response.failed", response=failed))
        return events
