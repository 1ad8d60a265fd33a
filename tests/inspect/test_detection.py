"""scan() on realistic sentences: formats people write, look-alikes that must not be flagged, languages."""

from __future__ import annotations

import socket

import pytest

from aiguillage.inspect import CONTEXT_TYPES, Entity, detect_language, scan


def found(text: str, language: str | None = None, context: bool = True) -> set[tuple[str, str | None, str]]:
    return {(e.type, e.subtype, text[e.start : e.end]) for e in scan(text, language, context=context)}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("IBAN: DE89 3704 0044 0532 0130 00 BIC COBADEFFXXX", ("IBAN", "DE", "DE89 3704 0044 0532 0130 00")),
        ("Konto DE89370400440532013000.", ("IBAN", "DE", "DE89370400440532013000")),
        ("virement sur FR14-2004-1010-0505-0001-3M02-606", ("IBAN", "FR", "FR14-2004-1010-0505-0001-3M02-606")),
        ("Karte 4111-1111-1111-1111 gesperrt", ("CREDIT_CARD", "VISA", "4111-1111-1111-1111")),
        ("card 4111.1111.1111.1111", ("CREDIT_CARD", "VISA", "4111.1111.1111.1111")),
        ("Steuer-ID 86 095 742 719", ("NATIONAL_ID", "DE_STEUER_ID", "86 095 742 719")),
        ("NIR 2 55 08 14 168 025 38", ("NATIONAL_ID", "FR_NIR", "2 55 08 14 168 025 38")),
        ("codice fiscale RSSMRA85T10A562S", ("NATIONAL_ID", "IT_CODICE_FISCALE", "RSSMRA85T10A562S")),
        ("DNI 12.345.678-Z", ("NATIONAL_ID", "ES_DNI", "12.345.678-Z")),
        ("NIE X-1234567-L", ("NATIONAL_ID", "ES_NIE", "X-1234567-L")),
        ("BSN: 1112.22.333", ("NATIONAL_ID", "NL_BSN", "1112.22.333")),
        ("PESEL 44051401359", ("NATIONAL_ID", "PL_PESEL", "44051401359")),
        ("NIF 123 456 789", ("NATIONAL_ID", "PT_NIF", "123 456 789")),
        ("Rijksregisternummer 85.07.30-033.28", ("NATIONAL_ID", "BE_NATIONAL_NUMBER", "85.07.30-033.28")),
        ("SV-Nummer 1237 010180", ("NATIONAL_ID", "AT_SVNR", "1237 010180")),
        ("Mail an anna.weber+kasse@example.co.uk bitte", ("EMAIL", None, "anna.weber+kasse@example.co.uk")),
        ("Tel.: +49 (0)30 1234567", ("PHONE", None, "+49 (0)30 1234567")),
        ("Appelez le 01 42 68 53 00 demain", ("PHONE", None, "01 42 68 53 00")),
        ("login from 192.168.10.254 failed", ("IP_ADDRESS", "IPV4", "192.168.10.254")),
        ("from 2001:db8::8a2e:370:7334 failed", ("IP_ADDRESS", "IPV6", "2001:db8::8a2e:370:7334")),
        ("geboren am 12.03.1985 in Köln", ("DATE_OF_BIRTH", None, "12.03.1985")),
        ("née le 3 mars 1979 à Lyon", ("DATE_OF_BIRTH", None, "3 mars 1979")),
        ("Sehr geehrte Frau Dr. Weber,", ("PERSON", None, "Weber")),
        ("Laut Jens Drubin wurde die Lieferung verschoben.", ("PERSON", None, "Jens Drubin")),
        ("Uitslag naar dhr. van Dijk gestuurd.", ("PERSON", None, "van Dijk")),
        ("Adresse : 12, rue de la Paix, 75002 Paris", ("ADDRESS", None, "12, rue de la Paix, 75002 Paris")),
        ("wohnhaft Berliner Straße 5a, 10115 Berlin.", ("ADDRESS", None, "Berliner Straße 5a, 10115 Berlin")),
        ("residente in Via Roma, 12, 20121 Milano (MI).", ("ADDRESS", None, "Via Roma, 12, 20121 Milano (MI)")),
        ("ul. Kwiatowa 12/3, 63-030 Nysa", ("ADDRESS", None, "ul. Kwiatowa 12/3, 63-030 Nysa")),
    ],
)
def test_detects_entity_as_written(text, expected):
    assert expected in found(text)


