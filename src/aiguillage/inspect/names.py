"""First-name lexicon for PERSON detection.

Source: the `gender-guesser` package's nam_dict.txt (Jörg Michael's "gender" dictionary, ~48,000 first
names with per-country frequencies, built from public name registers). It is independent of Faker's tables,
so the benchmark corpus generated with Faker does not test the lexicon against itself.
"""

from __future__ import annotations

import threading
import unicodedata
from importlib import resources

# nam_dict.txt columns: gender (0-1), name (3-28), one frequency character per country from 30 on.
_FIRST_COLUMN = 30

# Capitalised words that are also listed as first names but are far more often something else
# (function words at a sentence start, nouns, months, places). Kept small and language-generic.
STOPWORDS = frozenset(
    """
    an am auf aus bei bis das dem den der des die ein eine für im in mit nach per seit um und von vom zu zur
    sie ihr ihre ihnen ihren wir ich er es uns
    ab alle also bitte danke dank gut guten hallo herr frau liebe lieber sehr viele
    au aux avec ce cette dans de des du elle en et il je la le les merci mon nous par pour sur une vous
    ai al alla con da dal del della di e gli il io la le nel per su un una
    al con de del el en es la las los mi para por se su un una y
    aan bij de een en het in met naar op te van voor
    do na od po przez w we z za
    ao com da das de do dos em na no para por um uma
    a an and as at by for from in it of on or the to with dear hello hi kind best
    bank city center centre crystal dawn grace hope joy kay king may mark rose star summer will
    """.split()
)

_lock = threading.Lock()
_names: frozenset[str] | None = None


def fold(word: str) -> str:
    """Lowercase without accents, so 'Nádia' finds 'Nadia' and 'Édouard' finds 'Edouard'."""
    decomposed = unicodedata.normalize("NFKD", word.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c)).replace("ł", "l")


def _parse() -> frozenset[str]:
    data = resources.files("gender_guesser").joinpath("data/nam_dict.txt").read_text(encoding="utf-8")
    names: set[str] = set()
    for line in data.splitlines():
        if not line or line[0] in "#=":
            continue
        # Every country column counts: Europe's residents carry names from everywhere.
        raw = line[3:_FIRST_COLUMN - 1].strip()
        # '+' joins compound names ('Hans+Peter' stands for 'Hans-Peter', 'Hans Peter', 'Hanspeter').
        for variant in {raw.replace("+", "-"), raw.replace("+", " "), raw.replace("+", "")}:
            if " " not in variant and len(variant) > 1:
                names.add(fold(variant))
    return frozenset(names - {fold(w) for w in STOPWORDS})


def first_names() -> frozenset[str]:
    global _names
    if _names is None:
        with _lock:
            if _names is None:
                _names = _parse()
    return _names


def is_first_name(word: str) -> bool:
    return fold(word) in first_names()
