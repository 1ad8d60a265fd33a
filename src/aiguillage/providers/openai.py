"""Any OpenAI-compatible HTTP endpoint: OpenAI itself, vLLM, llama.cpp server, TGI, LM Studio.

The request body is already in OpenAI format, so this provider is a pass-through that only
fixes what the servers disagree on (see ``_quirks``) and fills ``usage`` when a server omits it.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any, ClassVar

import orjson

from aiguillage.errors import UpstreamHTTPError
from aiguillage.providers.base import CHAT, EMBEDDINGS, JSON_MODE, STREAM, TOOLS, Provider, iter_sse
from aiguillage.tokens import count_tokens, messages_text


class OpenAIProvider(Provider):
    kind: ClassVar[str] = "openai"
    capabilities: ClassVar[frozenset[str]] = frozenset({CHAT, STREAM, TOOLS, JSON_MODE, EMBEDDINGS})
    default_base_url: ClassVar[str | None] = "https://api.openai.com/v1"
    default_jurisdiction: ClassVar[str | None] = "us"
    default_data_retention: ClassVar[str | None] = "up to 30 days for abuse monitoring (API terms)"

    def _headers(self) -> dict[str, str]:
        key = self.deployment.api_key
        return {"Authorization": f"Bearer {key}"} if key else {}

    def _url(self, path: str) -> str:
        return f"{self.base_url}/{path}"

    def _quirks(self, body: dict[str, Any]) -> dict[str, Any]:
        server = self.deployment.options.get("server", "")
        if server in ("tgi", "llamacpp", "lmstudio") and "max_completion_tokens" in body:
            # Older OpenAI-compatible servers only know the legacy name.
            body = dict(body)
            body.setdefault("max_tokens", body.pop("max_completion_tokens"))
        if server == "tgi":
            body = {k: v for k, v in body.items() if k not in ("stream_options", "parallel_tool_calls")}
        return body

    async def complete(self, body: dict[str, Any]) -> dict[str, Any]:
        resp = await self.post(self._url("chat/completions"), self._quirks(body), self._headers())
        data = await self.read_json(resp)
        if not isinstance(data, dict) or not isinstance(data.get("choices"), list):
            raise UpstreamHTTPError(
                f"deployment '{self.deployment.id}' answered without choices", deployment=self.deployment.id
            )
        if not data.get("usage"):
            text = "".join((c.get("message") or {}).get("content") or "" for c in data["choices"])
            prompt = count_tokens(messages_text(body.get("messages", [])))
            data["usage"] = {
                "prompt_tokens": prompt, "completion_tokens": count_tokens(text),
                "total_tokens": prompt + count_tokens(text),
            }
        return data

    async def stream(self, body: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        payload = self._quirks({**body, "stream": True})
        server = self.deployment.options.get("server", "")
        if server != "tgi":
            payload["stream_options"] = {"include_usage": True}
        resp = await self.post(self._url("chat/completions"), payload, self._headers())
        async for _event, data in iter_sse(resp, self.deployment.id):
            if data == b"[DONE]":
                break
            try:
                chunk = orjson.loads(data)
            except orjson.JSONDecodeError as exc:
                raise UpstreamHTTPError(
                    f"deployment '{self.deployment.id}' sent an invalid stream event", deployment=self.deployment.id
                ) from exc
            if isinstance(chunk, dict) and "error" in chunk and "choices" not in chunk:
                err = chunk["error"]
                msg = err.get("message") if isinstance(err, dict) else str(err)
                raise UpstreamHTTPError(
                    f"deployment '{self.deployment.id}' failed mid-stream: {msg}", deployment=self.deployment.id
                )
            yield chunk

    async def embed(self, body: dict[str, Any]) -> dict[str, Any]:
        resp = await self.post(self._url("embeddings"), body, self._headers())
        data = await self.read_json(resp)
        if not isinstance(data, dict) or "data" not in data:
            raise UpstreamHTTPError(
                f"deployment '{self.deployment.id}' answered embeddings without data", deployment=self.deployment.id
            )
        return data


def new_completion_id() -> str:
    return f"chatcmpl-{time.time_ns():x}"
