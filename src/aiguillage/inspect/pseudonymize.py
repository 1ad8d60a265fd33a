"""Reversible pseudonymisation: placeholders go upstream, original values come back in the answer.

One Pseudonymizer per request: the mapping lives only in memory for that request's lifetime.
"""

from __future__ import annotations

import re

from aiguillage.inspect.entity import Entity, resolve_overlaps

_PLACEHOLDER = re.compile(r"\[([A-Z_]+)_(\d+)\]")


def _key(entity_type: str, value: str) -> tuple[str, str]:
    # Same person or number written with other spacing/case gets the same placeholder.
    return entity_type, re.sub(r"[\s.\-/]+", "", value).casefold()


class Pseudonymizer:
    """Replaces entities by stable placeholders such as "[PERSON_1]" and restores them."""

    def __init__(self) -> None:
        self._by_key: dict[tuple[str, str], str] = {}
        self._originals: dict[str, str] = {}
        self._counters: dict[str, int] = {}

    @property
    def placeholders(self) -> dict[str, str]:
        """Placeholder -> original value (for the request's own use; never log it)."""
        return dict(self._originals)

    def _placeholder(self, entity: Entity) -> str:
        key = _key(entity.type, entity.text)
        found = self._by_key.get(key)
        if found is None:
            self._counters[entity.type] = self._counters.get(entity.type, 0) + 1
            found = f"[{entity.type}_{self._counters[entity.type]}]"
            self._by_key[key] = found
            self._originals[found] = entity.text
        return found

    def redact(self, text: str, entities: list[Entity]) -> str:
        """`text` with every entity replaced; overlapping entities are reduced to the best one."""
        parts: list[str] = []
        cursor = 0
        for entity in resolve_overlaps(list(entities)):
            if entity.start < cursor or entity.end > len(text):
                continue
            parts.append(text[cursor : entity.start])
            parts.append(self._placeholder(entity))
            cursor = entity.end
        parts.append(text[cursor:])
        return "".join(parts)

    def restore(self, text: str) -> str:
        """Original values back in place of the placeholders this request issued; others are left as is."""
        if "[" not in text:
            return text
        return _PLACEHOLDER.sub(lambda m: self._originals.get(m.group(), m.group()), text)

    def stream_restorer(self) -> StreamRestorer:
        return StreamRestorer(self)


class StreamRestorer:
    """Restores placeholders in a streamed answer, where one placeholder may be split across chunks.

    feed() emits everything that can no longer be the start of a placeholder and holds back the tail
    that still might be ("[PERS"); flush() emits the rest at the end of the stream.
    """

    def __init__(self, pseudonymizer: Pseudonymizer) -> None:
        self._p = pseudonymizer
        self._buffer = ""

    def feed(self, chunk: str) -> str:
        self._buffer += chunk
        hold = self._held_tail_start()
        ready, self._buffer = self._buffer[:hold], self._buffer[hold:]
        return self._p.restore(ready)

    def flush(self) -> str:
        ready, self._buffer = self._buffer, ""
        return self._p.restore(ready)

    def _held_tail_start(self) -> int:
        idx = self._buffer.rfind("[")
        if idx == -1:
            return len(self._buffer)
        tail = self._buffer[idx:]
        # Placeholders issued so far (also those of a redaction done after this restorer was made).
        if "]" not in tail and any(p.startswith(tail) for p in self._p._originals):
            return idx
        return len(self._buffer)
