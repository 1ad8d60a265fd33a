"""Check-digit identifiers: IBAN, payment cards and national identity numbers.

Each scheme is a loose regex (people write numbers with spaces, dots, dashes and slashes) followed by
its official check-digit algorithm, so look-alike invoice and order numbers are not flagged.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from aiguillage.inspect import checksums, cues
from aiguillage.inspect.entity import CREDIT_CARD, IBAN, NATIONAL_ID, Entity, numeric_windows

_SEP = r"[ .\-/]?"
_NOT_BEFORE = r"(?<![\w.\-/])"
_NOT_AFTER = r"(?![\w]|[.\-/]\w)"


_SEPARATORS = str.maketrans("", "", " .-/()\u00a0")


def _strip(value: str) -> str:
    return value.translate(_SEPARATORS)


# --- IBAN ------------------------------------------------------------------------------------------

_IBAN_START = re.compile(r"(?<![A-Za-z0-9])([A-Z]{2})[ ]?(\d{2})")


def find_ibans(text: str) -> Iterator[Entity]:
    """Walk forward from a 'CCdd' start taking exactly the registry length of alphanumerics, so a word
    following the IBAN is never swallowed."""
    for m in _IBAN_START.finditer(text):
        length = checksums.IBAN_LENGTHS.get(m.group(1))
        if length is None:
            continue
        chars, pos = [m.group(1), m.group(2)], m.end()
        while len("".join(chars)) < length and pos < len(text):
            ch = text[pos]
            if ch.isalnum() and ch.isascii():
                chars.append(ch.upper())
                pos += 1
            elif ch in " -." and pos + 1 < len(text) and text[pos + 1].isalnum() and text[pos - 1] != ch:
                pos += 1
            else:
                break
        value = "".join(chars)
        if len(value) != length or (pos < len(text) and text[pos].isalnum() and text[pos].isascii()):
            continue
        if checksums.iban(value):
            yield Entity(m.start(), pos, IBAN, value[:2], 0.99, text[m.start() : pos])


# --- payment cards ---------------------------------------------------------------------------------

_CARD = re.compile(_NOT_BEFORE + r"\d(?:[ .\-]?\d){11,18}" + _NOT_AFTER)
_CARD_BRANDS: tuple[tuple[str, re.Pattern[str], tuple[int, ...]], ...] = (
    ("VISA", re.compile(r"4"), (13, 16, 19)),
    ("MASTERCARD", re.compile(r"5[1-5]|2(?:2[2-9]|[3-6]\d|7[01]|720)"), (16,)),
    ("AMEX", re.compile(r"3[47]"), (15,)),
    ("DISCOVER", re.compile(r"6(?:011|5|4[4-9])"), (16, 19)),
    ("JCB", re.compile(r"35"), (16, 17, 18, 19)),
    ("JCB", re.compile(r"2131|1800"), (15,)),
    ("DINERS", re.compile(r"3(?:0[0-5]|[68])"), (14, 16)),
    ("MAESTRO", re.compile(r"5[06-8]|6[37]"), (12, 13, 14, 15, 16, 17, 18, 19)),
)


def find_cards(text: str, windows: list[tuple[int, int]] | None = None) -> Iterator[Entity]:
    for m in _matches(_CARD, text, numeric_windows(text, 12) if windows is None else windows):
        digits = _strip(m.group())
        if not checksums.luhn(digits):
            continue
        cued = cues.has_any(cues.before(text, m.start(), 40), cues.CARD)
        # Short Maestro-style numbers are too common as order numbers to trust without the word 'card'.
        if len(digits) < 14 and not cued:
            continue
        for brand, prefix, lengths in _CARD_BRANDS:
            if len(digits) in lengths and prefix.match(digits):
                yield Entity(m.start(), m.end(), CREDIT_CARD, brand, 0.98 if cued else 0.95, m.group())
                break


# --- national identifiers --------------------------------------------------------------------------

_ES_DNI = re.compile(r"(?<![\w.\-])(?:\d{8}|\d{2}\.\d{3}\.\d{3})[ \-]?[A-Za-z](?![\w])")
_Scheme = tuple[str, re.Pattern[str], Callable[[str], bool], float]


def _digits(*groups: int) -> re.Pattern[str]:
    body = _SEP.join(r"\d{%d}" % g for g in groups)
    return re.compile(_NOT_BEFORE + body + _NOT_AFTER)


_SCHEMES: tuple[_Scheme, ...] = (
    ("DE_STEUER_ID", _digits(2, 3, 3, 3), checksums.de_steuer_id, 0.9),
    (
        "FR_NIR",
        re.compile(_NOT_BEFORE + r"[12378](?:[ .\-]?\d{2}){2}[ .\-]?(?:\d{2}|2[ABab])"
                   r"(?:[ .\-]?\d{3}){2}[ .\-]?\d{2}" + _NOT_AFTER),
        checksums.fr_nir,
        0.95,
    ),
    (
        "IT_CODICE_FISCALE",
        re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{6}[0-9LMNPQRSTUV]{2}[A-Za-z][0-9LMNPQRSTUV]{2}[A-Za-z]"
                   r"[0-9LMNPQRSTUV]{3}[A-Za-z](?![A-Za-z0-9])"),
        checksums.it_codice_fiscale,
        0.97,
    ),
    ("ES_DNI", _ES_DNI, checksums.es_dni, 0.93),
    ("ES_NIE", re.compile(r"(?<![\w\-])[XYZxyz][ \-]?\d{7}[ \-]?[A-Za-z](?![\w])"), checksums.es_dni, 0.93),
    ("NL_BSN", _digits(4, 2, 3), checksums.nl_bsn, 0.9),
    ("NL_BSN", _digits(3, 3, 3), checksums.nl_bsn, 0.9),
    ("PL_PESEL", _digits(11), checksums.pl_pesel, 0.9),
    ("PT_NIF", _digits(3, 3, 3), checksums.pt_nif, 0.9),
    ("BE_NATIONAL_NUMBER", _digits(2, 2, 2, 3, 2), checksums.be_national_number, 0.93),
    ("AT_SVNR", _digits(4, 6), checksums.at_svnr, 0.9),
)


# Digits in each digit-only scheme: its regex only runs around digit runs at least that long.
_DIGIT_COUNT = {"DE_STEUER_ID": 11, "NL_BSN": 9, "PL_PESEL": 11, "PT_NIF": 9, "BE_NATIONAL_NUMBER": 11,
                "AT_SVNR": 10, "ES_DNI": 8}
_DIGIT_RUN = re.compile(r"\d(?:[ .\-/]?\d){7,}")


def _matches(pattern: re.Pattern[str], text: str, windows: list[tuple[int, int]]) -> Iterator[re.Match[str]]:
    for start, end in windows:
        yield from pattern.finditer(text, start, end)


# Cheap first passes for the schemes with letters: the codice fiscale's year digit, month letter and day
# digit; a NIE's leading X/Y/Z; a NIR's Corsican department (other NIRs are all digits).
_CF_CORE = re.compile(r"\d[A-EHLMPRSTa-ehlmprst][0-9LMNPQRSTUV]")


def _alnum_windows(subtype: str, text: str, numeric: list[tuple[int, int]]) -> list[tuple[int, int]]:
    if subtype == "IT_CODICE_FISCALE":
        return [(max(0, m.start() - 8), min(len(text), m.start() + 12)) for m in _CF_CORE.finditer(text)]
    if subtype == "FR_NIR" and not any(d in text for d in ("2A", "2B", "2a", "2b")):
        return numeric
    if subtype == "ES_NIE":
        return [(max(0, start - 2), end) for start, end in numeric]
    return [(0, len(text))]


def find_national_ids(text: str, windows: list[tuple[int, int]] | None = None,
                      taken: list[tuple[int, int]] = ()) -> Iterator[Entity]:
    """`windows`: numeric_windows(text, 7), if the caller already has them; `taken`: spans already found
    (IBANs, cards), whose digits are not searched again."""
    numeric = numeric_windows(text, 7) if windows is None else windows
    if taken:
        numeric = [(a, b) for a, b in numeric if not any(a < te and ts < b - 2 for ts, te in taken)]
    for subtype, pattern, check, score in _SCHEMES:
        if subtype not in _DIGIT_COUNT:
            seen: set[int] = set()
            for m in _matches(pattern, text, _alnum_windows(subtype, text, numeric)):
                entity = _national_id(text, m, subtype, check, score)
                if entity and entity.start not in seen:
                    seen.add(entity.start)
                    yield entity
    for run in _matches(_DIGIT_RUN, text, numeric):
        digits = _strip(run.group())
        # Common case: the run is the identifier, in whatever grouping; check it directly.
        for subtype, pattern, check, score in _SCHEMES:
            wanted = _DIGIT_COUNT.get(subtype)
            if wanted is None or wanted > len(digits) or subtype == "ES_DNI":
                continue
            if wanted == len(digits):
                entity = _national_id(text, run, subtype, check, score)
            elif len(digits) == len(run.group()):
                continue  # one unbroken digit string: a shorter identifier cannot sit inside it
            else:  # the run joins the identifier to a neighbouring number: let the scheme's format split it
                window = (max(0, run.start() - 2), min(len(text), run.end() + 4))
                entity = next(filter(None, (_national_id(text, m, subtype, check, score)
                                            for m in pattern.finditer(text, *window))), None)
            if entity:
                yield entity
        if len(digits) >= 8:
            for m in _ES_DNI.finditer(text, max(0, run.start() - 2), min(len(text), run.end() + 4)):
                entity = _national_id(text, m, "ES_DNI", checksums.es_dni, 0.93)
                if entity:
                    yield entity


def _national_id(text: str, m: re.Match[str], subtype: str, check: Callable[[str], bool],
                 score: float) -> Entity | None:
    if m.start() and text[m.start() - 1] == "+":
        return None  # '+41 52 477 09 76' is an international phone number, whatever its digits pass
    if not check(_strip(m.group())):
        return None
    needed = cues.NATIONAL_ID_CONTEXT.get(subtype)
    if needed and not cues.has_any(cues.before(text, m.start()), needed):
        return None
    if _after_card_word(text, m.start()):
        return None
    return Entity(m.start(), m.end(), NATIONAL_ID, subtype, score, m.group())


_ID_CARD_WORDS = (
    "vitale", "sécu", "secu", "social", "sozial", "identit", "ident", "nir", "id ", "id:", "dni",
)


def _after_card_word(text: str, start: int) -> bool:
    """'Test card 2141 …' is a (broken) card number even if it happens to pass an ID checksum; but
    'carte Vitale' and 'carta d'identità' do introduce identifiers."""
    window = cues.before(text, start, 24)
    return cues.has_any(window, cues.CARD) and not cues.has_any(window, _ID_CARD_WORDS)
