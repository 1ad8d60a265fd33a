"""Official check-digit algorithms. Every function takes the identifier with separators already removed.

These are what make a number personal data rather than an invoice or order number that merely looks alike.
"""

from __future__ import annotations

import datetime as _dt
from operator import mul

# These run on every long digit run of every prompt, so they avoid per-digit generator expressions:
# digits are converted once with map(int, …) (which also accepts non-ASCII decimal digits, as int() does)
# and weighted sums use map(mul, …).

# Registry lengths (ISO 13616 / SWIFT IBAN registry) for the countries a European gateway meets.
IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29,
    "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28, "EE": 20, "ES": 24, "FI": 18,
    "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28,
    "IE": 22, "IL": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LI": 21, "LT": 20,
    "LU": 20, "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18,
    "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24, "SE": 24,
    "SI": 19, "SK": 24, "SM": 27, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}


def iban(value: str) -> bool:
    """ISO 13616: registry length for the country, then mod-97 of the rearranged number equals 1."""
    value = value.upper()
    if len(value) != IBAN_LENGTHS.get(value[:2], -1) or not value[2:4].isdigit() or not value.isalnum():
        return False
    rearranged = value[4:] + value[:4]
    if rearranged.isascii():
        return int(rearranged.translate(_BASE36)) % 97 == 1
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


# Letters as their base-36 values (A=10 … Z=35), as ISO 13616 rearranges them.
_BASE36 = str.maketrans({chr(c): str(c - 55) for c in range(ord("A"), ord("Z") + 1)})
_DOUBLED = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)  # Luhn: 2d, minus 9 when that has two digits


def luhn(digits: str) -> bool:
    """ISO/IEC 7812 Luhn: doubling every second digit from the right, sum divisible by 10."""
    if not digits.isdigit():
        return False
    values = list(map(int, digits))
    return (sum(values[-1::-2]) + sum(map(_DOUBLED.__getitem__, values[-2::-2]))) % 10 == 0


def de_steuer_id(digits: str) -> bool:
    """German Steuerliche Identifikationsnummer: 11 digits, ISO 7064 MOD 11,10, one digit repeated."""
    if len(digits) != 11 or not digits.isdigit() or digits[0] == "0":
        return False
    # Exactly one digit appears twice or three times (never three in a row); the others once: nine
    # distinct digits among the first ten, or eight with one of them three times.
    distinct = set(digits[:10])
    if len(distinct) == 8:
        if max(map(digits[:10].count, distinct)) != 3:
            return False
        if any(digits[i] == digits[i + 1] == digits[i + 2] for i in range(8)):
            return False
    elif len(distinct) != 9:
        return False
    product = 10
    for ch in digits[:10]:
        total = (int(ch) + product) % 10 or 10
        product = (total * 2) % 11
    check = 11 - product
    return (0 if check == 10 else check) == int(digits[10])


def fr_nir(value: str) -> bool:
    """French NIR (numéro de sécurité sociale): 13 characters + 2-digit key = 97 - (number mod 97).

    Corsican departments 2A/2B are replaced by 19/18 before the computation, as the INSEE specifies.
    """
    value = value.upper()
    if len(value) != 15 or value[0] not in "12378":
        return False
    body = value[:13].replace("2A", "19", 1) if value[5:7] == "2A" else value[:13]
    body = body.replace("2B", "18", 1) if value[5:7] == "2B" else body
    if not body.isdigit() or not value[13:].isdigit():
        return False
    month = int(value[3:5])
    if not (1 <= month <= 12 or 20 <= month <= 42 or 50 <= month <= 99):
        return False
    return 97 - int(body) % 97 == int(value[13:])


_CF_ODD = [1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23]
_CF_OMOCODE = "LMNPQRSTUV"  # letters that replace digits when two people share a code
_CF_DIGIT_POSITIONS = (6, 7, 9, 10, 12, 13, 14)


