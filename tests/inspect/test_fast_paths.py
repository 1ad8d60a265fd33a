"""The shortcuts that make the pattern path fast give exactly what the straightforward version gives.

Each fast routine is compared, on many random strings made of the characters it cares about, with a plain
reference written the obvious way (most are the code they replaced). Equal outputs mean equal detection, so
the accuracy figures in docs/benchmarks.md cannot move because of a shortcut.
"""

from __future__ import annotations

import datetime
import ipaddress
import random
import re
import sys

import pytest

from aiguillage.inspect import checksums, cues, identifiers, patterns
from aiguillage.inspect.entity import Entity, Spans, resolve_overlaps
from aiguillage.inspect.numbers import CF_CORE, digit_windows, numeric_windows, scan_digits

ROUNDS = 20_000


def soup(rng: random.Random, pieces: list[str], longest: int = 30) -> str:
    return "".join(rng.choice(pieces) for _ in range(rng.randint(0, longest)))


# --- cue words ---------------------------------------------------------------------------------------

def reference_words(words: tuple[str, ...]) -> re.Pattern[str]:
    alternatives = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
    return re.compile(rf"(?<![^\W\d_])(?:{alternatives})", re.IGNORECASE)


VOCABULARIES = [cues.NEGATIVE, cues.PHONE, cues.BIRTH, cues.CARD, identifiers._ID_CARD_WORDS,
                *cues.NATIONAL_ID_CONTEXT.values()]


def test_word_tree_finds_what_the_flat_alternation_finds():
    rng = random.Random(1)
    words = [w for vocabulary in VOCABULARIES for w in vocabulary]
    pieces = words + list("abcdefghijklmnopqrstuvwxyz ABCXYZ.:-_0123éüł")
    pieces += ["TEL", "Tel.", "ſerial", "\u212aarte", "İd ", "ıd "]  # what IGNORECASE folds beyond ASCII
    references = [(vocabulary, reference_words(vocabulary)) for vocabulary in VOCABULARIES]
    for _ in range(ROUNDS):
        haystack = soup(rng, pieces, 12)
        if rng.random() < 0.5:
            haystack = haystack.lower()
        haystack = haystack[-rng.randint(0, 40):]
        for vocabulary, reference in references:
            starts = [m.start() for m in reference.finditer(haystack)]
            assert cues.has_any(haystack, vocabulary) == bool(starts), (haystack, vocabulary)
            assert cues._last(haystack, vocabulary) == max(starts, default=-1), (haystack, vocabulary)


def test_label_is_negative_matches_comparing_last_positions():
    rng = random.Random(2)
    pieces = list(cues.NEGATIVE[:30]) + list(cues.PHONE[:20]) + list("abc .:-0")
    for _ in range(ROUNDS):
        window = cues.before(soup(rng, pieces, 10), 10_000, 32)
        expected = cues._last(window, cues.NEGATIVE) > cues._last(window, cues.PHONE)
        assert cues.label_is_negative(window, cues.has_any(window, cues.PHONE)) == expected


def test_case_fold_covers_every_character_ignorecase_equates_with_a_cue_character():
    """mentions() looks for the cue words as plain substrings of fold(text.lower()); that only finds every
    IGNORECASE match if fold() maps each lowercased character to the cue character it matches."""
    cue_chars = {ch for vocabulary in VOCABULARIES for w in vocabulary for ch in w}
    everything = "".join(chr(c).lower() for c in range(sys.maxunicode + 1) if not 0xD800 <= c <= 0xDFFF)
    any_cue_char = re.compile("[" + "".join(re.escape(ch) for ch in sorted(cue_chars)) + "]", re.IGNORECASE)
    for m in any_cue_char.finditer(everything):
        folded = cues.fold("\u00e9" + m.group())[1:]  # a non-ASCII neighbour, as in most prompts
        assert folded in cue_chars and re.fullmatch(re.escape(folded), m.group(), re.IGNORECASE), m.group()


