"""OpenAI Responses API <-> OpenAI chat: golden cases and the official ``openai`` SDK as client."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest
from aiohttp import web
from openai.types.responses import Response

from aiguillage.api.responses import ResponsesStreamTranslator, chat_response_to_responses, responses_request_to_chat
from aiguillage.errors import InvalidRequest, UpstreamHTTPError
from tests.providers.harness import run
from tests.providers.minigateway import serve, text_chunks, tool_chunks, write_sse

USAGE = {"prompt_tokens": 12, "completion_tokens": 7, "total_tokens": 19,
         "prompt_tokens_details": {"cached_tokens": 4}}
SCHEMA = {"type": "object", "properties": {"ville": {"type": "string"}}, "required": ["ville"]}


def test_request_golden() -> None:
    body = {
        "model": "auto", "instructions": "Sois bref.", "max_output_tokens": 100, "temperature": 0.5, "top_p": 0.9,
        "stream": True, "store": False, "parallel_tool_calls": False, "safety_identifier": "u-9",
        "tools": [{"type": "function", "name": "get_weather", "description": "Météo", "parameters": SCHEMA,
                   "strict": True}],
        "tool_choice": {"type": "function", "name": "get_weather"},
        "text": {"format": {"type": "json_schema", "name": "meteo", "schema": SCHEMA, "strict": True}},
        "input": [
            {"role": "user", "content": [{"type": "input_text", "text": "Météo à "}, {"type": "input_text", "text": "Lille ?"}]},
            {"type": "reasoning", "id": "rs_1", "summary": []},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Je regarde."}]},
            {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": '{"ville": "Lille"}'},
            {"type": "function_call", "call_id": "call_2", "name": "get_weather", "arguments": '{"ville": "Gand"}'},
            {"type": "function_call_output", "call_id": "call_1", "output": "12°C"},
            {"type": "function_call_output", "call_id": "call_2", "output": [{"type": "input_text", "text": "9°C"}]},
            {"role": "user", "content": [{"type": "input_image", "image_url": "data:image/png;base64,AA", "detail": "low"}]},
        ],
    }
    assert responses_request_to_chat(body) == {
        "model": "auto", "max_tokens": 100, "temperature": 0.5, "top_p": 0.9, "parallel_tool_calls": False,
        "user": "u-9", "stream": True, "stream_options": {"include_usage": True},
        "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Météo",
                                                    "parameters": SCHEMA, "strict": True}}],
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        "response_format": {"type": "json_schema", "json_schema": {"name": "meteo", "schema": SCHEMA, "strict": True}},
        "messages": [
            {"role": "system", "content": "Sois bref."},
            {"role": "user", "content": "Météo à Lille ?"},
            {"role": "assistant", "content": "Je regarde.", "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"ville": "Lille"}'}},
                {"id": "call_2", "type": "function", "function": {"name": "get_weather", "arguments": '{"ville": "Gand"}'}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "12°C"},
            {"role": "tool", "tool_call_id": "call_2", "content": "9°C"},
            {"role": "user", "content": [{"type": "image_url",
                                          "image_url": {"url": "data:image/png;base64,AA", "detail": "low"}}]},
        ],
    }


def test_plain_string_input_and_json_object() -> None:
    out = responses_request_to_chat({"model": "m", "input": "Bonjour", "text": {"format": {"type": "json_object"}},
                                     "tool_choice": "required"})
    assert out == {"model": "m", "messages": [{"role": "user", "content": "Bonjour"}],
                   "response_format": {"type": "json_object"}, "tool_choice": "required"}


@pytest.mark.parametrize("body,param", [
    ({"input": "x"}, "model"),
    ({"model": "m"}, "input"),
    ({"model": "m", "input": []}, "input"),
    ({"model": "m", "input": "x", "previous_response_id": "resp_1"}, "previous_response_id"),
    ({"model": "m", "input": "x", "tools": [{"type": "web_search"}]}, "tools[0]"),
    ({"model": "m", "input": [{"type": "item_reference", "id": "x"}]}, "input[0]"),
    ({"model": "m", "input": [{"role": "user", "content": [{"type": "input_file", "file_id": "f"}]}]},
     "input[0].content[0]"),
])
def test_bad_requests(body: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        responses_request_to_chat(body)
    assert info.value.param == param


def completion(message: dict[str, Any], finish: str) -> dict[str, Any]:
    return {"id": "chatcmpl-9", "object": "chat.completion", "created": 1700000000, "model": "upstream",
            "choices": [{"index": 0, "message": message, "finish_reason": finish}], "usage": USAGE}


def test_response_golden() -> None:
    msg = {"role": "assistant", "content": "Voilà.", "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"ville": "Nice"}'}}]}
    out = chat_response_to_responses(completion(msg, "tool_calls"), "auto", {"model": "auto", "temperature": 0.1})
    assert out["object"] == "response" and out["status"] == "completed" and out["model"] == "auto"
    assert out["id"].startswith("resp_") and out["created_at"] == 1700000000 and out["temperature"] == 0.1
    assert [i["type"] for i in out["output"]] == ["message", "function_call"]
    assert out["output"][0]["content"][0] == {"type": "output_text", "text": "Voilà.", "annotations": [],
                                              "logprobs": []}
    fc = out["output"][1]
    assert (fc["call_id"], fc["name"], fc["arguments"], fc["status"]) == ("call_1", "get_weather",
                                                                          '{"ville": "Nice"}', "completed")
    assert out["usage"] == {"input_tokens": 12, "input_tokens_details": {"cached_tokens": 4, "cache_write_tokens": 0},
                            "output_tokens": 7, "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 19}
    parsed = Response.model_validate(out)
    assert parsed.output_text == "Voilà." and parsed.usage is not None and parsed.usage.total_tokens == 19


def test_length_is_incomplete() -> None:
    out = chat_response_to_responses(completion({"role": "assistant", "content": "coup"}, "length"), "auto")
    assert out["status"] == "incomplete" and out["incomplete_details"] == {"reason": "max_output_tokens"}
    assert Response.model_validate(out).incomplete_details.reason == "max_output_tokens"  # type: ignore[union-attr]


# -- the official SDK against the translators ---------------------------------------------------------------
class Gateway:
    def __init__(self, chunks: list[dict[str, Any]], answer: dict[str, Any]) -> None:
        self.chunks, self.answer = chunks, answer
        self.seen: list[dict[str, Any]] = []

    async def __call__(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.seen.append(responses_request_to_chat(body))
        if body.get("stream"):
            tr = ResponsesStreamTranslator(body["model"], body)
            events = [ev for chunk in self.chunks for ev in tr.feed(chunk)] + tr.finish()
            return await write_sse(request, events)
        return web.json_response(chat_response_to_responses(self.answer, body["model"], body))


def with_sdk(gw: Gateway, use: Any) -> Any:
    async def go() -> Any:
        async with serve("/v1/responses", gw) as url:
            client = openai.AsyncOpenAI(api_key="gw-key", base_url=url + "/v1", max_retries=0)
            try:
                return await use(client)
            finally:
                await client.close()
    return run(go())


def test_sdk_create() -> None:
    gw = Gateway([], completion({"role": "assistant", "content": "Salut !"}, "stop"))
    resp = with_sdk(gw, lambda c: c.responses.create(model="auto", input="Bonjour", instructions="Sois poli."))
    assert resp.output_text == "Salut !" and resp.status == "completed" and resp.usage.input_tokens == 12
    assert gw.seen[0]["messages"] == [{"role": "system", "content": "Sois poli."}, {"role": "user", "content": "Bonjour"}]


def test_sdk_stream_text() -> None:
    gw = Gateway(text_chunks("chatcmpl-s", ["Bon", "jour", " !"], USAGE), {})

    async def use(client: openai.AsyncOpenAI) -> Any:
        async with client.responses.stream(model="auto", input="Bonjour") as stream:
            deltas = [ev.delta async for ev in stream if ev.type == "response.output_text.delta"]
            return deltas, await stream.get_final_response()
    deltas, final = with_sdk(gw, use)
    assert deltas == ["Bon", "jour", " !"]
    assert final.output_text == "Bonjour !" and final.status == "completed" and final.usage.output_tokens == 7


def test_sdk_raw_stream_tool_calls() -> None:
    calls = [("call_a", "get_weather", '{"ville": "Nice"}'), ("call_b", "get_time", '{"tz": "UTC"}')]
    gw = Gateway(tool_chunks("chatcmpl-t", calls, USAGE), {})

    async def use(client: openai.AsyncOpenAI) -> Any:
        stream = await client.responses.create(model="auto", input="Météo ?", stream=True)
        return [ev async for ev in stream]
    events = with_sdk(gw, use)
    seqs = [ev.sequence_number for ev in events]
    assert seqs == list(range(len(events)))
    assert events[0].type == "response.created" and events[-1].type == "response.completed"
    done = [ev for ev in events if ev.type == "response.function_call_arguments.done"]
    assert [(d.name, json.loads(d.arguments)) for d in done] == [("get_weather", {"ville": "Nice"}),
                                                                 ("get_time", {"tz": "UTC"})]
    final = events[-1].response
    assert [o.type for o in final.output] == ["message", "function_call", "function_call"]
    assert final.output_text == "Je regarde." and [o.call_id for o in final.output[1:]] == ["call_a", "call_b"]


def test_stream_error_events() -> None:
    tr = ResponsesStreamTranslator("auto")
    tr.feed(text_chunks("c", ["a"], USAGE)[1])
    events = tr.error(UpstreamHTTPError("upstream died", deployment="d"))
    assert [n for n, _ in events] == ["error", "response.failed"]
    assert events[0][1]["message"] == "upstream died"
    assert Response.model_validate(events[1][1]["response"]).status == "failed"


def test_sdk_stream_helper_with_tools() -> None:
    calls = [("call_a", "get_weather", '{"ville": "Nice"}')]
    gw = Gateway(tool_chunks("chatcmpl-t", calls, USAGE), {})
    tools = [{"type": "function", "name": "get_weather", "parameters": SCHEMA, "strict": False}]

    async def use(client: openai.AsyncOpenAI) -> Any:
        async with client.responses.stream(model="auto", input="Météo ?", tools=tools) as stream:
            kinds = [ev.type async for ev in stream]
            return kinds, await stream.get_final_response()
    kinds, final = with_sdk(gw, use)
    assert "response.function_call_arguments.delta" in kinds and kinds[-1] == "response.completed"
    call = final.output[1]
    assert (call.type, call.name, json.loads(call.arguments)) == ("function_call", "get_weather", {"ville": "Nice"})
    assert gw.seen[0]["tools"][0]["function"]["name"] == "get_weather"
