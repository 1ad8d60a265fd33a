"""Answers turned back into OpenAI format, plain and streamed, for every vendor."""

from __future__ import annotations

import json
from typing import Any

import pytest

from aiguillage.providers.base import load_provider_class
from tests.providers.fakes.server import Answer
from tests.providers.harness import KINDS, assemble, collect, run, running

ASK = [{"role": "user", "content": "Bonjour"}]
TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
# Mistral rejects tool-call ids that are not 9 letters/digits, so the fakes all use such ids.
CALLS = [("Kx81AbQ2z", "get_weather", {"city": "Lyon"}), ("Zt62PoW9e", "get_time", {"tz": "Europe/Paris"})]


def body(model: str, **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": ASK, **extra}


def answer_for(kind: str, answer: Answer, stream: bool, **extra: Any) -> Any:
    async def go() -> Any:
        async with running(kind) as (provider, fake):
            fake.answer = answer
            if stream:
                return await collect(provider, body(provider.upstream_model, **extra))
            return await provider.complete(body(provider.upstream_model, **extra))
    return run(go())


@pytest.mark.parametrize("kind", KINDS)
def test_text_answer(kind: str) -> None:
    out = answer_for(kind, Answer(), stream=False)
    assert out["object"] == "chat.completion"
    choice = out["choices"][0]
    assert choice["message"] == {"role": "assistant", "content": "Bonjour ! Comment puis-je vous aider ?"}
    assert choice["finish_reason"] == "stop"
    assert out["usage"] == {"prompt_tokens": 21, "completion_tokens": 9, "total_tokens": 30}


@pytest.mark.parametrize("kind", KINDS)
def test_tool_call_answer(kind: str) -> None:
    out = answer_for(kind, Answer(text="", tool_calls=CALLS, finish="tool_calls"), stream=False, tools=TOOLS)
    choice = out["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    calls = choice["message"]["tool_calls"]
    assert [(c["type"], c["function"]["name"], json.loads(c["function"]["arguments"])) for c in calls] == [
        ("function", name, args) for _id, name, args in CALLS]
    if kind != "ollama":  # Ollama sends no ids: the adapter mints unique ones
        assert [c["id"] for c in calls] == [cid for cid, _n, _a in CALLS]
    assert len({c["id"] for c in calls}) == 2 and all(c["id"] for c in calls)
    assert not choice["message"]["content"]


@pytest.mark.parametrize("kind", KINDS)
def test_length_finish(kind: str) -> None:
    out = answer_for(kind, Answer(text="Une réponse coup", finish="length"), stream=False)
    assert out["choices"][0]["finish_reason"] == "length"
    assert out["choices"][0]["message"]["content"] == "Une réponse coup"


@pytest.mark.parametrize("kind", KINDS)
def test_streamed_text(kind: str) -> None:
    chunks = answer_for(kind, Answer(), stream=True)
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[0]["choices"][0]["delta"].get("role") == "assistant"
    msg = assemble(chunks)
    assert msg["content"] == "Bonjour ! Comment puis-je vous aider ?"
    assert msg["finish_reason"] == "stop" and msg["tool_calls"] == []
    assert msg["usage"] == {"prompt_tokens": 21, "completion_tokens": 9, "total_tokens": 30}
    assert chunks[-1].get("usage") == msg["usage"], "usage must ride on the last chunk"


@pytest.mark.parametrize("kind", KINDS)
def test_streamed_tool_calls(kind: str) -> None:
    chunks = answer_for(kind, Answer(text="", tool_calls=CALLS, finish="tool_calls"), stream=True, tools=TOOLS)
    msg = assemble(chunks)
    assert msg["finish_reason"] == "tool_calls"
    assert [(c["name"], json.loads(c["arguments"])) for c in msg["tool_calls"]] == [(n, a) for _i, n, a in CALLS]
    assert all(c["id"] for c in msg["tool_calls"])


@pytest.mark.parametrize("kind", KINDS)
def test_streamed_length(kind: str) -> None:
    msg = assemble(answer_for(kind, Answer(text="coupé", finish="length"), stream=True))
    assert msg["finish_reason"] == "length" and msg["content"] == "coupé"


def test_cohere_bills_billed_units_not_raw_tokens() -> None:
    # The fake reports 200 more raw prompt tokens (Cohere's own template) than it bills.
    out = answer_for("cohere", Answer(input_tokens=10, output_tokens=5), stream=False)
    assert out["usage"]["prompt_tokens"] == 10


@pytest.mark.parametrize("kind,dims", [("ollama", 2), ("cohere", 2), ("mistral", 3), ("azure_openai", 3)])
def test_embeddings(kind: str, dims: int) -> None:
    async def go() -> dict[str, Any]:
        async with running(kind) as (provider, fake):
            out = await provider.embed({"model": provider.upstream_model, "input": ["un", "deux"]})
            assert fake.last.path.endswith(("embed", "embeddings"))
            return out
    out = run(go())
    assert out["object"] == "list" and out["data"][0]["object"] == "embedding"
    assert len(out["data"][0]["embedding"]) == dims and out["usage"]["prompt_tokens"] > 0


@pytest.mark.parametrize("kind", KINDS)
def test_catalog_defaults(kind: str) -> None:
    cls = load_provider_class(kind)
    assert cls.kind == kind
    assert cls.default_jurisdiction and cls.default_data_retention
    assert {"chat", "stream"} <= cls.capabilities
    assert (cls.default_base_url is None) == (kind == "azure_openai")
