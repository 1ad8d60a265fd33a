"""Each check-digit validator against published valid examples and near-miss invalid ones."""

from __future__ import annotations

import pytest

from aiguillage.inspect import checksums

VALID = [
    (checksums.iban, "DE89370400440532013000"),
    (checksums.iban, "GB82WEST12345698765432"),
    (checksums.iban, "FR1420041010050500013M02606"),
    (checksums.iban, "NL91ABNA0417164300"),
    (checksums.iban, "BE68539007547034"),
    (checksums.iban, "IT60X0542811101000000123456"),
    (checksums.iban, "ES9121000418450200051332"),
    (checksums.iban, "PL61109010140000071219812874"),
    (checksums.iban, "PT50000201231234567890154"),
    (checksums.iban, "AT611904300234573201"),
    (checksums.luhn, "4111111111111111"),
    (checksums.luhn, "79927398713"),
    (checksums.de_steuer_id, "86095742719"),
    (checksums.de_steuer_id, "47036892816"),
    (checksums.de_steuer_id, "65929970489"),
    (checksums.fr_nir, "255081416802538"),
    (checksums.fr_nir, "269052A00100132"),  # Corsica: 2A counts as 19
    (checksums.it_codice_fiscale, "RSSMRA85T10A562S"),
    (checksums.it_codice_fiscale, "MRTMTT91D08F205J"),
    (checksums.es_dni, "12345678Z"),
    (checksums.es_dni, "X1234567L"),
    (checksums.nl_bsn, "111222333"),
    (checksums.nl_bsn, "123456782"),
    (checksums.pl_pesel, "44051401359"),
    (checksums.pl_pesel, "02270803624"),  # born in 2002: month + 20
    (checksums.pt_nif, "123456789"),
    (checksums.pt_nif, "501964843"),
    (checksums.be_national_number, "85073003328"),
    (checksums.be_national_number, "00010100105"),  # born in 2000 or later: '2' prefix in the key
    (checksums.at_svnr, "1237010180"),
]

INVALID = [
    (checksums.iban, "DE89370400440532013001"),  # one digit changed
    (checksums.iban, "DE8937040044053201300"),  # wrong length for DE
    (checksums.iban, "XX89370400440532013000"),  # unknown country
    (checksums.luhn, "4111111111111112"),
    (checksums.luhn, "4111 1111"),
    (checksums.de_steuer_id, "86095742718"),  # check digit
    (checksums.de_steuer_id, "12345678903"),  # no repeated digit
    (checksums.de_steuer_id, "01234567899"),  # leading zero
    (checksums.fr_nir, "255081416802539"),
    (checksums.fr_nir, "555081416802538"),  # sex digit
    (checksums.it_codice_fiscale, "RSSMRA85T10A562T"),
    (checksums.it_codice_fiscale, "RSSMRA85Z10A562S"),  # Z is no month letter
    (checksums.es_dni, "12345678A"),
    (checksums.es_dni, "X1234567A"),
    (checksums.nl_bsn, "123456789"),
    (checksums.nl_bsn, "000000000"),
    (checksums.pl_pesel, "44051401358"),
    (checksums.pl_pesel, "44133101357"),  # right check digit, but month 13 does not exist
    (checksums.pt_nif, "123456780"),
    (checksums.pt_nif, "023456789"),
    (checksums.be_national_number, "85073003329"),
    (checksums.at_svnr, "1238010180"),
    (checksums.at_svnr, "0237010180"),
]


@pytest.mark.parametrize(("check", "value"), VALID, ids=[f"{c.__name__}-{v}" for c, v in VALID])
def test_valid_examples_pass(check, value):
    assert check(value)


@pytest.mark.parametrize(("check", "value"), INVALID, ids=[f"{c.__name__}-{v}" for c, v in INVALID])
def test_invalid_examples_fail(check, value):
    assert not check(value)


def test_single_digit_errors_are_always_caught_by_mod97():
    base = "DE89370400440532013000"
    for i in range(4, len(base)):
        for d in "0123456789":
            if d != base[i]:
                assert not checksums.iban(base[:i] + d + base[i + 1 :])
