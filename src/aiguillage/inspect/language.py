"""Language detection for routing and for choosing per-language detectors.

Lingua's models for the eight gateway languages are loaded once, lazily, under a lock, so the detector
can be shared by every request thread of the HTTP server. Only a bounded prefix of the prompt is read:
the language of a prompt is settled in its first few hundred characters, and it keeps p99 under 1 ms.
"""

from __future__ import annotations

import threading

from lingua import IsoCode639_1, Language, LanguageDetector, LanguageDetectorBuilder

SUPPORTED = ("de", "fr", "it", "es", "nl", "pl", "pt", "en")
PREFIX_CHARS = 320
MIN_CONFIDENCE = 0.5
_MIN_LETTERS = 12

_LANGUAGES = (
    Language.GERMAN, Language.FRENCH, Language.ITALIAN, Language.SPANISH,
    Language.DUTCH, Language.POLISH, Language.PORTUGUESE, Language.ENGLISH,
)
_lock = threading.Lock()
_detector: LanguageDetector | None = None


def _get() -> LanguageDetector:
    global _detector
    if _detector is None:
        with _lock:
            if _detector is None:
                _detector = (
                    LanguageDetectorBuilder.from_languages(*_LANGUAGES)
                    .with_preloaded_language_models()
                    .build()
                )
    return _detector


def warm_up() -> None:
    _get()


def detect_language(text: str) -> str | None:
    """ISO 639-1 code of the prompt's language, or None when the text is too short or ambiguous."""
    sample = text[:PREFIX_CHARS]
    if sum(c.isalpha() for c in sample) < _MIN_LETTERS:
        return None
    values = _get().compute_language_confidence_values(sample)
    if not values or values[0].value < MIN_CONFIDENCE:
        return None
    code: IsoCode639_1 = values[0].language.iso_code_639_1
    return code.name.lower()
