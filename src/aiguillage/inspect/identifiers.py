"""Check-digit identifiers: IBAN, payment cards and national identity numbers.

Each scheme is a loose regex (people write numbers with spaces, dots, dashes and slashes) followed by
its official check-digit algorithm, so look-alike invoice and order numbers are not flagged.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence

from aiguillage.inspect import checksums, cues
from aiguillage.inspect.entity import CREDIT_CARD, IBAN, NATIONAL_ID, Entity, Spans
from aiguillage.inspect.numbers import CF_CORE, Window, digit_windows

_SEP = r"[ .\-/]?"
_NOT_BEFORE = r"(?<![\w.\-/])"
_NOT_AFTER = r"(?![\w]|[.\-/]\w)"


_SEPARATORS = str.maketrans("", "", " .-/()\u00a0")


def _strip(value: str) -> str:
    if value.isascii():  # bytes.translate is several times faster than str.translate
        return value.encode().translate(None, b" .-/()").decode()
    return value.translate(_SEPARATORS)


# --- IBAN ------------------------------------------------------------------------------------------

# 'CCdd' not preceded by a letter or digit. The look-behind sits after the first letter so the regex engine
# can skip ahead to the next capital instead of trying every offset.
_IBAN_START = re.compile(r"[A-Z](?<![A-Za-z0-9][A-Z])[A-Z][ ]?\d{2}")
# The rest of an IBAN of each registry length: alphanumerics, each optionally after one separator, and no
# alphanumeric right after the last one (so a word following the IBAN is never swallowed).
_IBAN_BODY = {n: re.compile(r"(?:[ .\-]?[A-Za-z0-9]){%d}(?![A-Za-z0-9])" % (n - 4))
              for n in set(checksums.IBAN_LENGTHS.values())}


def find_ibans(text: str) -> Iterator[Entity]:
    """From a 'CCdd' start take exactly the registry length of alphanumerics."""
    for m in _IBAN_START.finditer(text):
        start = m.start()
        length = checksums.IBAN_LENGTHS.get(text[start : start + 2])
        if length is None:
            continue
        body = _IBAN_BODY[length].match(text, m.end())
        if body is None:
            continue
        value = text[start : start + 2] + text[m.end() - 2 : m.end()] + _strip(body.group()).upper()
        if checksums.iban(value):
            yield Entity(start, body.end(), IBAN, value[:2], 0.99, text[start : body.end()])


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


def find_cards(text: str, windows: list[Window] | None = None) -> Iterator[Entity]:
    """`windows`: digit_windows(text, n) for any n ≤ 12, if the caller already has them."""
    for start, end, count in digit_windows(text, 12) if windows is None else windows:
        if count < 12:
            continue
        for m in _CARD.finditer(text, start, end):
            yield from _card(text, m)


def _card(text: str, m: re.Match[str]) -> Iterator[Entity]:
    digits = _strip(m.group())
    if not checksums.luhn(digits):
        return
    cued = cues.has_any(cues.before(text, m.start(), 40), cues.CARD)
    # Short Maestro-style numbers are too common as order numbers to trust without the word 'card'.
    if len(digits) < 14 and not cued:
        return
    for brand, prefix, lengths in _CARD_BRANDS:
        if len(digits) in lengths and prefix.match(digits):
            yield Entity(m.start(), m.end(), CREDIT_CARD, brand, 0.98 if cued else 0.95, m.group())
            return


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
# The digit-only schemes with their digit counts (the DNI, digits and a letter, is tried on its own).
_DigitScheme = tuple[str, re.Pattern[str], Callable[[str], bool], float, int]
_DIGIT_SCHEMES: tuple[_DigitScheme, ...] = tuple(
    (*scheme, _DIGIT_COUNT[scheme[0]]) for scheme in _SCHEMES
    if scheme[0] in _DIGIT_COUNT and scheme[0] != "ES_DNI"
)
_LONGEST_SCHEME = max(s[4] for s in _DIGIT_SCHEMES)
_NIR, _CODICE_FISCALE, _NIE = (scheme for scheme in _SCHEMES if scheme[0] not in _DIGIT_COUNT)

# Cheap first passes for the schemes with letters: the codice fiscale's year digit, month letter and day
# digit; a NIE's leading X/Y/Z; a NIR's Corsican department (other NIRs are all digits, 15 of them).
_CF_CORE = re.compile(CF_CORE)
_NIE_LETTERS = frozenset("XYZxyz")
_CORSICA = re.compile(r"2[ABab]")
_NIR_DIGITS = 15
_ASCII_LETTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")


def find_national_ids(text: str, windows: list[Window] | None = None, taken: Sequence[tuple[int, int]] = (),
                      lowered: str | None = None, cf_cores: list[int] | None = None) -> list[Entity]:
    """`windows`: digit_windows(text, n) for any n ≤ 7, if the caller already has them; `taken`: spans already
    found (IBANs, cards), whose digits are not searched again; `lowered`: text.lower(); `cf_cores`: the starts
    of CF_CORE's matches (numbers.scan_digits() has them).

    The digit windows are read once, and each goes only to the schemes its shape allows: a NIR needs 15
    digits, a NIE an X/Y/Z just before the window, a DNI a lone letter just after a run, the digit-only
    schemes their own count."""
    schemes = _schemes_named_in(text.lower() if lowered is None else lowered)
    fitting = {n: tuple(s for s in schemes if s[4] <= n) for n in range(_LONGEST_SCHEME)}
    shortest = min((s[4] for s in schemes), default=len(text) + 1)
    numeric = [w for w in (digit_windows(text, 7) if windows is None else windows) if w[2] >= 7]
    if taken:
        spans = Spans(taken)
        numeric = [w for w in numeric if not spans.overlaps(w[0], w[1] - 2)]
    corsica = _CORSICA.search(text) is not None
    nir_windows = [(0, len(text))] if corsica else []
    nie_windows = []
    from_runs: list[Entity] = []
    for start, end, count in numeric:
        if count >= _NIR_DIGITS and not corsica:
            nir_windows.append((start, end))
        # Inside a window there are only digits and separators: a NIE's X/Y/Z stands just before it.
        if start and (text[start - 1] in _NIE_LETTERS
                      or (text[start - 1] in " -" and start > 1 and text[start - 2] in _NIE_LETTERS)):
            nie_windows.append((max(0, start - 2), end))
        # A run can only end with the window's last digit if a DNI letter is to follow it. (A window that
        # reaches the end of the text has lost its look-ahead: no shortcut there.)
        if count >= shortest or (count >= 8 and (end == len(text) or _letter_follows(text, end - 2))):
            for run in _DIGIT_RUN.finditer(text, start, end):
                digits = _strip(run.group())
                _ids_in_run(text, run, digits, fitting.get(len(digits), schemes), from_runs)
    if cf_cores is None:
        cf_cores = [m.start() for m in _CF_CORE.finditer(text)]
    cf_windows = [(max(0, core - 8), min(len(text), core + 12)) for core in cf_cores]
    found: list[Entity] = []
    for (subtype, pattern, check, score), scheme_windows in (
        (_NIR, nir_windows), (_CODICE_FISCALE, cf_windows), (_NIE, nie_windows),
    ):
        seen: set[int] = set()
        for start, end in scheme_windows:
            for m in pattern.finditer(text, start, end):
                entity = _national_id(text, m, subtype, check, score)
                if entity and entity.start not in seen:
                    seen.add(entity.start)
                    found.append(entity)
    return found + from_runs


def _schemes_named_in(lowered: str) -> tuple[_DigitScheme, ...]:
    """The digit-only schemes worth trying on this text: a scheme whose check digit is too weak to trust
    without its name nearby (cues.NATIONAL_ID_CONTEXT) is not tried when the name is nowhere in the text."""
    folded = cues.fold(lowered)
    return tuple(s for s in _DIGIT_SCHEMES if s[0] not in cues.NATIONAL_ID_CONTEXT
                 or cues.mentions(folded, cues.NATIONAL_ID_CONTEXT[s[0]]))


def _letter_follows(text: str, pos: int) -> bool:
    """A lone ASCII letter at `pos`, or at pos + 1 after a space or dash: where a DNI's letter stands."""
    after = text[pos : pos + 3]
    if after[:1] in (" ", "-"):
        after = after[1:]
    return after[:1] in _ASCII_LETTERS and not _is_word_char(after[1:2])


