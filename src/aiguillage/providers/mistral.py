"""Mistral La Plateforme: OpenAI-like ``/v1/chat/completions`` with its own parameter names.

Mistral rejects fields it does not know (422), so the body is rebuilt from an allowlist.
Translations: ``seed`` -> ``random_seed``, ``tool_choice: "required"`` -> ``"any"``,
``max_completion_tokens`` -> ``max_tokens``; ``options.safe_prompt`` turns on the vendor's
guardrail prompt. Mistral only accepts tool-call ids of 9 letters/digits, so ids minted by
another vendor earlier in the conversation are mapped deterministically to that shape.
Streaming needs no ``stream_options``: the last chunk carries ``usage`` on its own.
"""

from __future__ import annotations

import hashlib
import string
from typing import Any, ClassVar


from aiguillage.providers.base import CHAT, EMBEDDINGS, JSON_MODE, STREAM, TOOLS
from aiguillage.providers.openai import OpenAIProvider

_ALLOWED = frozenset({
    "model", "messages", "temperature", "top_p", "max_tokens", "stream", "stop", "random_seed",
    "response_format", "tools", "tool_choice", "presence_penalty", "frequency_penalty", "n",
    "safe_prompt", "parallel_tool_calls", "prediction",
})
_ALNUM = string.ascii_letters + string.digits


def mistral_tool_id(call_id: str) -> str:
    """The 9-character id Mistral demands; ids already in that shape pass unchanged."""
    if len(call_id) == 9 and call_id.isalnum():
        return call_id
    digest = hashlib.sha256(call_id.encode()).digest()
    return "".join(_ALNUM[b % len(_ALNUM)] for b in digest[:9])


def _message(msg: dict[str, Any]) -> dict[str, Any]:
    msg = dict(msg)
    if msg.get("role") == "developer":
        msg["role"] = "system"
    if msg.get("tool_calls"):
        msg["tool_calls"] = [{**c, "id": mistral_tool_id(str(c.get("id", "")))} for c in msg["tool_calls"]]
    if msg.get("role") == "tool" and msg.get("tool_call_id"):
        msg["tool_call_id"] = mistral_tool_id(str(msg["tool_call_id"]))
    return msg


def to_mistral(body: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in body.items() if k in _ALLOWED and v is not None}
    out["messages"] = [_message(m) for m in body.get("messages", [])]
    if body.get("max_completion_tokens") is not None:
        out["max_tokens"] = body["max_completion_tokens"]
    if body.get("seed") is not None:
        out["random_seed"] = body["seed"]
    if out.get("tool_choice") == "required":
        out["tool_choice"] = "any"
    if isinstance(out.get("stop"), str):
        out["stop"] = [out["stop"]]
    if options.get("safe_prompt") is not None:
        out["safe_prompt"] = bool(options["safe_prompt"])
    if options.get("random_seed") is not None and "random_seed" not in out:
        out["random_seed"] = int(options["random_seed"])
    return out


class MistralProvider(OpenAIProvider):
    kind: ClassVar[str] = "mistral"
    sends_stream_options: ClassVar[bool] = False  # usage arrives in the last chunk anyway
    capabilities: ClassVar[frozenset[str]] = frozenset({CHAT, STREAM, TOOLS, JSON_MODE, EMBEDDINGS})
    default_base_url: ClassVar[str | None] = "https://api.mistral.ai/v1"
    default_jurisdiction: ClassVar[str | None] = "eu"
    default_data_retention: ClassVar[str | None] = (
        "30 days for abuse monitoring (La Plateforme terms); zero retention available on request"
    )

    def _quirks(self, body: dict[str, Any]) -> dict[str, Any]:
        return to_mistral(body, self.deployment.options)

    async def embed(self, body: dict[str, Any]) -> dict[str, Any]:
        # OpenAI's dimensions/user fields would be refused with a 422.
        return await super().embed({k: v for k, v in body.items() if k in ("model", "input", "encoding_format")})
