"""The inspect step: language and personal data of one request, as the tenant's policy needs.

Inspection is as cheap as the policy allows: nothing at all when the policy allows personal
data and no deployment restricts languages; pattern and checksum detection (~1 ms) when some
action applies only to identifiers; names and addresses (the costly part) only when an action
applies to PERSON or ADDRESS. What ran and what it found (types and counts, never values) goes
into the decision record and the ``x-aiguillage-pii`` header.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from aiguillage.api.validate import ChatRequest
from aiguillage.config import Settings, TenantPolicy
from aiguillage.decision import Decision
from aiguillage.inspect import CONTEXT_TYPES, Entity, Pseudonymizer, detect_language, scan

# (message index, where): where is None for a plain-string content, j >= 0 for content part j,
# and -(k + 1) for the arguments of tool call k (text the model wrote, which may repeat personal data).
Segment = tuple[int, int | None]


def _segments(messages: list[dict[str, Any]]) -> list[tuple[Segment, str]]:
    out: list[tuple[Segment, str]] = []
    for i, m in enumerate(messages):
        c = m.get("content")
        if isinstance(c, str):
            out.append(((i, None), c))
        elif isinstance(c, list):
            for j, part in enumerate(c):
                if isinstance(part, dict) and isinstance(part.get("text"), str):
                    out.append(((i, j), part["text"]))
        for k, call in enumerate(m.get("tool_calls") or ()):
            args = (call.get("function") or {}).get("arguments") if isinstance(call, dict) else None
            if isinstance(args, str):
                out.append(((i, -(k + 1)), args))
    return out


def _replace(message: dict[str, Any], where: int | None, redact: Any) -> None:
    if where is None:
        message["content"] = redact(message["content"])
    elif where >= 0:
        parts = list(message["content"])
        parts[where] = {**parts[where], "text": redact(parts[where]["text"])}
        message["content"] = parts
    else:
        calls = [dict(c) for c in message["tool_calls"]]
        k = -where - 1
        fn = dict(calls[k]["function"])
        fn["arguments"] = redact(fn["arguments"])
        calls[k]["function"] = fn
        message["tool_calls"] = calls


@dataclass(slots=True)
class PseudonymTransform:
    """Redacts what leaves for a deployment outside on_prem and restores it in the answer."""

    pseudonymizer: Pseudonymizer
    found: dict[Segment, list[Entity]]
    types: frozenset[str]
    language: str | None
    context: bool
    _cache: list[dict[str, Any]] | None = field(default=None)

    def redact_messages(self, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if self._cache is not None:
            return self._cache
        out = [dict(m) for m in messages]
        for (i, j), entities in self.found.items():
            chosen = [e for e in entities if e.type in self.types]
            if chosen:
                _replace(out[i], j, lambda text, es=chosen: self.pseudonymizer.redact(text, es))
        self._cache = out
        return out

    def redact_text(self, text: str) -> str:
        entities = [e for e in scan(text, self.language, context=self.context) if e.type in self.types]
        return self.pseudonymizer.redact(text, entities)

    def restore_response(self, resp: dict[str, Any]) -> None:
        for choice in resp.get("choices") or []:
            msg = choice.get("message") or {}
            if isinstance(msg.get("content"), str):
                msg["content"] = self.pseudonymizer.restore(msg["content"])
            for tc in msg.get("tool_calls") or []:
                fn = tc.get("function") or {}
                if isinstance(fn.get("arguments"), str):
                    fn["arguments"] = self.pseudonymizer.restore(fn["arguments"])

    def stream_restorer(self) -> Any:
        return self.pseudonymizer.stream_restorer()


class Inspector:
    def __init__(self, settings: Settings) -> None:
        # Language detection is needed for routing only if some deployment restricts languages.
        self.languages_matter = any(d.languages != "all" for d in settings.models)

    def needed_by_any(self, settings: Settings) -> bool:
        policies = [settings.default_policy, *settings.tenants.values()]
        return self.languages_matter or any(self._needs(p)[0] for p in policies)

    @staticmethod
    def _needs(policy: TenantPolicy) -> tuple[bool, bool]:
        actions = {policy.personal_data, *policy.personal_data_overrides.values()}
        if actions == {"allow"}:
            return False, False
        context_actions = {policy.personal_data_overrides.get(t, policy.personal_data) for t in CONTEXT_TYPES}
        return True, context_actions != {"allow"}

    def inspect(self, req: ChatRequest, decision: Decision, policy: TenantPolicy
                ) -> tuple[str | None, list[tuple[Segment, list[Entity]]], bool]:
        pii, context = self._needs(policy)
        language = detect_language(req.prompt_text) if (pii or self.languages_matter) else None
        found: list[tuple[Segment, list[Entity]]] = []
        if pii:
            for seg, text in _segments(req.messages):
                entities = scan(text, language, context=context)
                if entities:
                    found.append((seg, entities))
        counts = Counter(e.type for _, es in found for e in es)
        decision.policy.update({
            "language": language,
            "inspection": ("patterns+context" if context else "patterns") if pii else "none",
            "personal_data": dict(sorted(counts.items())),
        })
        return language, found, context

    @staticmethod
    def transform(found: list[tuple[Segment, list[Entity]]], types: frozenset[str], language: str | None,
                  context: bool) -> PseudonymTransform | None:
        if not types or not found:
            return None
        return PseudonymTransform(Pseudonymizer(), dict(found), types, language, context)
