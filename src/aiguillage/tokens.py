"""Token estimates for when an upstream reports no usage, and for context-window checks.

No tokenizer is downloaded at run time, so counts are estimates: about four characters per
token for European languages, which is what BPE vocabularies of current models give on prose.
Upstream-reported usage always wins for billing.
"""

from __future__ import annotations

from typing import Any

CHARS_PER_TOKEN = 4
MESSAGE_OVERHEAD = 4  # role and separators per chat message


def count_tokens(text: str) -> int:
    return (len(text) + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN


def content_text(content: Any) -> str:
    """Text of an OpenAI message ``content``: a string or a list of typed parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            p.get("text", "") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)
        )
    return ""


def messages_text(messages: list[Any]) -> str:
    return "\n".join(content_text(m.get("content")) for m in messages if isinstance(m, dict))


def estimate_prompt_tokens(messages: list[Any], text: str | None = None) -> int:
    """``text``: ``messages_text(messages)`` when the caller already has it."""
    return count_tokens(messages_text(messages) if text is None else text) + MESSAGE_OVERHEAD * len(messages)


def max_prompt_tokens(text: str, messages: int) -> int:
    """An upper bound for budgets: a byte-level BPE never needs more than one token per UTF-8 byte,
    plus the chat template's role and separator tokens."""
    return len(text.encode("utf-8")) + 8 * messages + 3
