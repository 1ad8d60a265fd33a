"""Parse and check an OpenAI chat-completions body into a ChatRequest.

Hand-written checks rather than a model class: this runs on every request and costs a few
microseconds this way. Every failure is an ``InvalidRequest`` (400) naming the parameter,
like OpenAI's own API (never a 422).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from aiguillage.errors import InvalidRequest
from aiguillage.providers.base import JSON_MODE, STREAM, TOOLS, VISION
from aiguillage.tokens import estimate_prompt_tokens, max_prompt_tokens, messages_text

ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
DEFAULT_MAX_OUTPUT = 512
# Output cap for a budgeted tenant's request that names none: a reservation needs a bound.
BUDGET_OUTPUT_CAP = 4096
# Keys the gateway itself interprets; everything else is forwarded to the provider.
_GATEWAY_KEYS = frozenset({"model", "stream", "stream_options"})


@dataclass(slots=True)
class ChatRequest:
    body: dict[str, Any]  # what goes upstream (minus model/stream, set per attempt)
    model: str
    stream: bool
    include_usage: bool
    messages: list[dict[str, Any]]
    needs: frozenset[str]
    prompt_text: str
    prompt_tokens: int
    max_output_tokens: int
    # An upper bound on the prompt's tokens (what a budget reserves for), and whether the
    # client set the output limit itself.
    prompt_tokens_max: int = 0
    explicit_max_output: bool = True

    def upstream_body(self, upstream_model: str, messages: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        body = dict(self.body)
        body["model"] = upstream_model
        if messages is not None:
            body["messages"] = messages
        return body


# orjson reads JSON nested 1,024 deep but writes only about 254 levels: a body nested past that
# would be accepted, sent on, paid for, and then fail to be written back. The gateway puts a few
# levels of its own around what it echoes or translates (the Responses API's request, say).
_OWN_LEVELS = 8
_WRITABLE_DEPTH = 254 - _OWN_LEVELS


def parse_json(raw: bytes) -> Any:
    if not raw:
        raise InvalidRequest("the request body is empty; send a JSON object")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"the request body is not valid JSON: {exc}") from None
    # A body cannot nest deeper than it has brackets: only a rare one needs the real test, which
    # is orjson writing it (in C) inside as many levels as the gateway may add.
    if raw.count(b"[") + raw.count(b"{") > _WRITABLE_DEPTH:
        wrapped: Any = body
        for _ in range(_OWN_LEVELS):
            wrapped = [wrapped]
        try:
            orjson.dumps(wrapped)
        except orjson.JSONEncodeError:
            raise InvalidRequest(f"the request body nests deeper than about {_WRITABLE_DEPTH} levels") from None
    return body


def _number(body: dict[str, Any], name: str, lo: float, hi: float) -> None:
    v = body.get(name)
    if v is None:
        return
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise InvalidRequest(f"'{name}' must be a number", param=name)
    if not lo <= v <= hi:
        raise InvalidRequest(f"'{name}' must be between {lo:g} and {hi:g}, got {v}", param=name)


def _int(body: dict[str, Any], name: str, lo: int = 1) -> int | None:
    v = body.get(name)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int):
        raise InvalidRequest(f"'{name}' must be an integer", param=name)
    if v < lo:
        raise InvalidRequest(f"'{name}' must be at least {lo}, got {v}", param=name)
    return v


def _check_messages(messages: Any) -> tuple[list[dict[str, Any]], bool]:
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("'messages' must be a non-empty array of message objects", param="messages")
    vision = False
    for i, m in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(m, dict):
            raise InvalidRequest(f"'{where}' must be an object", param=where)
        role = m.get("role")
        if not isinstance(role, str) or role not in ROLES:
            raise InvalidRequest(f"'{where}.role' must be one of {', '.join(sorted(ROLES))}", param=f"{where}.role")
        content = m.get("content")
        if content is None:
            if role != "assistant":
                raise InvalidRequest(f"'{where}.content' is required for role '{role}'", param=f"{where}.content")
        elif isinstance(content, list):
            for j, part in enumerate(content):
                if not isinstance(part, dict) or not isinstance(part.get("type"), str):
                    raise InvalidRequest(
                        f"'{where}.content[{j}]' must be an object with a 'type'", param=f"{where}.content"
                    )
                if part["type"] in ("image_url", "input_image"):
                    vision = True
                    image = part.get("image_url")
                    if part["type"] == "image_url" and not (isinstance(image, dict) and isinstance(image.get("url"), str)):
                        raise InvalidRequest(f"'{where}.content[{j}].image_url' must be an object with a 'url' string",
                                             param=f"{where}.content")
                elif part["type"] == "text" and not isinstance(part.get("text"), str):
                    raise InvalidRequest(f"'{where}.content[{j}].text' must be a string", param=f"{where}.content")
        elif not isinstance(content, str):
            raise InvalidRequest(f"'{where}.content' must be a string or an array of parts", param=f"{where}.content")
        calls = m.get("tool_calls")
        if calls is not None and not (isinstance(calls, list) and all(isinstance(c, dict) for c in calls)):
            raise InvalidRequest(f"'{where}.tool_calls' must be an array of objects", param=f"{where}.tool_calls")
    return messages, vision


def _check_stop(stop: Any) -> None:
    if stop is None or isinstance(stop, str):
        return
    if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop) or len(stop) > 4:
        raise InvalidRequest("'stop' must be a string or an array of up to 4 strings", param="stop")


def _check_tools(body: dict[str, Any]) -> bool:
    tc = body.get("tool_choice")
    if tc is not None and not isinstance(tc, (str, dict)):
        raise InvalidRequest("'tool_choice' must be a string or an object", param="tool_choice")
    if isinstance(tc, dict) and "function" in tc and not isinstance(tc["function"], dict):
        raise InvalidRequest("'tool_choice.function' must be an object", param="tool_choice")
    tools = body.get("tools")
    if tools is None:
        return False
    if not isinstance(tools, list):
        raise InvalidRequest("'tools' must be an array", param="tools")
    for i, t in enumerate(tools):
        fn = t.get("function") if isinstance(t, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise InvalidRequest(f"'tools[{i}]' must be {{'type': 'function', 'function': {{'name': ...}}}}",
                                 param=f"tools[{i}]")
    return bool(tools)


def _json_mode(body: dict[str, Any]) -> bool:
    rf = body.get("response_format")
    if rf is None:
        return False
    if not isinstance(rf, dict) or rf.get("type") not in ("text", "json_object", "json_schema"):
        raise InvalidRequest("'response_format.type' must be text, json_object or json_schema",
                             param="response_format")
    if rf["type"] == "json_schema" and not isinstance(rf.get("json_schema"), dict):
        raise InvalidRequest("'response_format.json_schema' must be an object", param="response_format")
    return rf["type"] != "text"


def parse_chat(data: Any) -> ChatRequest:
    if not isinstance(data, dict):
        raise InvalidRequest("the request body must be a JSON object")
    model = data.get("model", "auto")
    if model is None:
        model = "auto"
    if not isinstance(model, str) or not model:
        raise InvalidRequest("'model' must be a non-empty string (a deployment id, a tier or 'auto')", param="model")
    stream = data.get("stream", False)
    if stream is None:
        stream = False
    if not isinstance(stream, bool):
        raise InvalidRequest("'stream' must be a boolean", param="stream")
    so = data.get("stream_options")
    if so is not None and not isinstance(so, dict):
        raise InvalidRequest("'stream_options' must be an object", param="stream_options")
    if so is not None and not stream:  # as OpenAI answers: the usage chunk would never come
        raise InvalidRequest("'stream_options' is only allowed when 'stream' is true", param="stream_options")
    include_usage = bool(so and so.get("include_usage"))
    messages, vision = _check_messages(data.get("messages"))
    _number(data, "temperature", 0, 2)
    _number(data, "top_p", 0, 1)
    _number(data, "frequency_penalty", -2, 2)
    _number(data, "presence_penalty", -2, 2)
    # Both names may be sent; the smaller bound is the one every server will honour.
    limits = [v for v in (_int(data, "max_completion_tokens"), _int(data, "max_tokens")) if v is not None]
    max_tokens = min(limits) if limits else None
    _int(data, "n")
    if data.get("n", 1) not in (1, None):
        raise InvalidRequest("only n=1 is supported", param="n")
    seed = data.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise InvalidRequest("'seed' must be an integer", param="seed")
    _check_stop(data.get("stop"))
    needs = set()
    if _check_tools(data):
        needs.add(TOOLS)
    if _json_mode(data):
        needs.add(JSON_MODE)
    if vision:
        needs.add(VISION)
    if stream:
        needs.add(STREAM)
    body = {k: v for k, v in data.items() if k not in _GATEWAY_KEYS}
    text = messages_text(messages)
    return ChatRequest(
        body=body, model=model, stream=stream, include_usage=include_usage, messages=messages,
        needs=frozenset(needs), prompt_text=text, prompt_tokens=estimate_prompt_tokens(messages, text),
        max_output_tokens=max_tokens or DEFAULT_MAX_OUTPUT,
        prompt_tokens_max=max_prompt_tokens(text, len(messages)), explicit_max_output=max_tokens is not None,
    )
