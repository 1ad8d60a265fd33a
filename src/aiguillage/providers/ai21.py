"""AI21 Studio, Jamba chat: OpenAI-like ``/studio/v1/chat/completions``.

Jamba takes a narrower parameter set than OpenAI, so the body is rebuilt from an allowlist
(no ``seed``, ``stream_options``, penalties or ``tool_choice``) and content is always a string. Its JSON mode is
``json_object`` only: a ``json_schema`` request is sent as ``json_object`` with the schema
added to the system prompt. Jamba cannot be forced to call a tool, so ``tool_choice``
``required`` or a named function is refused (400) rather than silently ignored.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar


from aiguillage.errors import UpstreamRejected
from aiguillage.providers.base import CHAT, JSON_MODE, STREAM, TOOLS
from aiguillage.providers.openai import OpenAIProvider
from aiguillage.tokens import content_text

_ALLOWED = frozenset({
    "model", "messages", "tools", "n", "max_tokens", "temperature", "top_p", "stop", "stream",
    "response_format", "documents",
})


def _schema_hint(fmt: dict[str, Any]) -> str:
    schema = (fmt.get("json_schema") or {}).get("schema")
    return "Answer with one JSON object matching this JSON Schema: " + json.dumps(schema, ensure_ascii=False)


def _message(msg: dict[str, Any]) -> dict[str, Any]:
    # Jamba documents content as a required string for every role (also next to tool_calls).
    role = "system" if msg.get("role") == "developer" else msg.get("role")
    return {**msg, "role": role, "content": content_text(msg.get("content"))}


def to_ai21(body: dict[str, Any], dep: str) -> dict[str, Any]:
    out = {k: v for k, v in body.items() if k in _ALLOWED and v is not None}
    messages = [_message(m) for m in body.get("messages", [])]
    if body.get("max_completion_tokens") is not None:
        out["max_tokens"] = body["max_completion_tokens"]
    choice = body.get("tool_choice")
    if choice == "none":
        out.pop("tools", None)
    elif choice not in (None, "auto") and out.get("tools"):
        raise UpstreamRejected(
            f"deployment '{dep}' (AI21 Jamba) cannot force a tool call: use tool_choice 'auto' or another model",
            deployment=dep, param="tool_choice",
        )
    fmt = body.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        out["response_format"] = {"type": "json_object"}
        messages = [{"role": "system", "content": _schema_hint(fmt)}, *messages]
    out["messages"] = messages
    return out


class AI21Provider(OpenAIProvider):
    kind: ClassVar[str] = "ai21"
    sends_stream_options: ClassVar[bool] = False  # usage arrives in the last chunk anyway
    capabilities: ClassVar[frozenset[str]] = frozenset({CHAT, STREAM, TOOLS, JSON_MODE})
    default_base_url: ClassVar[str | None] = "https://api.ai21.com/studio/v1"
    default_jurisdiction: ClassVar[str | None] = "il"
    default_data_retention: ClassVar[str | None] = (
        "retained per AI21 Studio terms (no zero-retention default); check your agreement"
    )

    def _quirks(self, body: dict[str, Any]) -> dict[str, Any]:
        return to_ai21(body, self.deployment.id)

