"""Golden request translations: what each adapter puts on the wire, asserted field by field."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from aiguillage.errors import UpstreamRejected
from aiguillage.providers.aleph_alpha import to_aleph_alpha
from aiguillage.providers.anthropic import JSON_INSTRUCTION
from aiguillage.providers.mistral import mistral_tool_id
from tests.providers.harness import running, run

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
CALL = {"id": "call_abc123XYZ", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}
MESSAGES = [
    {"role": "system", "content": "Tu es un assistant."},
    {"role": "user", "content": "Quel temps fait-il à Paris ?"},
    {"role": "assistant", "content": None, "tool_calls": [CALL]},
    {"role": "tool", "tool_call_id": "call_abc123XYZ", "content": '{"temp": 18}'},
    {"role": "user", "content": "Et demain ?"},
]


def rich(model: str, **extra: Any) -> dict[str, Any]:
    body = {"model": model, "messages": copy.deepcopy(MESSAGES), "tools": [WEATHER], "tool_choice": "required",
            "temperature": 0.3, "top_p": 0.9, "max_tokens": 200, "stop": ["FIN"], "seed": 42,
            "response_format": {"type": "json_object"}}
    return {**body, **extra}


def sent(kind: str, body_extra: dict[str, Any] | None = None, **dep: Any) -> tuple[Any, Any]:
    async def go() -> tuple[Any, Any]:
        async with running(kind, **dep) as (provider, fake):
            await provider.complete(rich(provider.upstream_model, **(body_extra or {})))
            return fake.last, provider.upstream_model
    return run(go())


def test_mistral_request() -> None:
    rec, model = sent("mistral", options={"safe_prompt": True})
    assert rec.path == "/v1/chat/completions"
    assert rec.headers["authorization"] == "Bearer sk-test"
    mid = mistral_tool_id("call_abc123XYZ")
    assert len(mid) == 9 and mid.isalnum() and mid == mistral_tool_id("call_abc123XYZ")
    expected_msgs = copy.deepcopy(MESSAGES)
    expected_msgs[2]["tool_calls"][0]["id"] = mid
    expected_msgs[3]["tool_call_id"] = mid
    assert rec.body == {
        "model": model, "messages": expected_msgs, "tools": [WEATHER], "tool_choice": "any", "temperature": 0.3,
        "top_p": 0.9, "max_tokens": 200, "stop": ["FIN"], "random_seed": 42,
        "response_format": {"type": "json_object"}, "safe_prompt": True,
    }


def test_mistral_keeps_its_own_ids_and_maps_max_completion_tokens() -> None:
    body = {"messages": [{"role": "assistant", "content": "", "tool_calls": [{**CALL, "id": "Ab3dE6gH9"}]},
                         {"role": "tool", "tool_call_id": "Ab3dE6gH9", "content": "ok"}],
            "max_completion_tokens": 50, "seed": None, "logprobs": True}
    rec, _ = sent("mistral", body)
    assert rec.body["messages"][0]["tool_calls"][0]["id"] == "Ab3dE6gH9"
    assert rec.body["messages"][1]["tool_call_id"] == "Ab3dE6gH9"
    assert rec.body["max_tokens"] == 50 and "max_completion_tokens" not in rec.body and "logprobs" not in rec.body


@pytest.mark.parametrize("version", [None, "2025-01-01-preview"])
def test_azure_request(version: str | None) -> None:
    rec, _ = sent("azure_openai", options={"api_version": version} if version else {})
    assert rec.path == "/openai/deployments/gpt-4o-eu/chat/completions"
    assert rec.query == {"api-version": version or "2024-10-21"}
    assert rec.headers["api-key"] == "sk-test" and "authorization" not in rec.headers
    expected = rich("x")
    del expected["model"]
    assert rec.body == expected


def test_anthropic_request() -> None:
    rec, model = sent("anthropic", {"user": "u-42", "parallel_tool_calls": False})
    assert rec.path == "/v1/messages"
    assert rec.headers["x-api-key"] == "sk-test" and rec.headers["anthropic-version"] == "2023-06-01"
    assert rec.body == {
        "model": model,
        "system": "Tu es un assistant.\n\n" + JSON_INSTRUCTION,
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "Quel temps fait-il à Paris ?"}]},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "call_abc123XYZ", "name": "get_weather",
                                               "input": {"city": "Paris"}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "call_abc123XYZ", "content": '{"temp": 18}'},
                {"type": "text", "text": "Et demain ?"}]},
        ],
        "max_tokens": 200, "temperature": 0.3, "top_p": 0.9, "stop_sequences": ["FIN"],
        "tools": [{"name": "get_weather", "description": "Current weather for a city",
                   "input_schema": WEATHER["function"]["parameters"]}],
        "tool_choice": {"type": "any", "disable_parallel_tool_use": True},
        "metadata": {"user_id": "u-42"},
    }


def test_anthropic_defaults_images_and_clamping() -> None:
    body = {"messages": [{"role": "developer", "content": "Sois bref."},
                         {"role": "user", "content": [
                             {"type": "text", "text": "Décris"},
                             {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]}],
            "max_tokens": None, "stop": "FIN", "temperature": 1.7, "tools": None, "tool_choice": None,
            "response_format": None, "seed": None}
    rec, _ = sent("anthropic", body, options={"max_tokens": 1024, "anthropic_version": "2023-01-01"})
    assert rec.headers["anthropic-version"] == "2023-01-01"
    assert rec.body["system"] == "Sois bref." and rec.body["max_tokens"] == 1024
    assert rec.body["temperature"] == 1.0 and rec.body["stop_sequences"] == ["FIN"]
    assert rec.body["messages"] == [{"role": "user", "content": [
        {"type": "text", "text": "Décris"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}]}]
    assert "tools" not in rec.body


def test_cohere_request() -> None:
    rec, model = sent("cohere")
    assert rec.path == "/v2/chat" and rec.headers["authorization"] == "Bearer sk-test"
    assert rec.body == {
        "model": model,
        "messages": [
            {"role": "system", "content": "Tu es un assistant."},
            {"role": "user", "content": "Quel temps fait-il à Paris ?"},
            {"role": "assistant", "tool_calls": [CALL]},
            {"role": "tool", "tool_call_id": "call_abc123XYZ", "content": '{"temp": 18}'},
            {"role": "user", "content": "Et demain ?"},
        ],
        "temperature": 0.3, "p": 0.9, "seed": 42, "max_tokens": 200, "stop_sequences": ["FIN"],
        "tools": [WEATHER], "tool_choice": "REQUIRED", "response_format": {"type": "json_object"},
    }


def test_cohere_json_schema() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    body = {"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}},
            "tools": None, "tool_choice": None}
    rec, _ = sent("cohere", body)
    assert rec.body["response_format"] == {"type": "json_object", "json_schema": schema}
    assert "tools" not in rec.body and "tool_choice" not in rec.body


def test_ai21_request() -> None:
    rec, model = sent("ai21", {"tool_choice": "auto"})
    assert rec.path == "/studio/v1/chat/completions" and rec.headers["authorization"] == "Bearer sk-test"
    expected_msgs = copy.deepcopy(MESSAGES)
    expected_msgs[2]["content"] = ""  # Jamba wants a string even next to tool_calls
    assert rec.body == {"model": model, "messages": expected_msgs, "tools": [WEATHER], "temperature": 0.3, "top_p": 0.9,
                        "max_tokens": 200, "stop": ["FIN"], "response_format": {"type": "json_object"}}


def test_ai21_refuses_forced_tool_calls_without_calling() -> None:
    async def go() -> None:
        async with running("ai21") as (provider, fake):
            with pytest.raises(UpstreamRejected, match="cannot force a tool call") as info:
                await provider.complete(rich(provider.upstream_model))
            assert info.value.retryable is False and fake.requests == []
    run(go())


def test_aleph_alpha_request() -> None:
    body = {"messages": [{"role": "developer", "content": "Kurz."},
                         {"role": "user", "content": [{"type": "text", "text": "Hallo"}]}],
            "max_completion_tokens": 64, "tools": None, "tool_choice": None, "response_format": None}
    rec, model = sent("aleph_alpha", body)
    assert rec.path == "/chat/completions" and rec.headers["authorization"] == "Bearer sk-test"
    assert rec.body == {"model": model, "messages": [{"role": "system", "content": "Kurz."},
                                                     {"role": "user", "content": "Hallo"}],
                        "temperature": 0.3, "top_p": 0.9, "max_tokens": 64, "stop": ["FIN"]}


def test_aleph_alpha_fits_its_alternating_text_contract() -> None:
    rec, _ = sent("aleph_alpha", {"max_tokens": 10})
    # One system message first; tool traffic folded into text; strict user/assistant alternation.
    assert rec.body["messages"] == [
        {"role": "system", "content": "Tu es un assistant."},
        {"role": "user", "content": "Quel temps fait-il à Paris ?"},
        {"role": "assistant", "content": ""},
        {"role": "user", "content": 'Tool result (call_abc123XYZ): {"temp": 18}\n\nEt demain ?'},
    ]
    assert rec.body["max_tokens"] == 10
    assert not {"tools", "tool_choice", "response_format", "seed"} & set(rec.body)
    legacy = to_aleph_alpha({"messages": [], "max_tokens": 10}, {"max_tokens_field": "maximum_tokens"})
    assert legacy == {"messages": [], "maximum_tokens": 10}


def test_ollama_request() -> None:
    rec, model = sent("ollama", options={"keep_alive": "10m", "num_ctx": 8192})
    assert rec.path == "/api/chat" and "authorization" in rec.headers
    assert rec.body == {
        "model": model,
        "messages": [
            {"role": "system", "content": "Tu es un assistant."},
            {"role": "user", "content": "Quel temps fait-il à Paris ?"},
            {"role": "assistant", "content": "",
             "tool_calls": [{"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]},
            {"role": "tool", "content": '{"temp": 18}', "tool_name": "get_weather"},
            {"role": "user", "content": "Et demain ?"},
        ],
        "stream": False,
        "options": {"temperature": 0.3, "top_p": 0.9, "seed": 42, "num_predict": 200, "stop": ["FIN"],
                    "num_ctx": 8192},
        "format": "json", "tools": [WEATHER], "keep_alive": "10m",
    }


def test_ollama_schema_format_and_images() -> None:
    schema = {"type": "object"}
    body = {"messages": [{"role": "user", "content": [
        {"type": "text", "text": "Was ist das?"},
        {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/4AAQ"}}]}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "s", "schema": schema}},
        "tool_choice": "none", "stop": None, "seed": None}
    rec, _ = sent("ollama", body, api_key=None)
    assert rec.body["format"] == schema and "tools" not in rec.body
    assert rec.body["messages"] == [{"role": "user", "content": "Was ist das?", "images": ["/9j/4AAQ"]}]
    assert "authorization" not in rec.headers


def test_anthropic_tool_choice_none_keeps_tools_declared() -> None:
    rec, _ = sent("anthropic", {"tool_choice": "none"})
    assert rec.body["tool_choice"] == {"type": "none"} and rec.body["tools"][0]["name"] == "get_weather"


def test_cohere_clamps_ranges() -> None:
    rec, _ = sent("cohere", {"top_p": 1.0, "frequency_penalty": 1.5, "presence_penalty": -0.5})
    assert rec.body["p"] == 0.99 and rec.body["frequency_penalty"] == 1.0 and rec.body["presence_penalty"] == 0.0
