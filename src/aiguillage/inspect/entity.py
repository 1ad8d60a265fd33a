"""The value object every detector returns."""

from __future__ import annotations

import re
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
    for ent in ranked:
        if all(ent.end <= k.start or ent.start >= k.end for k in kept):
            kept.append(ent)
    return sorted(kept, key=lambda e: e.start)


# Maximal stretches of digits and the separators people put in numbers. Detectors of numeric types run
# their own regexes only inside these windows, instead of trying them at every offset of the prompt.
_NUMERIC = re.compile(r"\+?\(?\d[\d ()./\-]*\d\)?")


def numeric_windows(text: str, min_digits: int) -> list[tuple[int, int]]:
    """(start, end) of number-like stretches with at least `min_digits` digits; `end` leaves two characters
    of look-ahead so a regex run on the window can still see what follows the number."""
    out = []
    for m in _NUMERIC.finditer(text):
        if m.end() - m.start() >= min_digits and sum(map(str.isdigit, m.group())) >= min_digits:
            out.append((m.start(), min(len(text), m.end() + 2)))
    return out
