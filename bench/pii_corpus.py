"""Labelled multilingual PII corpus for the benchmark: Faker values in hand-written templates.

    .venv/bin/python bench/pii_corpus.py --out /tmp/pii_corpus.jsonl --per-language 250 --seed 7

Each line: {"id", "lang", "text", "entities": [{"start", "end", "type", "subtype"}]}. A quarter of the
records carry no personal data but hard negatives (invoice/order numbers, dates, invalid-checksum
IBAN/card/ID look-alikes). Phone numbers Faker draws in unallocated ranges (e.g. NL '(008) 3898136')
are redrawn until libphonenumber calls them valid: a number no one can dial is not a phone number.
Check-digit identifiers come from Faker's own generators where it has one (an independent implementation
of each algorithm), otherwise from the generators below.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import string
from collections.abc import Callable
from pathlib import Path

import phonenumbers
from faker import Faker
from pii_templates import MONTHS, NEGATIVE_TEMPLATES, TEMPLATES

from aiguillage.inspect import checksums

LOCALES = {
    "de": ["de_DE", "de_AT", "de_CH"], "fr": ["fr_FR", "fr_CH"], "it": ["it_IT"], "es": ["es_ES"],
    "nl": ["nl_NL", "nl_BE"], "pl": ["pl_PL"], "pt": ["pt_PT"], "en": ["en_GB"],
}
REGION = {"de_DE": "DE", "de_AT": "AT", "de_CH": "CH", "fr_FR": "FR", "fr_CH": "CH", "it_IT": "IT",
          "es_ES": "ES", "nl_NL": "NL", "nl_BE": "BE", "pl_PL": "PL", "pt_PT": "PT", "en_GB": "GB"}


def _steuer_id(rng: random.Random) -> str:
    while True:
        digits = rng.sample(string.digits, 10)
        digits[rng.randrange(1, 10)] = digits[0] if rng.random() < 0.5 else digits[rng.randrange(10)]
        body = "".join(digits)
        if body[0] == "0":
            continue
        for check in string.digits:
            if checksums.de_steuer_id(body + check):
                return body + check


def _pt_nif(rng: random.Random) -> str:
    body = rng.choice("123") + "".join(rng.choices(string.digits, k=7))
    rem = sum(int(d) * w for d, w in zip(body, range(9, 1, -1))) % 11
    return body + str(0 if rem < 2 else 11 - rem)


def _spaced(value: str, rng: random.Random, groups: list[int]) -> str:
    """Write an identifier the ways people do: plain, or grouped with spaces, dots or dashes."""
    sep = rng.choice(["", " ", " ", ".", "-"])
    if not sep:
        return value
    out, i = [], 0
    for g in groups:
        out.append(value[i : i + g])
        i += g
    return sep.join(out + ([value[i:]] if i < len(value) else []))


def national_id(fake: Faker, locale: str, rng: random.Random) -> tuple[str, str]:
    if locale == "de_AT":
        v = fake.ssn()
        return _spaced(v, rng, [4]), "AT_SVNR"
    if locale.startswith("de"):
        return _spaced(_steuer_id(rng), rng, [2, 3, 3]), "DE_STEUER_ID"
    if locale == "fr_CH":  # Faker's fr_CH ssn is the Swiss AHV number, which is not in scope
        return national_id(_faker("fr_FR"), "fr_FR", rng)
    if locale.startswith("fr"):
        return _spaced(fake.ssn(), rng, [1, 2, 2, 2, 3, 3]), "FR_NIR"
    if locale == "it_IT":
        return fake.ssn(), "IT_CODICE_FISCALE"
    if locale == "es_ES":
        return (fake.nif(), "ES_DNI") if rng.random() < 0.6 else (fake.nie(), "ES_NIE")
    if locale == "nl_BE":
        v = fake.ssn()
        return (f"{v[:2]}.{v[2:4]}.{v[4:6]}-{v[6:9]}.{v[9:]}" if rng.random() < 0.6 else v), "BE_NATIONAL_NUMBER"
    if locale == "nl_NL":
        return _spaced(fake.ssn(), rng, [4, 2]), "NL_BSN"
    if locale == "pl_PL":
        return fake.pesel(), "PL_PESEL"
    if locale == "pt_PT":
        return _spaced(_pt_nif(rng), rng, [3, 3]), "PT_NIF"
    # English-language records mention identifiers of people from elsewhere in Europe.
    other = rng.choice(["it_IT", "es_ES", "fr_FR", "nl_BE"])
    return national_id(_faker(other), other, rng)


NID_LABELS = {
    "DE_STEUER_ID": ["Steuer-ID", "Steuerliche Identifikationsnummer", "Steuer-Identifikationsnummer"],
    "AT_SVNR": ["SV-Nummer", "Sozialversicherungsnummer"],
    "FR_NIR": ["Numéro de sécurité sociale", "NIR", "N° de sécu"],
    "BE_NATIONAL_NUMBER": ["Rijksregisternummer", "Numéro national"],
    "NL_BSN": ["BSN", "Burgerservicenummer"],
    "ES_DNI": ["DNI"], "ES_NIE": ["NIE"], "IT_CODICE_FISCALE": ["Codice fiscale"], "PL_PESEL": ["PESEL"],
    "PT_NIF": ["NIF"],
}


def phone(fake: Faker, locale: str) -> str:
    for _ in range(50):
        value = fake.phone_number()
        try:
            if phonenumbers.is_valid_number(phonenumbers.parse(value.replace("(0)", ""), REGION[locale])):
                return value
        except phonenumbers.NumberParseException:
            pass
    raise RuntimeError(f"no valid phone number from Faker {locale}")


def address(fake: Faker, locale: str, rng: random.Random) -> str:
    if locale.startswith("fr"):
        street = f"{fake.building_number()}{rng.choice([' ', ', '])}{fake.street_name()}"
    elif locale == "en_GB":
        return f"{fake.building_number()} {fake.street_name()}, {fake.city()} {fake.postcode()}"
    else:
        street = fake.street_address().strip().replace("\n", ", ")
    return f"{street}, {fake.postcode()} {fake.city()}"


def birth_date(fake: Faker, lang: str, rng: random.Random) -> str:
    d = fake.date_of_birth(minimum_age=18, maximum_age=90)
    if rng.random() < 0.5:
        sep = {"de": ".", "pl": ".", "nl": "-"}.get(lang, "/")
        return f"{d.day:02d}{sep}{d.month:02d}{sep}{d.year}"
    month = MONTHS[lang][d.month - 1]
    if lang == "en":
        return rng.choice([f"{d.day} {month} {d.year}", f"{month} {d.day}, {d.year}"])
    if lang in ("es", "pt"):
        return f"{d.day} de {month} de {d.year}"
    return f"{d.day}{'.' if lang == 'de' else ''} {month} {d.year}"


def _broken(valid: str, check: Callable[[str], bool], rng: random.Random) -> str:
    """A valid identifier with one digit changed so that its checksum fails: the hardest look-alike."""
    while True:
        i = rng.choice([k for k, c in enumerate(valid) if c.isdigit()])
        cand = valid[:i] + str((int(valid[i]) + rng.randrange(1, 10)) % 10) + valid[i + 1 :]
        if not check(re.sub(r"[^0-9A-Z]", "", cand)):
            return cand


def negatives(fake: Faker, locale: str, rng: random.Random) -> dict[str, str]:
    nid, _ = national_id(fake, locale, rng)
    nid_plain = re.sub(r"[^0-9A-Z]", "", nid)
    def any_id(v: str) -> bool:
        return any(f(v) for f in (checksums.de_steuer_id, checksums.fr_nir, checksums.it_codice_fiscale,
                                  checksums.es_dni, checksums.nl_bsn, checksums.pl_pesel, checksums.pt_nif,
                                  checksums.be_national_number, checksums.at_svnr))
    return {
        "invoice": rng.choice([f"RE-{rng.randint(2019, 2025)}-{rng.randint(1, 99999):05d}",
                               f"{rng.randint(2019, 2025)}{rng.randint(0, 999999):06d}",
                               f"F{rng.randint(10000000, 99999999)}", f"INV/{rng.randint(100, 999)}/2024"]),
        "order": rng.choice([str(rng.randint(10**8, 10**10)), f"#{rng.randint(100000, 9999999)}",
                             f"{rng.randint(1000, 9999)}-{rng.randint(1000, 9999)}-{rng.randint(10, 99)}"]),
        "ref": f"{rng.choice(['SCH', 'DOS', 'CLM', 'TCK'])}-{rng.randint(100000, 999999)}",
        "amount": rng.choice([f"{rng.randint(10, 9999)},{rng.randint(0, 99):02d} €", f"€{rng.randint(10, 9999)}.50"]),
        "date": fake.date_between(start_date="-2y", end_date="+1y").strftime(rng.choice(["%d.%m.%Y", "%d/%m/%Y"])),
        "badiban": _broken(fake.iban(), checksums.iban, rng),
        "badcard": _broken(fake.credit_card_number(), checksums.luhn, rng),
        "badid": _broken(nid_plain, any_id, rng) if nid_plain.isdigit() else _broken(nid_plain, any_id, rng),
        "company": fake.company(),
        "version": f"{rng.randint(1, 9)}.{rng.randint(0, 20)}.{rng.randint(0, 99)}",
        "qty": str(rng.randint(2, 500)),
    }


def fill(template: str, values: dict[str, tuple[str, str | None, str | None]]) -> tuple[str, list[dict]]:
    """Render the template and record the gold span of each personal-data slot."""
    out, spans, pos = [], [], 0
    for m in re.finditer(r"\{(\w+)\}", template):
        out.append(template[pos : m.start()])
        value, etype, subtype = values[m.group(1)]
        start = sum(len(p) for p in out)
        out.append(value)
        if etype:
            spans.append({"start": start, "end": start + len(value), "type": etype, "subtype": subtype})
        pos = m.end()
    out.append(template[pos:])
    return "".join(out), spans


_FAKERS: dict[str, Faker] = {}


def _faker(locale: str) -> Faker:
    if locale not in _FAKERS:
        _FAKERS[locale] = Faker(locale)
    return _FAKERS[locale]


def record(lang: str, rng: random.Random, positive: bool) -> tuple[str, list[dict]]:
    locale = rng.choice(LOCALES[lang])
    fake = _faker(locale)
    fake.seed_instance(rng.randrange(2**31))
    neg = {k: (v, None, None) for k, v in negatives(fake, locale, rng).items()}
    pool = TEMPLATES[lang] if positive else NEGATIVE_TEMPLATES[lang]
    chosen = rng.sample(pool, k=rng.choice([1, 1, 2, 3]))
    texts, spans = [], []
    for tpl in chosen:
        nid, subtype = national_id(fake, locale, rng)
        card = fake.credit_card_number()
        iban = fake.iban()
        values = dict(neg)
        values.update({
            "name": (f"{fake.first_name()} {fake.last_name()}", "PERSON", None),
            "surname": (fake.last_name(), "PERSON", None),
            "email": (fake.email(), "EMAIL", None),
            "phone": (phone(fake, locale), "PHONE", None),
            "iban": (_spaced(iban, rng, [4] * 8) if rng.random() < 0.6 else iban, "IBAN", iban[:2]),
            "card": (_spaced(card, rng, [4, 4, 4]) if len(card) == 16 else card, "CREDIT_CARD", None),
            "nid": (nid, "NATIONAL_ID", subtype),
            "nidlabel": (rng.choice(NID_LABELS[subtype]), None, None),
            "address": (address(fake, locale, rng), "ADDRESS", None),
            "ip": (fake.ipv4() if rng.random() < 0.8 else fake.ipv6(), "IP_ADDRESS", None),
            "dob": (birth_date(fake, lang, rng), "DATE_OF_BIRTH", None),
        })
        offset = sum(len(t) + 2 for t in texts)
        text, tspans = fill(tpl, values)
        texts.append(text)
        spans += [{**s, "start": s["start"] + offset, "end": s["end"] + offset} for s in tspans]
    return "\n\n".join(texts), spans


def build(per_language: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for lang in TEMPLATES:
        for i in range(per_language):
            text, spans = record(lang, rng, positive=i % 4 != 0)
            rows.append({"id": f"{lang}-{i:04d}", "lang": lang, "text": text, "entities": spans})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--per-language", type=int, default=250)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    rows = build(args.per_language, args.seed)
    with args.out.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"{len(rows)} records, {sum(len(r['entities']) for r in rows)} entities -> {args.out}")


if __name__ == "__main__":
    main()