@pytest.mark.parametrize(
    "text",
    [
        "Rechnung RE-2024-004711 vom 12.03.2024 über 1.234,56 €, fällig am 30.04.2024.",
        "Bitte prüfen Sie die IBAN DE89 3704 0044 0532 0130 01 erneut.",  # mod-97 fails
        "Die Testkarte 4111 1111 1111 1112 wurde abgelehnt.",  # Luhn fails
        "Bestellnummer 86095742718 ist storniert.",  # Steuer-ID look-alike with a wrong check digit
        "Order 123456782 shipped.",  # passes the BSN 11-proof, but nothing says it is a BSN
        "Commande n° 44051401359 livrée.",  # a valid PESEL pattern without the word PESEL
        "Artikel 1510-1685-27, Lieferung 4711-0815-22, Version 10.2.3.4.5",
        "Hallo Team, die neue Version 2.3.1 ist online.",
        "Facture F2024-00871 du 03/05/2024, total 459,00 EUR.",
        "Fattura 2019461209 del 06/03/2027: 378 pezzi dell'articolo 2711-3577-16.",
    ],
)
def test_look_alikes_are_not_flagged(text):
    assert found(text) == set()


def test_fast_path_skips_names_and_addresses():
    text = "Frau Anna Schmidt, Hauptstraße 5, 10115 Berlin, anna@example.de"
    full = {t for t, _, _ in found(text)}
    fast = {t for t, _, _ in found(text, "de", context=False)}
    assert {"PERSON", "ADDRESS", "EMAIL"} <= full
    assert fast == {"EMAIL"}
    assert not fast & set(CONTEXT_TYPES)


def test_entities_do_not_overlap_and_offsets_index_the_text():
    text = ("Kontoinhaber: Anna Schmidt, IBAN DE89 3704 0044 0532 0130 00, Tel. 030 12345678, "
            "geb. 01.02.1980, anna.schmidt@example.de")
    entities = scan(text)
    assert [e.type for e in entities] == ["PERSON", "IBAN", "PHONE", "DATE_OF_BIRTH", "EMAIL"]
    for a, b in zip(entities, entities[1:]):
        assert a.end <= b.start
    for e in entities:
        assert text[e.start : e.end] == e.text
        assert 0.0 < e.score <= 1.0


def test_entity_repr_never_shows_the_value():
    e = scan("Mail: secret.person@example.org")[0]
    assert isinstance(e, Entity)
    assert "secret.person" not in repr(e)
    assert "secret.person" not in str(e.to_json())


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("Sehr geehrte Damen und Herren, anbei erhalten Sie die Rechnung für März.", "de"),
        ("Bonjour, je voudrais savoir pourquoi ma facture est si élevée ce mois-ci.", "fr"),
        ("Buongiorno, vorrei sapere perché la mia bolletta è così alta questo mese.", "it"),
        ("Hola, quisiera saber por qué mi factura es tan alta este mes.", "es"),
        ("Hallo, ik wil graag weten waarom mijn factuur deze maand zo hoog is.", "nl"),
        ("Dzień dobry, chciałbym wiedzieć, dlaczego mój rachunek jest tak wysoki.", "pl"),
        ("Olá, gostaria de saber porque é que a minha fatura está tão alta este mês.", "pt"),
        ("Hello, I would like to know why my invoice is so high this month.", "en"),
    ],
)
def test_detect_language(text, lang):
    assert detect_language(text) == lang
    assert detect_language(text * 50) == lang  # long prompts: only a bounded prefix is read


@pytest.mark.parametrize("text", ["", "ok", "12345 67890 !!", "DE89 3704"])
def test_detect_language_is_none_when_unsure(text):
    assert detect_language(text) is None


def test_scan_makes_no_network_call(monkeypatch):
    def refuse(*_args, **_kwargs):
        raise AssertionError("personal-data inspection must not open network connections")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    text = "Frau Anna Schmidt, anna@example.de, +49 30 1234567, DE89 3704 0044 0532 0130 00"
    assert {e.type for e in scan(text)} == {"PERSON", "EMAIL", "PHONE", "IBAN"}


def test_concurrent_scans_from_many_threads_agree():
    from concurrent.futures import ThreadPoolExecutor

    text = ("Sehr geehrte Damen und Herren, bitte überweisen Sie den Betrag an Frau Anna Schmidt, "
            "IBAN DE89 3704 0044 0532 0130 00, Tel. 030 12345678, geb. 01.02.1980")
    expected = scan(text)
    assert len(expected) == 4
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: (scan(text), detect_language(text)), range(32)))
    assert all(entities == expected and lang == "de" for entities, lang in results)


def test_international_phone_is_not_read_as_an_identifier():
    # Its 11 digits happen to pass the Steuer-ID rules; the leading '+' says it is a phone number.
    assert found("Rückruf unter +41 52 477 09 76 erbeten.") == {("PHONE", None, "+41 52 477 09 76")}
