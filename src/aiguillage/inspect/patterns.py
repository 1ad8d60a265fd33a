"""Pattern detectors without check digits: e-mail, phone, IP address and date of birth."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator, Sequence

import phonenumbers

from aiguillage.inspect import cues
from aiguillage.inspect.entity import DATE_OF_BIRTH, EMAIL, IP_ADDRESS, PHONE, Entity, Spans
from aiguillage.inspect.numbers import Window, digit_count, digit_windows

_EMAIL = re.compile(
    r"(?<![\w.+\-])[A-Za-z0-9][A-Za-z0-9._%+\-]*@"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?\.)+[A-Za-z]{2,24}"
    r"(?![\w\-])"
)


_LOCAL_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._%+-"
_DOMAIN_RUN = re.compile(r"[A-Za-z0-9.\-]*+")


def _run_end(run: re.Pattern[str], text: str, at: int) -> int:
    """Where a run of ``run``'s characters starting at ``at`` ends (the pattern matches empty runs too)."""
    m = run.match(text, at)
    return m.end() if m is not None else at


def find_emails(text: str) -> Iterator[Entity]:
    """_EMAIL's matches, found from each '@' instead of trying the pattern at every offset: a match holds
    exactly one '@', starts within the run of local-part characters before it and ends within the run of
    domain characters after it (plus one character for the final look-ahead)."""
    done = 0  # end of the last match: matches do not overlap
    at = text.find("@")
    while at != -1:
        local = text[done:at]
        start = done + len(local.rstrip(_LOCAL_CHARS))
        end = min(len(text), _run_end(_DOMAIN_RUN, text, at + 1) + 1)
        m = _EMAIL.search(text, start, end)
        if m:
            done = m.end()
            yield Entity(m.start(), m.end(), EMAIL, None, 0.99, m.group())
        at = text.find("@", max(at + 1, done))


# --- phone -----------------------------------------------------------------------------------------

_PHONE = re.compile(
    r"(?<![\w+/.\-])(?:(?:\+|00)\d{1,3}[ .\-/]?(?:\(0\)[ .\-/]?)?)?(?:\(\d{1,5}\)|\d{1,5})"
    r"(?:[ .\-/]{0,2}\d{1,6}){1,6}(?![\w]|[.\-/]\d)"
)
# Plausible regions for each language: the first is tried first.
_REGIONS = {
    "de": ("DE", "AT", "CH"), "fr": ("FR", "BE", "CH", "LU"), "it": ("IT", "CH"), "es": ("ES",),
    "nl": ("NL", "BE"), "pl": ("PL",), "pt": ("PT",), "en": ("GB", "IE"),
}
_NUMERIC_DATE = re.compile(r"\d{1,4}[./\-]\d{1,2}[./\-]\d{1,4}")
_ALL_REGIONS = ("DE", "FR", "IT", "ES", "NL", "PL", "PT", "GB", "AT", "BE", "CH", "IE", "LU")
# libphonenumber looks its metadata patterns up through re.compile on every call; its own pattern cache
# (recent releases) saves that lookup, and a busy process cannot push them out of the re module's cache.
if hasattr(phonenumbers, "enable_pattern_cache"):
    phonenumbers.enable_pattern_cache()


def _phone_ok(candidate: str, regions: tuple[str, ...], cued: bool) -> bool:
    """Valid per the numbering plan (libphonenumber's metadata); only 'possible' if a phone label is near."""
    international = candidate.startswith(("+", "00"))
    for region in (None,) if international else regions:
        try:
            number = phonenumbers.parse(candidate.replace("(0)", ""), region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number) or (cued and phonenumbers.is_possible_number(number)):
            return True
    return False


def find_phones(text: str, language: str | None, taken: Sequence[tuple[int, int]] = (),
                windows: list[Window] | None = None) -> Iterator[Entity]:
    """`taken`: spans already found (IBAN, card, identifier, date…), whose digits are not phone numbers;
    `windows`: digit_windows(text, n) for any n ≤ 7, if the caller already has them."""
    regions = _REGIONS.get(language or "", _ALL_REGIONS)
    spans = Spans(taken)
    for start, end, count in digit_windows(text, 7) if windows is None else windows:
        # A phone number has 7 digits or more, and none can sit in a window that found spans cover.
        if count < 7 or spans.covers(start, end - 2):
            continue
        # In a window that is one numeric date ('12.03.2024'), every candidate would be a date too. (Only
        # when the window has its two characters of look-ahead, i.e. the number ends at end - 2.)
        if end < len(text) and _NUMERIC_DATE.fullmatch(text, start, end - 2):
            continue
        yield from _phones_in(text, start, end, regions, spans)


def _phones_in(text: str, start: int, end: int, regions: tuple[str, ...], taken: Spans) -> Iterator[Entity]:
    for m in _PHONE.finditer(text, start, end):
        value = m.group().rstrip(" .-/")
        if not 7 <= digit_count(value) <= 15 or _NUMERIC_DATE.fullmatch(value):
            continue
        if taken.overlaps(m.start(), m.end()):
            continue
        international = value.startswith(("+", "00"))
        window = cues.before(text, m.start(), 32)
        cued = cues.has_any(window, cues.PHONE)
        if not international and (
            (not cued and not _national_form(value, regions)) or cues.label_is_negative(window, cued)
        ):
            continue
        if _phone_ok(value, regions, cued):
            score = 0.8 if cued or international else 0.6
            yield Entity(m.start(), m.start() + len(value), PHONE, None, score, value)


