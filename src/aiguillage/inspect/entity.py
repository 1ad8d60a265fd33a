"""The value object every detector returns."""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections.abc import Sequence
from dataclasses import dataclass, field

PERSON = "PERSON"
EMAIL = "EMAIL"
PHONE = "PHONE"
IBAN = "IBAN"
CREDIT_CARD = "CREDIT_CARD"
NATIONAL_ID = "NATIONAL_ID"
ADDRESS = "ADDRESS"
IP_ADDRESS = "IP_ADDRESS"
DATE_OF_BIRTH = "DATE_OF_BIRTH"

PATTERN_TYPES = (EMAIL, PHONE, IBAN, CREDIT_CARD, NATIONAL_ID, IP_ADDRESS, DATE_OF_BIRTH)
CONTEXT_TYPES = (PERSON, ADDRESS)
ALL_TYPES = PATTERN_TYPES + CONTEXT_TYPES


@dataclass(frozen=True, slots=True)
class Entity:
    """A span of personal data. `text` is kept out of repr so a logged entity never leaks the value."""

    start: int
    end: int
    type: str
    subtype: str | None
    score: float
    text: str = field(repr=False, compare=True)

    def to_json(self) -> dict[str, object]:
        """The CLI/API shape: offsets, type, subtype and score; never the value itself."""
        return {
            "start": self.start,
            "end": self.end,
            "type": self.type,
            "subtype": self.subtype,
            "score": round(self.score, 3),
        }


def resolve_overlaps(entities: list[Entity]) -> list[Entity]:
    """Keep the best of overlapping spans: higher score first, then the longer span."""
    ranked = sorted(entities, key=lambda e: (-e.score, -(e.end - e.start), e.start))
    kept: list[Entity] = []
    # The kept spans, sorted: they do not overlap, so each ends where or before the next starts, and the
    # last one starting before a candidate's end is the only one that can reach into it.
    spans: list[tuple[int, int]] = []
    for ent in ranked:
        i = bisect_left(spans, (ent.end,))  # spans starting before ent.end
        if i and spans[i - 1][1] > ent.start:
            continue
        insort(spans, (ent.start, ent.end))
        kept.append(ent)
    return sorted(kept, key=lambda e: e.start)


class Spans:
    """Spans already found, merged and sorted, so that 'does this range touch one' is a binary search
    rather than a loop over every entity of the prompt."""

    __slots__ = ("_starts", "_ends")

    def __init__(self, spans: Sequence[tuple[int, int]] = ()) -> None:
        merged: list[list[int]] = []
        for start, end in sorted(spans):
            if merged and start <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        self._starts = [start for start, _ in merged]
        self._ends = [end for _, end in merged]

    def overlaps(self, start: int, end: int) -> bool:
        """Some span shares a character with [start, end)."""
        i = bisect_left(self._starts, end) - 1
        return i >= 0 and self._ends[i] > start

    def covers(self, start: int, end: int) -> bool:
        """Every character of [start, end) lies in a span."""
        i = bisect_right(self._starts, start) - 1
        return i >= 0 and self._ends[i] >= end
