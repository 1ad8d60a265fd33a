"""Personal-data inspection: detection, language detection and reversible pseudonymisation.

Everything runs in-process and offline; heavy resources load lazily, once, and thread-safely
(call warm_up() at server start to pay that cost before the first request).
"""

from __future__ import annotations

from aiguillage.inspect.entity import ALL_TYPES, CONTEXT_TYPES, PATTERN_TYPES, Entity
from aiguillage.inspect.language import SUPPORTED as SUPPORTED_LANGUAGES
from aiguillage.inspect.language import detect_language
from aiguillage.inspect.pseudonymize import Pseudonymizer, StreamRestorer
from aiguillage.inspect.scanner import scan

__all__ = [
    "ALL_TYPES", "CONTEXT_TYPES", "PATTERN_TYPES", "SUPPORTED_LANGUAGES", "Entity", "Pseudonymizer",
    "StreamRestorer", "detect_language", "scan", "warm_up",
]


def warm_up() -> None:
    """Load the language models and the first-name lexicon now rather than on the first request."""
    from aiguillage.inspect import language, names

    language.warm_up()
    names.first_names()
    scan("Warm-up: Frau Anna Schmidt, Tel. +49 30 1234567, Hauptstraße 1, 10115 Berlin.", "de")