# Countries whose national numbers are always dialled with the trunk prefix 0.
_TRUNK_ZERO = frozenset({"DE", "AT", "CH", "FR", "BE", "NL", "GB", "IE"})
_NATIONAL_START = {"IT": "03", "ES": "6789", "PT": "29", "PL": "123456789", "LU": "123456789"}


_GROUPED = re.compile(r"\d[ .\-/)]")


def _national_form(value: str, regions: tuple[str, ...]) -> bool:
    """An unlabelled national number is only taken when written as that country writes phone numbers:
    with the trunk 0 where there is one, and grouped by separators rather than one long digit run."""
    first = value.lstrip("(")[0]
    grouped = _GROUPED.search(value) is not None
    for region in regions:
        starts = "0" if region in _TRUNK_ZERO else _NATIONAL_START.get(region, "0")
        if first in starts and (grouped or first == "0"):
            return True
    return False


# --- IP addresses ----------------------------------------------------------------------------------

_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w]|\.\d)")
_IPV6 = re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])")


# Two colons at most four hex digits apart: every IPv6 address has them, most prompts (with their 'Tel.:'
# and 'IBAN:' labels) do not.
_IPV6_HINT = re.compile(r":[0-9A-Fa-f]{0,4}:")
_HEX_COLON = "0123456789ABCDEFabcdef:"
_HEX_COLON_RUN = re.compile(r"[0-9A-Fa-f:]*")



def find_ips(text: str, windows: list[Window] | None = None) -> Iterator[Entity]:
    """`windows`: digit_windows(text, n) for any n ≤ 4, if the caller already has them: an IPv4 address,
    digits and dots only, always lies inside one."""
    for start, end, count in digit_windows(text, 4) if windows is None else windows:
        if count >= 4 and text.count(".", start, end) >= 3:
            for m in _IPV4.finditer(text, start, end):
                yield from _ip(m, "IPV4", 0.95)
    # An IPv6 match is made of hex digits and colons only: search just the runs of those that hold a hint.
    hint = _IPV6_HINT.search(text)
    while hint:
        start = len(text[: hint.start()].rstrip(_HEX_COLON))
        end = _run_end(_HEX_COLON_RUN, text, hint.start())
        for m in _IPV6.finditer(text, start, min(len(text), end + 1)):
            if m.group().count(":") >= 2:
                yield from _ip(m, "IPV6", 0.9)
        hint = _IPV6_HINT.search(text, end)


def _ip(m: re.Match[str], subtype: str, score: float) -> Iterator[Entity]:
    try:
        ipaddress.ip_address(m.group())
    except ValueError:
        return
    yield Entity(m.start(), m.end(), IP_ADDRESS, subtype, score, m.group())


# --- dates of birth --------------------------------------------------------------------------------

_MONTHS = (
    "januar|jänner|februar|märz|april|mai|juni|juli|august|september|oktober|november|dezember|"
    "janvier|février|mars|avril|juin|juillet|août|septembre|octobre|novembre|décembre|"
    "gennaio|febbraio|marzo|aprile|maggio|giugno|luglio|agosto|settembre|ottobre|dicembre|"
    "enero|febrero|abril|mayo|junio|julio|septiembre|setiembre|octubre|noviembre|diciembre|"
    "januari|februari|maart|mei|augustus|juli|"
    "stycznia|lutego|marca|kwietnia|maja|czerwca|lipca|sierpnia|września|października|listopada|grudnia|"
    "janeiro|fevereiro|março|maio|junho|julho|setembro|outubro|novembro|dezembro|"
    "january|february|march|may|june|july|october|december|"
    r"jan\.?|feb\.?|mar\.?|apr\.?|jun\.?|jul\.?|aug\.?|sep\.?|sept\.?|oct\.?|okt\.?|nov\.?|dec\.?|dez\.?"
)
_DATE = re.compile(
    r"(?<![\w.])(?:"
    r"(?:0?[1-9]|[12]\d|3[01])[./\-](?:0?[1-9]|1[0-2])[./\-](?:19|20)\d{2}"
    r"|(?:19|20)\d{2}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])"
    r"|(?:0?[1-9]|[12]\d|3[01])(?:\.|er|º|o)?\s(?:de\s)?(?:" + _MONTHS + r")\s(?:de\s)?(?:19|20)\d{2}"
    r"|(?:" + _MONTHS + r")\s(?:0?[1-9]|[12]\d|3[01])(?:st|nd|rd|th)?,?\s(?:19|20)\d{2}"
    r")(?![\w])",
    re.IGNORECASE,
)


_DOB_GAP = 40


def find_birth_dates(text: str, lowered: str | None = None) -> Iterator[Entity]:
    """A date is a date of birth only when it is the first date after a birth word ('geboren am …',
    'born …'); invoice and due dates are not personal data. Searching after the cues keeps this cheap.
    `lowered`: text.lower(), if the caller already has it."""
    seen = -1
    for cue_end in cues.word_ends(text.lower() if lowered is None else lowered, cues.BIRTH):
        m = _DATE.search(text, cue_end, min(len(text), cue_end + _DOB_GAP + 40))
        if m and m.start() - cue_end <= _DOB_GAP and m.start() > seen:
            seen = m.start()
            yield Entity(m.start(), m.end(), DATE_OF_BIRTH, None, 0.85, m.group())
