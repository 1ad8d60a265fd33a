"""Aleph Alpha (API and on-premise PhariaAI): the documented chat endpoint ``/chat/completions``.

Aleph Alpha also has the older ``/complete`` prompt endpoint; the chat endpoint is used because
it takes role-tagged messages and streams OpenAI-style ``chat.completion.chunk`` events
(with ``stream_options.include_usage``). Its documented contract is narrower than OpenAI's:
roles ``system``/``user``/``assistant`` only, string content, one system message first, then
alternating turns; no tools, no JSON mode, no seed. The body is rebuilt to fit: system and
developer messages are merged at the front, tool results become user text, consecutive turns
of one role are merged, and only documented parameters are sent.
"""

from __future__ import annotations

from typing import Any, ClassVar

from aiguillage.providers.base import CHAT, STREAM
from aiguillage.providers.openai import OpenAIProvider
from aiguillage.tokens import content_text

_ALLOWED = frozenset({
    "model", "max_tokens", "temperature", "top_p", "stream", "stream_options", "stop",
    "frequency_penalty", "presence_penalty", "logprobs", "top_logprobs", "n", "logit_bias",
})


def _messages(messages: list[dict[str, Any]]) -> list[dict[str, str]]:
    system: list[str] = []
    turns: list[dict[str, str]] = []
    for msg in messages:
        role, text = msg.get("role"), content_text(msg.get("content"))
        if role in ("system", "developer"):
            system.append(text)
            continue
        if role == "tool":
            role, text = "user", f"Tool result ({msg.get('tool_call_id', '')}): {text}"
        role = "assistant" if role == "assistant" else "user"
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"] += "\n\n" + text
        else:
            turns.append({"role": role, "content": text})
    head = [{"role": "system", "content": "\n\n".join(system)}] if system else []
    return head + turns


def to_aleph_alpha(body: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in body.items() if k in _ALLOWED and v is not None}
    out["messages"] = _messages(body.get("messages", []))
    if body.get("max_completion_tokens") is not None:
        out["max_tokens"] = body["max_completion_tokens"]
    if options.get("max_tokens_field") == "maximum_tokens" and "max_tokens" in out:
        # Older Aleph Alpha API releases name the limit ``maximum_tokens``.
        out["maximum_tokens"] = out.pop("max_tokens")
    return out


class AlephAlphaProvider(OpenAIProvider):
    kind: ClassVar[str] = "aleph_alpha"
    capabilities: ClassVar[frozenset[str]] = frozenset({CHAT, STREAM})
    default_base_url: ClassVar[str | None] = "https://api.aleph-alpha.com"
    default_jurisdiction: ClassVar[str | None] = "eu"
    default_data_retention: ClassVar[str | None] = (
        "not used for training; hosted in Germany, retention per your Aleph Alpha contract (none on-premise)"
    )

    def _quirks(self, body: dict[str, Any]) -> dict[str, Any]:
        return to_aleph_alpha(body, self.deployment.options)