def test_mentions_is_true_whenever_a_window_has_the_word():
    rng = random.Random(3)
    words = cues.NATIONAL_ID_CONTEXT["NL_BSN"] + cues.NATIONAL_ID_CONTEXT["PT_NIF"]
    pieces = list(words) + ["BSN", "Número Fiscal", "ſofinummer", "x", " ", "é", "12"]
    for _ in range(ROUNDS):
        text = soup(rng, pieces, 8)
        folded = cues.fold(text.lower())
        for start in range(0, len(text) + 1, 7):
            if cues.has_any(cues.before(text, start), words):
                assert cues.mentions(folded, words), text


def test_grouped_word_ends_match_one_find_per_word():
    def reference(lowered: str, words: tuple[str, ...]) -> list[int]:
        ends = []
        for w in words:
            i = lowered.find(w)
            while i != -1:
                if i == 0 or not lowered[i - 1].isalpha():
                    ends.append(i + len(w))
                i = lowered.find(w, i + 1)
        return sorted(ends)

    rng = random.Random(4)
    pieces = list(cues.BIRTH) + list("abcdefghijklmnopqrstuvwxyz .,:-()é")
    pieces += ["geboren op", "né(e) le", "xnato"]
    for _ in range(ROUNDS):
        lowered = soup(rng, pieces, 15).lower()
        assert cues.word_ends(lowered, cues.BIRTH) == reference(lowered, cues.BIRTH)


# --- the shared pass over digits ---------------------------------------------------------------------

def reference_windows(text: str, min_digits: int) -> list[tuple[int, int]]:
    out = []
    for m in re.finditer(r"\+?\(?\d[\d ()./\-]*\d\)?", text):
        if m.end() - m.start() >= min_digits and sum(map(str.isdigit, m.group())) >= min_digits:
            out.append((m.start(), min(len(text), m.end() + 2)))
    return out


def test_digit_windows_and_codice_fiscale_cores_come_out_of_one_pass_unchanged():
    rng = random.Random(5)
    pieces = list("0123456789") * 3 + list(" ()./-+ax:") + list("ABCDEHLMPRSTabceLMNPQRSTUV\u0663\u00b2")
    for _ in range(ROUNDS):
        text = soup(rng, pieces, 40)
        shared = scan_digits(text)
        assert [(s, e) for s, e, _ in shared.windows] == reference_windows(text, 4), text
        assert shared.windows == digit_windows(text, 4)
        assert shared.cf_cores == [m.start() for m in re.finditer(CF_CORE, text)], text
        for n in (2, 7, 12):
            assert numeric_windows(text, n) == reference_windows(text, n), (text, n)


def test_digit_counts_are_the_digits_of_the_number():
    rng = random.Random(6)
    pieces = list("0123456789") * 2 + list(" ()./-+a") + ["\u0663"]
    for _ in range(ROUNDS):
        text = soup(rng, pieces, 30)
        for m in re.finditer(r"\d(?:[ ()./\-]*\d){3,}\)?", text):
            assert any(w[2] == sum(map(str.isdigit, m.group())) for w in digit_windows(text, 4)
                       if w[0] <= m.start() < w[1])


# --- found spans -------------------------------------------------------------------------------------

def test_spans_answer_like_a_loop_over_every_span():
    rng = random.Random(7)
    for _ in range(ROUNDS):
        taken = [(s, s + rng.randint(1, 9)) for s in (rng.randint(0, 40) for _ in range(rng.randint(0, 8)))]
        spans = Spans(taken)
        start = rng.randint(0, 45)
        end = start + rng.randint(1, 12)
        assert spans.overlaps(start, end) == any(start < b and a < end for a, b in taken)
        covered = all(any(a <= i < b for a, b in taken) for i in range(start, end))
        assert spans.covers(start, end) <= covered  # covers() may only be true when all is covered
        if any(a <= start and end <= b for a, b in taken):
            assert spans.covers(start, end)


