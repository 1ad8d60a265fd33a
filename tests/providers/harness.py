"""Build a provider against its fake vendor, both real, inside one event loop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from typing import Any, TypeVar


from aiguillage.providers.http import UpstreamHttp
from aiguillage.config import Deployment, Timeouts
from aiguillage.providers.base import Provider, load_provider_class
from tests.providers.fakes.anthropic import FakeAnthropic
from tests.providers.fakes.cohere import FakeCohere
from tests.providers.fakes.ollama import MODEL as OLLAMA_MODEL
from tests.providers.fakes.ollama import FakeOllama
from tests.providers.fakes.openai_like import FakeAI21, FakeAlephAlpha, FakeAzure, FakeMistral
from tests.providers.fakes.server import FakeVendor

T = TypeVar("T")

# kind -> (fake class, base_url suffix the user would configure, upstream model name)
VENDORS: dict[str, tuple[type[FakeVendor], str, str]] = {
    "mistral": (FakeMistral, "/v1", "mistral-small-latest"),
    "azure_openai": (FakeAzure, "", "gpt-4o-eu"),
    "anthropic": (FakeAnthropic, "/v1", "claude-sonnet-4-5"),
    "cohere": (FakeCohere, "/v2", "command-a-03-2025"),
    "aleph_alpha": (FakeAlephAlpha, "", "pharia-1-llm-7b-control"),
    "ai21": (FakeAI21, "/studio/v1", "jamba-mini"),
    "ollama": (FakeOllama, "", OLLAMA_MODEL),
}
KINDS = list(VENDORS)


def run(coro: Awaitable[T]) -> T:
    return asyncio.run(coro)  # type: ignore[arg-type]


@asynccontextmanager
async def running(kind: str, **deployment: Any) -> AsyncIterator[tuple[Provider, FakeVendor]]:
    fake_cls, suffix, model = VENDORS[kind]
    fake = await fake_cls().start()
    http = UpstreamHttp()
    try:
        dep = Deployment(**{"id": f"{kind}-test", "provider": kind, "base_url": fake.url + suffix, "model": model,
                            "api_key": "sk-test", "tier": "small", **deployment})
        yield load_provider_class(kind)(dep, http, Timeouts(connect=2, first_token=5, idle=5, total=10)), fake
    finally:
        await http.close()
        await fake.stop()


async def collect(provider: Provider, body: dict[str, Any]) -> list[dict[str, Any]]:
    return [chunk async for chunk in provider.stream(body)]


def assemble(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    """Fold OpenAI chunks into one message the way the openai SDK's stream helper does."""
    text, calls, finish, usage, role = "", {}, None, None, None
    for chunk in chunks:
        usage = chunk.get("usage") or usage
        for choice in chunk["choices"]:
            delta = choice["delta"]
            role = delta.get("role") or role
            text += delta.get("content") or ""
            for call in delta.get("tool_calls") or []:
                slot = calls.setdefault(call["index"], {"id": None, "name": "", "arguments": ""})
                slot["id"] = call.get("id") or slot["id"]
                fn = call.get("function") or {}
                slot["name"] += fn.get("name") or ""
                slot["arguments"] += fn.get("arguments") or ""
            finish = choice.get("finish_reason") or finish
    return {"role": role, "content": text, "tool_calls": [calls[i] for i in sorted(calls)], "finish_reason": finish,
            "usage": usage}
