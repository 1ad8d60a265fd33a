"""Prompt features: hand-written difficulty signals plus TF-IDF n-grams.

The hand features are meant to carry across subjects (a router trained on some domains must
rank prompts from domains it has never seen): size, numbers and math notation, multiple-choice
shape, negated questions ("EXCEPT", "NOT"), vocabulary rarity. The TF-IDF part adds topic and
phrasing. Everything is plain scikit-learn/numpy so the fitted object pickles into the artifact.
"""

from __future__ import annotations

import math
import re

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import StandardScaler

_NUM = re.compile(r"\d+(?:[.,]\d+)*")
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)
_MATH = re.compile(r"[=+*/^<>√∑∫π≤≥×÷%]|\\frac|\\sqrt|\$")
_OPTION = re.compile(r"^\s*\(?[A-Ja-j][.)]\s", re.MULTILINE)
_NEGATION = re.compile(r"\b(?:EXCEPT|NOT|LEAST|FALSE|INCORRECT|never)\b")
_STATEMENT = re.compile(r"Statement \d\s*\|")
_CODE = re.compile(r"```|def |return |;\s*$|\{\s*$|#include|SELECT ", re.MULTILINE)
# Matched against the lower-cased text: much faster than re.I on long prompts.
_UNITS = re.compile(r"\$|€|%|\b(?:km|kg|mph|hours?|minutes?|days?|weeks?|years?|dollars?|cents?)\b")
# Substring checks on the lower-cased text: ten times cheaper than word-bounded regexes.
_QUESTION = {
    "how_many": ("how many", "how much", "how long", "how far", "how old"),
    "which": ("which",),
    "why": ("why",),
    "calc": ("calculate", "compute", "solve", "find", "determine", "evaluate", "prove"),
    "define": ("what is", "define", "refers to", "is called", "known as"),
    "passage": ("this question refers to", "the following information", "the following passage",
                "the following excerpt"),
}
_DIGITS = str.maketrans("", "", "0123456789")

HAND_FEATURES = (
    "log_chars", "log_words", "lines", "digit_share", "numbers", "distinct_numbers", "max_number_digits",
    "decimals", "math_symbols", "options", "option_mean_len", "negation", "statement_pair", "code",
    "units", "mean_word_len", "long_word_share", "capitalized_share", "question_marks",
    *(f"q_{k}" for k in _QUESTION),
)


def hand_features(text: str, words: list[str] | None = None) -> list[float]:
    if words is None:
        words = _WORD.findall(text)
    low = text.lower()
    lengths = list(map(len, words))
    nw = max(len(words), 1)
    nums = _NUM.findall(text)
    opt_lines = [ln for ln in text.split("\n") if _OPTION.match(ln)]  # ^ matches once per line
    n = max(len(text), 1)
    return [
        math.log1p(len(text)),
        math.log1p(len(words)),
        math.log1p(text.count("\n")),
        (len(text) - len(text.translate(_DIGITS))) / n,
        math.log1p(len(nums)),
        math.log1p(len(set(nums))),
        max((len(x) for x in nums), default=0) / 10,
        sum(("." in x) for x in nums) / (len(nums) + 1),
        math.log1p(len(_MATH.findall(text))),
        min(len(opt_lines), 10) / 10,
        (sum(len(ln) for ln in opt_lines) / len(opt_lines) / 100) if opt_lines else 0.0,
        float(bool(_NEGATION.search(text))),
        float(bool(_STATEMENT.search(text))),
        float(bool(_CODE.search(text))),
        math.log1p(len(_UNITS.findall(low))),
        sum(lengths) / nw / 10,
        sum(1 for n_ in lengths if n_ >= 10) / nw,
        sum(1 for w in words if w[0].isupper()) / nw,
        math.log1p(text.count("?")),
        *(float(any(k in low for k in kws)) for kws in _QUESTION.values()),
    ]


class PromptFeaturizer:
    """Fitted on training prompts; turns prompts into one sparse row each."""

    def __init__(self, word_ngrams: bool = True, max_features: int = 20000, hand_weight: float = 1.0) -> None:
        self.word_ngrams = word_ngrams
        self.max_features = max_features
        self.hand_weight = hand_weight
        self.tfidf: TfidfVectorizer | None = None
        self.scaler = StandardScaler()
        # Rarity: share of a prompt's words that training prompts rarely used (a knowledge proxy).
        self.doc_freq: dict[str, int] = {}

    def fit(self, prompts: list[str]) -> PromptFeaturizer:
        if self.word_ngrams:
            self.tfidf = TfidfVectorizer(
                ngram_range=(1, 2), min_df=2, max_features=self.max_features, sublinear_tf=True,
                lowercase=True, dtype=np.float32,
            )
            self.tfidf.fit(prompts)
        counts: dict[str, int] = {}
        for p in prompts:
            for w in set(_WORD.findall(p.lower())):
                counts[w] = counts.get(w, 0) + 1
        self.doc_freq = {w: c for w, c in counts.items() if c >= 2}
        self.scaler.fit(self.dense(prompts))
        return self

    def _rarity(self, words: list[str]) -> list[float]:
        if not words:
            return [0.0, 0.0]
        df = self.doc_freq
        unseen = sum(1 for w in words if w not in df) / len(words)
        rare = sum(1 for w in words if len(w) > 3 and df.get(w, 0) < 5) / len(words)
        return [unseen, rare]

    def dense_one(self, prompt: str) -> list[float]:
        words = _WORD.findall(prompt)
        return hand_features(prompt, words) + self._rarity([w.lower() for w in words])

    def dense(self, prompts: list[str]) -> np.ndarray:
        """The hand features (unscaled), rows x features: what the tree models read."""
        return np.asarray([self.dense_one(p) for p in prompts], dtype=np.float64)

    @property
    def feature_names(self) -> list[str]:
        names = [*HAND_FEATURES, "unseen_word_share", "rare_word_share"]
        if self.tfidf is not None:
            names += [f"ngram:{t}" for t in self.tfidf.get_feature_names_out()]
        return names

    def transform(self, prompts: list[str], dense: np.ndarray | None = None) -> sparse.csr_matrix:
        """Standardised hand features then TF-IDF n-grams; ``dense``: ``self.dense(prompts)`` if known."""
        raw = self.dense(prompts) if dense is None else dense
        blocks = [sparse.csr_matrix(self.scaler.transform(raw) * self.hand_weight)]
        if self.tfidf is not None:
            blocks.append(self.tfidf.transform(prompts))
        return sparse.hstack(blocks, format="csr")
