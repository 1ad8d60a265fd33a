"""One pass over the digits of a prompt, shared by the numeric detectors.

Every numeric type (phone, card, IBAN digits, national identifier, IPv4) lives in a stretch of digits and the
separators people put in numbers. scan_digits() finds those stretches with a single compiled regex, once per
prompt, with their digit counts; each detector then runs its own pattern only inside the stretches whose
shape it can match (a card needs 12 digits, a NIR 15, a phone 7) instead of trying it at every offset.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# (start, end, digit count). `end` leaves two characters of look-ahead after the number, so a regex run on
# the window with endpos=end still sees what follows it.
Window = tuple[int, int, int]

# A digit, a codice-fiscale month letter and a day digit ('85T10'): the codice fiscale's digits come in runs
# too short to make a stretch, so the same pass also finds these for identifiers.py.
CF_CORE = r"\d[A-EHLMPRSTa-ehlmprst][0-9LMNPQRSTUV]"

_NUMBER_SEPARATORS = str.maketrans("", "", " ()./-+")
# The stretch patterns start with \d, not with the optional '+(' prefix, so the regex engine skips ahead to
# the next digit instead of trying every offset; the prefix is added back by hand. They only match stretches
# with enough digits, so short numbers (years, amounts) never become Python objects.
_STRETCH_BODY = r"(?:[ ()./\-]*+\d){%d,}+\)?"
_STRETCH: dict[int, re.Pattern[str]] = {}
# Stretches of 4 digits or more, or else a codice-fiscale core (matched as its digit alone).
_SHARED_MIN_DIGITS = 4
_SHARED = re.compile(r"\d(?:%s|(?=%s))" % (_STRETCH_BODY % (_SHARED_MIN_DIGITS - 1), CF_CORE[2:]))
_CF_CORE = re.compile(CF_CORE)


@dataclass(frozen=True, slots=True)
class Digits:
    windows: list[Window]  # digit_windows(text, 4)
    cf_cores: list[int]  # start of each match of CF_CORE, as re.finditer finds them


def scan_digits(text: str) -> Digits:
    """digit_windows(text, 4) and the codice-fiscale cores, from one regex pass."""
    windows: list[Window] = []
    cores: list[int] = []
    size = len(text)
    for m in _SHARED.finditer(text):
        start, end = m.span()
        if end - start == 1:
            cores.append(start)
            continue
        # A core can also start at a stretch's last digit (never inside it: digits or separators follow).
        if text[end - 1] != ")" and _CF_CORE.match(text, end - 1):
            cores.append(end - 1)
        windows.append(_window(text, start, end, size, m.group()))
    # re.finditer does not return overlapping matches: after a core, the next starts 3 characters later.
    kept: list[int] = []
    for start in cores:
        if not kept or start >= kept[-1] + 3:
            kept.append(start)
    return Digits(windows, kept)


def digit_windows(text: str, min_digits: int) -> list[Window]:
    """(start, end, digit count) of number-like stretches with at least `min_digits` digits: maximal runs of
    digits and ' ()./-', from the first digit (with a '+' / '(' just before it) to the last (and a ')')."""
    pattern = _STRETCH.get(min_digits)
    if pattern is None:
        pattern = _STRETCH.setdefault(min_digits, re.compile(r"\d" + _STRETCH_BODY % max(1, min_digits - 1)))
    size = len(text)
    return [_window(text, m.start(), m.end(), size, m.group()) for m in pattern.finditer(text)]


def _window(text: str, start: int, end: int, size: int, number: str) -> Window:
    if start and text[start - 1] == "(":
        start -= 1
    if start and text[start - 1] == "+":
        start -= 1
    return start, min(size, end + 2), digit_count(number)


def numeric_windows(text: str, min_digits: int) -> list[tuple[int, int]]:
    """digit_windows() without the digit counts."""
    return [(start, end) for start, end, _ in digit_windows(text, min_digits)]


def digit_count(number: str) -> int:
    """Digits in a string of digits and the separators ' ()./-+'. (bytes.translate is several times faster
    than str.translate, and ASCII is the common case.)"""
    if number.isascii():
        return len(number.encode().translate(None, b" ()./-+"))
    return len(number.translate(_NUMBER_SEPARATORS))