def _is_word_char(ch: str) -> bool:
    """What the regex class \\w matches (an empty string, past the end of the text, is not)."""
    return ch.isalnum() or ch == "_"


def _ids_in_run(text: str, run: re.Match[str], digits: str, schemes: tuple[_DigitScheme, ...],
                out: list[Entity]) -> None:
    """`digits`: the run without separators; `schemes`: the digit-only schemes whose length fits in it."""
    value = run.group()
    # Common case: the run is the identifier, in whatever grouping; check it directly.
    for subtype, pattern, check, score, wanted in schemes:
        if wanted == len(digits):
            entity = _national_id(text, run, subtype, check, score, digits)
        elif len(digits) == len(value):
            continue  # one unbroken digit string: a shorter identifier cannot sit inside it
        else:  # the run joins the identifier to a neighbouring number: let the scheme's format split it
            window = (max(0, run.start() - 2), min(len(text), run.end() + 4))
            entity = next(filter(None, (_national_id(text, m, subtype, check, score)
                                        for m in pattern.finditer(text, *window))), None)
        if entity:
            out.append(entity)
    # A DNI's letter follows the run's last digit, directly or after one space or dash.
    if _letter_follows(text, run.end()):
        for m in _ES_DNI.finditer(text, max(0, run.start() - 2), min(len(text), run.end() + 4)):
            entity = _national_id(text, m, "ES_DNI", checksums.es_dni, 0.93)
            if entity:
                out.append(entity)


def _national_id(text: str, m: re.Match[str], subtype: str, check: Callable[[str], bool],
                 score: float, digits: str | None = None) -> Entity | None:
    """`digits`: the match without separators, if the caller already has it."""
    if m.start() and text[m.start() - 1] == "+":
        return None  # '+41 52 477 09 76' is an international phone number, whatever its digits pass
    if not check(_strip(m.group()) if digits is None else digits):
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
