"""Pseudonymisation round trips, in plain text and in streamed chunks split anywhere."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from aiguillage.inspect import Entity, Pseudonymizer, scan

TEXT = ("Frau Anna Schmidt (anna.schmidt@example.de, Tel. +49 30 1234567) bittet um Rückzahlung auf "
        "DE89 3704 0044 0532 0130 00. Bitte bestätigen Sie Frau Anna Schmidt den Eingang.")


def _redacted() -> tuple[Pseudonymizer, str]:
    p = Pseudonymizer()
    return p, p.redact(TEXT, scan(TEXT, "de"))


def test_redact_replaces_every_value_and_restore_brings_them_back():
    p, redacted = _redacted()
    for secret in ("Anna Schmidt", "anna.schmidt@example.de", "1234567", "DE89"):
        assert secret not in redacted
    assert "[PERSON_1]" in redacted and "[EMAIL_1]" in redacted and "[IBAN_1]" in redacted
    assert p.restore(redacted) == TEXT


def test_same_value_gets_the_same_placeholder_and_different_values_do_not():
    p, redacted = _redacted()
    assert redacted.count("[PERSON_1]") == 2
    text = "Herr Jan Kowalski und Herr Piotr Nowak"
    second = p.redact(text, scan(text, "pl"))
    assert second == "Herr [PERSON_2] und Herr [PERSON_3]"
    # Spacing variants of one IBAN are one value.
    ibans = "DE89370400440532013000 / DE89 3704 0044 0532 0130 00"
    assert p.redact(ibans, scan(ibans, "de")) == "[IBAN_1] / [IBAN_1]"


def test_answer_that_reuses_placeholders_is_restored():
    p, _ = _redacted()
    answer = "Ich habe [PERSON_1] unter [EMAIL_1] geschrieben; [PERSON_9] und [x] bleiben."
    assert p.restore(answer) == (
        "Ich habe Anna Schmidt unter anna.schmidt@example.de geschrieben; [PERSON_9] und [x] bleiben.")


def test_overlapping_entities_are_reduced_to_one():
    p = Pseudonymizer()
    text = "Anna Schmidt"
    entities = [Entity(0, 12, "PERSON", None, 0.9, "Anna Schmidt"), Entity(0, 4, "PERSON", None, 0.5, "Anna")]
    assert p.redact(text, entities) == "[PERSON_1]"


def _stream(p: Pseudonymizer, chunks: list[str]) -> str:
    restorer = p.stream_restorer()
    return "".join(restorer.feed(c) for c in chunks) + restorer.flush()


def test_stream_split_at_every_position_inside_each_placeholder():
    p, redacted = _redacted()
    expected = p.restore(redacted)
    for placeholder in ("[PERSON_1]", "[EMAIL_1]", "[PHONE_1]", "[IBAN_1]"):
        start = redacted.index(placeholder)
        for cut in range(start, start + len(placeholder) + 1):
            assert _stream(p, [redacted[:cut], redacted[cut:]]) == expected, (placeholder, cut)
            # and a placeholder split over three chunks
            for cut2 in range(cut, start + len(placeholder) + 1):
                chunks = [redacted[:cut], redacted[cut:cut2], redacted[cut2:]]
                assert _stream(p, chunks) == expected


def test_stream_one_character_at_a_time():
    p, redacted = _redacted()
    assert _stream(p, list(redacted)) == TEXT


def test_stream_emits_safe_text_early_and_holds_only_a_possible_placeholder():
    p, _ = _redacted()
    restorer = p.stream_restorer()
    assert restorer.feed("Hallo [PER") == "Hallo "
    assert restorer.feed("SON_1], Preis [") == "Anna Schmidt, Preis "
    assert restorer.feed("10 €]") == "[10 €]"  # '[' that cannot start a placeholder is released
    assert restorer.feed(" [EMAIL_") == " "
    assert restorer.flush() == "[EMAIL_"  # an unfinished placeholder at the end is passed through as is


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=len(TEXT) + 40), max_size=8))
def test_stream_any_chunking_round_trips(cuts):
    p, redacted = _redacted()
    points = sorted({min(c, len(redacted)) for c in cuts})
    chunks = [redacted[a:b] for a, b in zip([0, *points], [*points, len(redacted)])]
    assert _stream(p, chunks) == TEXT


def test_restorer_made_before_redaction_still_holds_split_placeholders():
    p = Pseudonymizer()
    restorer = p.stream_restorer()
    redacted = p.redact("Mail: a.b@example.org", scan("Mail: a.b@example.org"))
    assert redacted == "Mail: [EMAIL_1]"
    assert restorer.feed("Mail: [EMA") == "Mail: "
    assert restorer.feed("IL_1]!") == "a.b@example.org!"
    assert restorer.flush() == ""
