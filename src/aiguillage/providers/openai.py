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

    # Servers that report usage in the last chunk on their own (or reject stream_options) set False.
    sends_stream_options: ClassVar[bool] = True

    def _quirks(self, body: dict[str, Any]) -> dict[str, Any]:
        """Known differences of OpenAI-compatible servers, keyed by ``options.server``."""
        server = self.deployment.options.get("server", "")
        if server not in ("tgi", "llamacpp", "lmstudio"):
            return body
        body = dict(body)
        if "max_completion_tokens" in body:
            # Older OpenAI-compatible servers only know the legacy name.
            body["max_tokens"] = body.pop("max_completion_tokens")
        rf = body.get("response_format")
        if server == "tgi":
            body.pop("stream_options", None)
            body.pop("parallel_tool_calls", None)
            if isinstance(rf, dict) and rf.get("type") in ("json_object", "json_schema"):
                # TGI wants the schema itself under "value".
                schema = (rf.get("json_schema") or {}).get("schema") or {"type": "object"}
                body["response_format"] = {"type": "json_object", "value": schema}
        elif server == "lmstudio" and isinstance(rf, dict) and rf.get("type") == "json_object":
            # LM Studio accepts only json_schema or text.
            body["response_format"] = {"type": "json_schema",
                                       "json_schema": {"name": "json", "schema": {"type": "object"}}}
        return body

    async def complete(self, body: dict[str, Any]) -> dict[str, Any]:
        resp = await self.post(self._url("chat/completions"), self._quirks(body), self._headers())
        data = await self.read_json(resp)
        if not isinstance(data, dict) or not isinstance(data.get("choices"), list) or \
                not all(isinstance(c, dict) for c in data["choices"]):
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
        payload: dict[str, Any] = {**body, "stream": True}
        if self.sends_stream_options:
            payload["stream_options"] = {"include_usage": True}
        resp = await self.post_stream(self._url("chat/completions"), self._quirks(payload), self._headers())
        finished = False
        async for _event, data in iter_sse(resp, self.deployment.id):
            if data == b"[DONE]":
                finished = True
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
            if any(c.get("finish_reason") for c in chunk.get("choices") or ()):
                finished = True
            yield chunk
        if not finished:
            # A connection closed before [DONE] or any finish_reason is a cut-off answer, not a short one.
            raise UpstreamHTTPError(
                f"deployment '{self.deployment.id}' ended the stream before finishing", deployment=self.deployment.id
            )

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
