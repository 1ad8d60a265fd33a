"""Anthropic Messages API <-> OpenAI chat: golden cases and the official ``anthropic`` SDK as client."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import pytest
from aiohttp import web

from aiguillage.api.anthropic_messages import (
    MessagesStreamTranslator,
    chat_response_to_messages,
    error_to_anthropic,
    messages_request_to_chat,
)
from aiguillage.errors import (
    AuthenticationError,
    GatewayError,
    InvalidRequest,
    NotFound,
    Overloaded,
    PolicyBlocked,
    RateLimited,
    UpstreamHTTPError,
)
from tests.providers.harness import run
from tests.providers.minigateway import error_response, serve, text_chunks, tool_chunks, write_sse

USAGE = {"prompt_tokens": 12, "completion_tokens": 7, "total_tokens": 19}
WEATHER_SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}}


def test_request_golden() -> None:
    body = {
        "model": "auto", "max_tokens": 300, "temperature": 0.2, "top_p": 0.8, "top_k": 5,
        "stop_sequences": ["FIN"], "metadata": {"user_id": "u-1"}, "stream": True,
        "system": [{"type": "text", "text": "Tu es concis."}, {"type": "text", "text": "Réponds en français."}],
        "tools": [{"name": "get_weather", "description": "Météo", "input_schema": WEATHER_SCHEMA}],
        "tool_choice": {"type": "any", "disable_parallel_tool_use": True},
        "messages": [
            {"role": "user", "content": [
                {"type": "text", "text": "Regarde"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBO"}}]},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "hmm", "signature": "s"},
                {"type": "text", "text": "Je vérifie."},
                {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Nice"}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text", "text": "22°C"}]},
                {"type": "text", "text": "Et à Brest ?"}]},
            {"role": "assistant", "content": "Je regarde"},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_2", "content": "panne",
                                          "is_error": True}]},
        ],
    }
    assert messages_request_to_chat(body) == {
        "model": "auto", "max_tokens": 300, "temperature": 0.2, "top_p": 0.8, "stop": ["FIN"], "user": "u-1",
        "stream": True, "stream_options": {"include_usage": True},
        "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Météo",
                                                    "parameters": WEATHER_SCHEMA}}],
        "tool_choice": "required", "parallel_tool_calls": False,
        "messages": [
            {"role": "system", "content": "Tu es concis.\nRéponds en français."},
            {"role": "user", "content": [{"type": "text", "text": "Regarde"},
                                         {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBO"}}]},
            {"role": "assistant", "content": "Je vérifie.", "tool_calls": [
                {"id": "toolu_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Nice"}'}}]},
            {"role": "tool", "tool_call_id": "toolu_1", "content": "22°C"},
            {"role": "user", "content": "Et à Brest ?"},
            {"role": "assistant", "content": "Je regarde"},
            {"role": "tool", "tool_call_id": "toolu_2", "content": "Error: panne"},
        ],
    }


def test_named_tool_choice() -> None:
    out = messages_request_to_chat({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}],
                                    "tool_choice": {"type": "tool", "name": "f"}})
    assert out["tool_choice"] == {"type": "function", "function": {"name": "f"}}
    assert "parallel_tool_calls" not in out and "stream" not in out


@pytest.mark.parametrize("body,param", [
    ({"messages": [{"role": "user", "content": "x"}], "model": "m"}, "max_tokens"),
    ({"messages": [{"role": "user", "content": "x"}], "max_tokens": 0, "model": "m"}, "max_tokens"),
    ({"messages": [], "max_tokens": 5, "model": "m"}, "messages"),
    ({"messages": [{"role": "user", "content": "x"}], "max_tokens": 5}, "model"),
    ({"messages": [{"role": "system", "content": "x"}], "max_tokens": 5, "model": "m"}, "messages[0].role"),
    ({"messages": [{"role": "user", "content": [{"type": "audio"}]}], "max_tokens": 5, "model": "m"},
     "messages[0].content[0]"),
    ({"messages": [{"role": "user", "content": "x"}], "max_tokens": 5, "model": "m",
      "tools": [{"type": "web_search_20250305", "name": "web_search"}]}, "tools[0]"),
])
def test_bad_requests(body: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        messages_request_to_chat(body)
    assert info.value.param == param and info.value.status == 400


def completion(message: dict[str, Any], finish: str) -> dict[str, Any]:
    return {"id": "chatcmpl-9", "object": "chat.completion", "created": 1700000000, "model": "upstream",
            "choices": [{"index": 0, "message": message, "finish_reason": finish}], "usage": USAGE}


@pytest.mark.parametrize("finish,stop", [("stop", "end_turn"), ("length", "max_tokens"), ("tool_calls", "tool_use"),
                                         ("content_filter", "refusal")])
def test_response_golden(finish: str, stop: str) -> None:
    msg = {"role": "assistant", "content": "Voilà.", "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Nice"}'}}]}
    out = chat_response_to_messages(completion(msg, finish), "auto")
    assert out == {"id": "msg_chatcmpl-9", "type": "message", "role": "assistant", "model": "auto",
                   "content": [{"type": "text", "text": "Voilà."},
                               {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Nice"}}],
                   "stop_reason": stop, "stop_sequence": None, "usage": {"input_tokens": 12, "output_tokens": 7}}
    parsed = anthropic.types.Message.model_validate(out)
    assert parsed.content[1].type == "tool_use" and parsed.usage.output_tokens == 7


@pytest.mark.parametrize("err,kind", [
    (InvalidRequest("bad"), "invalid_request_error"), (AuthenticationError("who"), "authentication_error"),
    (PolicyBlocked("pii"), "permission_error"), (NotFound("nope"), "not_found_error"),
    (RateLimited("slow"), "rate_limit_error"), (Overloaded("busy"), "overloaded_error"),
    (UpstreamHTTPError("boom", deployment="d"), "api_error"),
])
def test_error_bodies(err: GatewayError, kind: str) -> None:
    assert error_to_anthropic(err) == {"type": "error", "error": {"type": kind, "message": err.message}}


# -- the official SDK against the translators -------------------------------------------------------------
class Gateway:
    def __init__(self, chunks: list[dict[str, Any]], answer: dict[str, Any], error: GatewayError | None = None):
        self.chunks, self.answer, self.error = chunks, answer, error
        self.seen: list[tuple[dict[str, str], dict[str, Any]]] = []

    async def __call__(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.seen.append(({k.lower(): v for k, v in request.headers.items()}, messages_request_to_chat(body)))
        if self.error is not None:
            return error_response(self.error, error_to_anthropic(self.error))
        if body.get("stream"):
            tr = MessagesStreamTranslator(body["model"])
            events = [ev for chunk in self.chunks for ev in tr.feed(chunk)] + tr.finish()
            return await write_sse(request, events)
        return web.json_response(chat_response_to_messages(self.answer, body["model"]))


def with_sdk(gw: Gateway, use: Any) -> Any:
    async def go() -> Any:
        async with serve("/v1/messages", gw) as url:
            client = anthropic.AsyncAnthropic(api_key="gw-key", base_url=url, max_retries=0)
            try:
                return await use(client)
            finally:
                await client.close()
    return run(go())


ASK = [{"role": "user", "content": "Bonjour"}]


def test_sdk_create() -> None:
    gw = Gateway([], completion({"role": "assistant", "content": "Salut !"}, "stop"))
    msg = with_sdk(gw, lambda c: c.messages.create(model="auto", max_tokens=64, messages=ASK))
    assert msg.content[0].text == "Salut !" and msg.stop_reason == "end_turn" and msg.usage.input_tokens == 12
    headers, chat = gw.seen[0]
    # SDK 2.x sends the key as a bearer token (1.x used x-api-key): the HTTP layer must take both.
    assert headers.get("x-api-key") == "gw-key" or headers.get("authorization") == "Bearer gw-key"
    assert headers["anthropic-version"]
    assert chat == {"model": "auto", "max_tokens": 64, "messages": [{"role": "user", "content": "Bonjour"}]}


def test_sdk_stream_text() -> None:
    gw = Gateway(text_chunks("chatcmpl-s", ["Bon", "jour", " !"], USAGE), {})

    async def use(client: anthropic.AsyncAnthropic) -> Any:
        async with client.messages.stream(model="auto", max_tokens=64, messages=ASK) as stream:
            texts = [t async for t in stream.text_stream]
            return texts, await stream.get_final_message()
    texts, final = with_sdk(gw, use)
    assert texts == ["Bon", "jour", " !"]
    assert final.content[0].text == "Bonjour !" and final.stop_reason == "end_turn"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (12, 7)


def test_sdk_stream_tool_calls() -> None:
    calls = [("call_a", "get_weather", '{"city": "Nice"}'), ("call_b", "get_time", '{"tz": "UTC"}')]
    gw = Gateway(tool_chunks("chatcmpl-t", calls, USAGE), {})

    async def use(client: anthropic.AsyncAnthropic) -> Any:
        async with client.messages.stream(model="auto", max_tokens=64, messages=ASK) as stream:
            return await stream.get_final_message()
    final = with_sdk(gw, use)
    assert [b.type for b in final.content] == ["text", "tool_use", "tool_use"]
    assert final.content[0].text == "Je regarde."
    assert [(b.id, b.name, b.input) for b in final.content[1:]] == [
        ("call_a", "get_weather", {"city": "Nice"}), ("call_b", "get_time", {"tz": "UTC"})]
    assert final.stop_reason == "tool_use"


def test_stream_event_order() -> None:
    tr = MessagesStreamTranslator("auto")
    events = [ev for c in tool_chunks("c", [("call_a", "f", "{}")], USAGE) for ev in tr.feed(c)] + tr.finish()
    names = [n for n, _ in events]
    assert names[0] == "message_start" and names[-2:] == ["message_delta", "message_stop"]
    starts = [d["index"] for n, d in events if n == "content_block_start"]
    stops = [d["index"] for n, d in events if n == "content_block_stop"]
    assert starts == stops == [0, 1]
    assert all(d["type"] == n for n, d in events)


def test_empty_stream_still_well_formed() -> None:
    events = MessagesStreamTranslator("auto").finish()
    assert [n for n, _ in events] == ["message_start", "message_delta", "message_stop"]


@pytest.mark.parametrize("err,exc", [
    (RateLimited("slow down", headers={"Retry-After": "3"}), anthropic.RateLimitError),
    (InvalidRequest("bad"), anthropic.BadRequestError),
    (AuthenticationError("who"), anthropic.AuthenticationError),
    (Overloaded("busy"), anthropic.InternalServerError),
])
def test_sdk_sees_typed_errors(err: GatewayError, exc: type[Exception]) -> None:
    gw = Gateway([], {}, error=err)

    async def use(client: anthropic.AsyncAnthropic) -> Any:
        with pytest.raises(exc) as info:
            await client.messages.create(model="auto", max_tokens=64, messages=ASK)
        return info.value
    raised = with_sdk(gw, use)
    assert err.message in str(raised)
    assert json.loads(raised.response.text)["error"]["type"] == error_to_anthropic(err)["error"]["type"]


def test_stream_error_event() -> None:
    tr = MessagesStreamTranslator("auto")
    tr.feed(text_chunks("c", ["a"], USAGE)[1])
    events = tr.error(RateLimited("slow down"))
    assert events == [("error", {"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}})]
    assert [n for n, _ in MessagesStreamTranslator("auto").error(RateLimited("x"))] == ["message_start", "error"]
