"""scan(): run the detectors a policy needs and return non-overlapping entities in text order."""

from __future__ import annotations

from aiguillage.inspect import context, identifiers, patterns
from aiguillage.inspect.entity import Entity, resolve_overlaps
from aiguillage.inspect.language import detect_language
from aiguillage.inspect.numbers import scan_digits


def scan(text: str, language: str | None = None, *, context: bool = True) -> list[Entity]:
    """Personal data in `text`.

    context=False runs only the pattern and check-digit detectors (the cheap path, for policies that
    need no names or addresses); context=True adds PERSON and ADDRESS. `language` (ISO 639-1) picks the
    phone numbering plans to try; it is detected when not given.
    """
    if not text:
        return []
    lang = language or detect_language(text)
    found: list[Entity] = []
    # One pass over the prompt finds every stretch of digits; each numeric detector then looks only at the
    # stretches with enough digits for its shape (IPv4 4, phone and identifiers 7, card 12, NIR 15).
    digits = scan_digits(text)
    numeric = digits.windows
    lowered = text.lower()
    found.extend(identifiers.find_ibans(text))
    found.extend(identifiers.find_cards(text, numeric))
    found.extend(identifiers.find_national_ids(text, numeric, [(e.start, e.end) for e in found], lowered,
                                               digits.cf_cores))
    found.extend(patterns.find_emails(text))
    found.extend(patterns.find_ips(text, numeric))
    found.extend(patterns.find_birth_dates(text, lowered))
    found.extend(patterns.find_phones(text, lang, [(e.start, e.end) for e in found], numeric))
    if context:
        found.extend(_context_entities(text, found))
    return resolve_overlaps(found)


def _context_entities(text: str, structured: list[Entity]) -> list[Entity]:
    # A name inside an e-mail address or a street named after a person is not a separate PERSON.
    taken = [(e.start, e.end) for e in structured]
    addresses = list(context.find_addresses(text))
    taken += [(a.start, a.end) for a in addresses]
    persons = [p for p in context.find_persons(text) if all(p.end <= s or p.start >= e for s, e in taken)]
    return addresses + persons