def test_resolve_overlaps_keeps_what_the_pairwise_check_keeps():
    def reference(entities: list[Entity]) -> list[Entity]:
        ranked = sorted(entities, key=lambda e: (-e.score, -(e.end - e.start), e.start))
        kept: list[Entity] = []
        for ent in ranked:
            if all(ent.end <= k.start or ent.start >= k.end for k in kept):
                kept.append(ent)
        return sorted(kept, key=lambda e: e.start)

    rng = random.Random(8)
    for _ in range(ROUNDS):
        entities = []
        for _ in range(rng.randint(0, 12)):
            start = rng.randint(0, 30)
            end = start + rng.choice([0, 0, 1, 2, 3, 5, 8, 13])  # empty spans too, as a trimmed PERSON can be
            entities.append(Entity(start, end, rng.choice("AB"), None, rng.choice([0.6, 0.8, 0.9, 0.99]), ""))
        assert resolve_overlaps(entities) == reference(entities)


# --- detectors that search around an anchor instead of everywhere ------------------------------------

def test_emails_found_from_each_at_sign_are_the_whole_text_matches():
    rng = random.Random(9)
    pieces = list("ab.-_%+@ x1Z\u00e9:") + ["example.com", "@", ".co.uk", "foo", "\n", "--", ".."]
    for _ in range(ROUNDS * 2):
        text = soup(rng, pieces, 25)
        expected = [(m.start(), m.end()) for m in patterns._EMAIL.finditer(text)]
        assert [(e.start, e.end) for e in patterns.find_emails(text)] == expected, text


def test_ip_addresses_found_in_windows_are_the_whole_text_matches():
    def reference(text: str) -> list[tuple[int, int, str]]:
        out = []
        for pattern, subtype in ((patterns._IPV4, "IPV4"), (patterns._IPV6, "IPV6")):
            for m in pattern.finditer(text):
                if subtype == "IPV6" and m.group().count(":") < 2:
                    continue
                try:
                    ipaddress.ip_address(m.group())
                except ValueError:
                    continue
                out.append((m.start(), m.end(), subtype))
        return out

    rng = random.Random(10)
    pieces = list("0123456789abcdefABCDEF::::...") + [" ", "g", "x", "::", "2001:db8::1", "1.2.3.4", "_", "ä"]
    for _ in range(ROUNDS):
        text = soup(rng, pieces, 30)
        assert [(e.start, e.end, e.subtype) for e in patterns.find_ips(text)] == reference(text), text


def test_iban_body_pattern_takes_what_the_character_walk_took():
    def reference(text: str) -> list[tuple[int, int, str]]:
        out = []
        for m in re.finditer(r"(?<![A-Za-z0-9])([A-Z]{2})[ ]?(\d{2})", text):
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
                out.append((m.start(), pos, value[:2]))
        return out

    rng = random.Random(11)
    valid = ["DE89370400440532013000", "GB82WEST12345698765432", "NL91ABNA0417164300", "BE68539007547034"]
    pieces = valid + ["DE89 3704 0044 0532 0130 00", "FR14-2004-1010-0505-0001-3M02-606"]
    pieces += [" ", "-", ".", "x", "é", "Ü", "12", "DE", "0", "\u0663"]
    for _ in range(ROUNDS):
        text = soup(rng, pieces, 8)
        assert [(e.start, e.end, e.subtype) for e in identifiers.find_ibans(text)] == reference(text), text


# --- check digits ------------------------------------------------------------------------------------

