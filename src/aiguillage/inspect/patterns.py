"""Pattern detectors without check digits: e-mail, phone, IP address and date of birth."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator

import phonenumbers

from aiguillage.inspect import cues
from aiguillage.inspect.entity import DATE_OF_BIRTH, EMAIL, IP_ADDRESS, PHONE, Entity, numeric_windows

_EMAIL = re.compile(
    r"(?<![\w.+\-])[A-Za-z0-9][A-Za-z0-9._%+\-]*@"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?\.)+[A-Za-z]{2,24}"
    r"(?![\w\-])"
)


def find_emails(text: str) -> Iterator[Entity]:
    if "@" not in text:
        return
    for m in _EMAIL.finditer(text):
        yield Entity(m.start(), m.end(), EMAIL, None, 0.99, m.group())


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


def find_phones(text: str, language: str | None, taken: list[tuple[int, int]] = (),
                windows: list[tuple[int, int]] | None = None) -> Iterator[Entity]:
    """`taken`: spans already found (IBAN, card, identifier, date…), whose digits are not phone numbers;
    `windows`: numeric_windows(text, 7), if the caller already has them."""
    regions = _REGIONS.get(language or "", _ALL_REGIONS)
    for start, end in numeric_windows(text, 7) if windows is None else windows:
        yield from _phones_in(text, start, end, regions, taken)


def _phones_in(text: str, start: int, end: int, regions: tuple[str, ...],
               taken: list[tuple[int, int]]) -> Iterator[Entity]:
    for m in _PHONE.finditer(text, start, end):
        value = m.group().rstrip(" .-/")
        digits = sum(c.isdigit() for c in value)
        if not 7 <= digits <= 15 or _NUMERIC_DATE.fullmatch(value):
            continue
        if any(m.start() < b and a < m.end() for a, b in taken):
            continue
        international = value.startswith(("+", "00"))
        window = cues.before(text, m.start(), 32)
        cued = cues.has_any(window, cues.PHONE)
        if not international and cues.nearest_label_is_negative(text, m.start()):
            continue
        if not international and not cued and not _national_form(value, regions):
            continue
        if _phone_ok(value, regions, cued):
            score = 0.8 if cued or international else 0.6
            yield Entity(m.start(), m.start() + len(value), PHONE, None, score, value)


# Countries whose national numbers are always dialled with the trunk prefix 0.
_TRUNK_ZERO = frozenset({"DE", "AT", "CH", "FR", "BE", "NL", "GB", "IE"})
_NATIONAL_START = {"IT": "03", "ES": "6789", "PT": "29", "PL": "123456789", "LU": "123456789"}


def _national_form(value: str, regions: tuple[str, ...]) -> bool:
    """An unlabelled national number is only taken when written as that country writes phone numbers:
    with the trunk 0 where there is one, and grouped by separators rather than one long digit run."""
    first = value.lstrip("(")[0]
    grouped = bool(re.search(r"\d[ .\-/)]", value))
    for region in regions:
        starts = "0" if region in _TRUNK_ZERO else _NATIONAL_START.get(region, "0")
        if first in starts and (grouped or first == "0"):
            return True
    return False


# --- IP addresses ----------------------------------------------------------------------------------

_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w]|\.\d)")
_IPV6 = re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])")


def find_ips(text: str) -> Iterator[Entity]:
    for pattern, subtype in ((_IPV4, "IPV4"), (_IPV6, "IPV6")):
        if subtype == "IPV6" and text.count(":") < 2:
            continue
        for m in pattern.finditer(text):
            value = m.group()
            if subtype == "IPV6" and value.count(":") < 2:
                continue
            try:
                ipaddress.ip_address(value)
            except ValueError:
                continue
            yield Entity(m.start(), m.end(), IP_ADDRESS, subtype, 0.95 if subtype == "IPV4" else 0.9, value)


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


def find_birth_dates(text: str) -> Iterator[Entity]:
    """A date is a date of birth only when it is the first date after a birth word ('geboren am …',
    'born …'); invoice and due dates are not personal data. Searching after the cues keeps this cheap."""
    seen = -1
    for cue_end in cues.word_ends(text.lower(), cues.BIRTH):
        m = _DATE.search(text, cue_end, min(len(text), cue_end + _DOB_GAP + 40))
        if m and m.start() - cue_end <= _DOB_GAP and m.start() > seen:
            seen = m.start()
            yield Entity(m.start(), m.end(), DATE_OF_BIRTH, None, 0.85, m.group())