def it_codice_fiscale(value: str) -> bool:
    """Italian codice fiscale: 16 characters, control letter from the odd/even tables (DM 23/12/1976)."""
    value = value.upper()
    if len(value) != 16 or not value.isalnum():
        return False
    for i, ch in enumerate(value[:15]):
        if i in _CF_DIGIT_POSITIONS:
            if not (ch.isdigit() or ch in _CF_OMOCODE):
                return False
        elif not ch.isalpha():
            return False
    if value[8] not in "ABCDEHLMPRST" or not value[15].isalpha():
        return False
    total = 0
    for i, ch in enumerate(value[:15]):
        idx = int(ch) if ch.isdigit() else ord(ch) - 65
        total += _CF_ODD[idx] if i % 2 == 0 else idx
    return chr(65 + total % 26) == value[15]


_DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"


def es_dni(value: str) -> bool:
    """Spanish DNI (8 digits + letter) or NIE (X/Y/Z + 7 digits + letter): letter = table[number mod 23]."""
    value = value.upper()
    if len(value) != 9:
        return False
    body = value[:8]
    if body[0] in "XYZ":
        body = str("XYZ".index(body[0])) + body[1:]
    return body.isdigit() and _DNI_LETTERS[int(body) % 23] == value[8]


def nl_bsn(digits: str) -> bool:
    """Dutch burgerservicenummer, the '11-proef': 9*d1 + 8*d2 + ... + 2*d8 - d9 is divisible by 11."""
    if len(digits) != 9 or not digits.isdigit() or digits == "000000000":
        return False
    values = list(map(int, digits))
    return (sum(map(mul, values, _WEIGHTS_9_TO_2)) - values[8]) % 11 == 0


_WEIGHTS_9_TO_2 = (9, 8, 7, 6, 5, 4, 3, 2)


def _valid_date(year: int, month: int, day: int) -> bool:
    try:
        _dt.date(year, month, day)
    except ValueError:
        return False
    return True


_PESEL_WEIGHTS = (1, 3, 7, 9, 1, 3, 7, 9, 1, 3)


def pl_pesel(digits: str) -> bool:
    """Polish PESEL: weights 1,3,7,9,… check digit, and the encoded birth date must exist."""
    if len(digits) != 11 or not digits.isdigit():
        return False
    values = list(map(int, digits))
    check = (10 - sum(map(mul, values, _PESEL_WEIGHTS)) % 10) % 10
    if check != values[10]:
        return False
    yy, mm, dd = int(digits[0:2]), int(digits[2:4]), int(digits[4:6])
    century = {0: 1900, 20: 2000, 40: 2100, 60: 2200, 80: 1800}[(mm // 20) * 20]
    return _valid_date(century + yy, mm % 20, dd)


def pt_nif(digits: str) -> bool:
    """Portuguese NIF: 9 digits, mod-11 check digit with weights 9..2 (10 and 11 both give 0)."""
    if len(digits) != 9 or not digits.isdigit() or digits[0] not in "123456789":
        return False
    values = list(map(int, digits))
    remainder = sum(map(mul, values, _WEIGHTS_9_TO_2)) % 11
    check = 0 if remainder < 2 else 11 - remainder
    return check == values[8]


def be_national_number(digits: str) -> bool:
    """Belgian rijksregisternummer / numéro national: 97 - (first 9 digits mod 97), with a '2' prefix
    for people born in 2000 or later."""
    if len(digits) != 11 or not digits.isdigit():
        return False
    body, check = int(digits[:9]), int(digits[9:])
    return check in (97 - body % 97, 97 - (2_000_000_000 + body) % 97)


_AT_WEIGHTS = (3, 7, 9, 0, 5, 8, 4, 2, 1, 6)


def at_svnr(digits: str) -> bool:
    """Austrian Sozialversicherungsnummer: 3-digit serial, check digit, DDMMYY birth date;
    check = weighted sum mod 11 (a serial giving 10 is never issued)."""
    if len(digits) != 10 or not digits.isdigit() or digits[0] == "0":
        return False
    values = list(map(int, digits))
    check = sum(map(mul, values, _AT_WEIGHTS)) % 11
    if check == 10 or check != values[3]:
        return False
    day, month = int(digits[4:6]), int(digits[6:8])
    # Month 13-14 or day 00 are used for people whose exact date is unknown.
    return 1 <= month <= 14 and 0 <= day <= 31