def _luhn(digits: str) -> bool:
    if not digits.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _iban(value: str) -> bool:
    value = value.upper()
    if len(value) != checksums.IBAN_LENGTHS.get(value[:2], -1):
        return False
    if not value[2:4].isdigit() or not value.isalnum():
        return False
    rearranged = value[4:] + value[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


def _steuer_id(digits: str) -> bool:
    if len(digits) != 11 or not digits.isdigit() or digits[0] == "0":
        return False
    counts = sorted((digits[:10].count(c) for c in set(digits[:10])), reverse=True)
    if counts[0] not in (2, 3) or (len(counts) > 1 and counts[1] != 1):
        return False
    if counts[0] == 3 and any(digits[i] == digits[i + 1] == digits[i + 2] for i in range(8)):
        return False
    product = 10
    for ch in digits[:10]:
        total = (int(ch) + product) % 10 or 10
        product = (total * 2) % 11
    check = 11 - product
    return (0 if check == 10 else check) == int(digits[10])


def _bsn(digits: str) -> bool:
    if len(digits) != 9 or not digits.isdigit() or digits == "000000000":
        return False
    return (sum(int(d) * w for d, w in zip(digits, range(9, 1, -1))) - int(digits[8])) % 11 == 0


def _pesel(digits: str) -> bool:
    if len(digits) != 11 or not digits.isdigit():
        return False
    weights = (1, 3, 7, 9, 1, 3, 7, 9, 1, 3)
    if (10 - sum(int(d) * w for d, w in zip(digits, weights)) % 10) % 10 != int(digits[10]):
        return False
    yy, mm, dd = int(digits[0:2]), int(digits[2:4]), int(digits[4:6])
    century = {0: 1900, 20: 2000, 40: 2100, 60: 2200, 80: 1800}[(mm // 20) * 20]
    try:
        datetime.date(century + yy, mm % 20, dd)
    except ValueError:
        return False
    return True


def _nif(digits: str) -> bool:
    if len(digits) != 9 or not digits.isdigit() or digits[0] not in "123456789":
        return False
    remainder = sum(int(d) * w for d, w in zip(digits, range(9, 1, -1))) % 11
    return (0 if remainder < 2 else 11 - remainder) == int(digits[8])


def _svnr(digits: str) -> bool:
    if len(digits) != 10 or not digits.isdigit() or digits[0] == "0":
        return False
    check = sum(int(d) * w for d, w in zip(digits, (3, 7, 9, 0, 5, 8, 4, 2, 1, 6))) % 11
    if check == 10 or check != int(digits[3]):
        return False
    day, month = int(digits[4:6]), int(digits[6:8])
    return 1 <= month <= 14 and 0 <= day <= 31


@pytest.mark.parametrize(("fast", "reference", "length"), [
    (checksums.luhn, _luhn, None),
    (checksums.de_steuer_id, _steuer_id, 11),
    (checksums.nl_bsn, _bsn, 9),
    (checksums.pt_nif, _nif, 9),
    (checksums.pl_pesel, _pesel, 11),
    (checksums.at_svnr, _svnr, 10),
])
def test_check_digit_shortcuts_agree_with_the_textbook_loops(fast, reference, length):
    rng = random.Random(12)
    for _ in range(ROUNDS * 2):
        n = length or rng.randint(0, 20)
        if fast is checksums.de_steuer_id and rng.random() < 0.7:  # mostly its 'one digit repeated' shape
            body = rng.sample("0123456789", 9)
            body += [rng.choice(body)] if rng.random() < 0.5 else []
            body = (body + [rng.choice(body), rng.choice(body)])[:10]
            rng.shuffle(body)
            value = "".join(body) + rng.choice("0123456789")
        else:
            value = "".join(rng.choice("0123456789" if rng.random() > 0.02 else "\u0663x ") for _ in range(n))
        assert fast(value) == reference(value), value


def test_iban_shortcut_agrees_with_the_textbook_conversion():
    rng = random.Random(14)
    for _ in range(ROUNDS):
        country = rng.choice(list(checksums.IBAN_LENGTHS))
        alphabet = "0123456789" * 4 + "ABCXYZ"
        value = country + "".join(rng.choice(alphabet) for _ in range(checksums.IBAN_LENGTHS[country] - 2))
        if rng.random() < 0.05:
            value = value[:5] + rng.choice("\u0663b") + value[6:]
        assert checksums.iban(value) == _iban(value), value
