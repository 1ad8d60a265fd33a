"""The serving path of the learned model: the same arithmetic as scikit-learn, minus its overhead.

``TfidfVectorizer.transform`` + ``StandardScaler.transform`` + ``predict_proba`` spend most of
their time validating inputs and building sparse matrices for a single row. Serving one prompt
only needs: tokens -> vocabulary ids -> sublinear tf x idf, L2-normalised; hand features ->
standardised; then one dot product per outcome column, averaged with the column's tree ensemble
read on the raw hand features. ``tests/routing`` checks that this path and the batch one agree.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from aiguillage.routing.learned import PromptSuccessModel


class FastScorer:
    def __init__(self, model: PromptSuccessModel) -> None:
        fz = model.featurizer
        self.featurizer = fz
        self.mean = fz.scaler.mean_
        self.scale = fz.scaler.scale_ / fz.hand_weight
        weights = np.vstack([c.coef_[0] for c in model.classifiers])
        hand = len(self.mean)
        self.w_hand = np.ascontiguousarray(weights[:, :hand])
        self.w_terms = np.ascontiguousarray(weights[:, hand:])
        self.bias = np.array([c.intercept_[0] for c in model.classifiers])
        self.trees = model.trees
        self.analyzer = self._analyzer(fz.tfidf) if fz.tfidf is not None else None
        self.vocab: dict[str, int] = fz.tfidf.vocabulary_ if fz.tfidf is not None else {}
        self.idf = fz.tfidf.idf_ if fz.tfidf is not None else np.zeros(0)
        self.sublinear = bool(fz.tfidf.sublinear_tf) if fz.tfidf is not None else False

    @staticmethod
    def _analyzer(tfidf: Any) -> Callable[[str], list[str]]:
        """scikit-learn's word 1-2-gram analyzer, rebuilt without its per-n-gram Python loop."""
        plain = (tfidf.analyzer == "word" and tfidf.ngram_range == (1, 2) and tfidf.lowercase
                 and tfidf.stop_words is None and tfidf.preprocessor is None and tfidf.tokenizer is None
                 and tfidf.strip_accents is None)
        if not plain:
            return tfidf.build_analyzer()
        tokenize = re.compile(tfidf.token_pattern).findall

        def analyze(doc: str) -> list[str]:
            toks = tokenize(doc.lower())
            return toks + [f"{a} {b}" for a, b in zip(toks, toks[1:])]

        return analyze

    def features(self, prompt: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(raw hand features, standardised hand features, n-gram ids, n-gram tf-idf values)."""
        raw = np.asarray(self.featurizer.dense_one(prompt), dtype=np.float64)
        dense = (raw - self.mean) / self.scale
        if self.analyzer is None:
            return raw, dense, np.zeros(0, dtype=np.intp), np.zeros(0)
        counts: dict[int, int] = {}
        vocab = self.vocab
        for tok in self.analyzer(prompt):
            j = vocab.get(tok)
            if j is not None:
                counts[j] = counts.get(j, 0) + 1
        idx = np.fromiter(counts.keys(), dtype=np.intp, count=len(counts))
        tf = np.fromiter(counts.values(), dtype=float, count=len(counts))
        vals = (1 + np.log(tf) if self.sublinear else tf) * self.idf[idx]
        norm = float(np.sqrt(vals @ vals))
        return raw, dense, idx, (vals / norm if norm > 0 else vals)

    def predict(self, prompt: str) -> tuple[np.ndarray, Any]:
        """Success probability per column, and the feature row (for ``explain``)."""
        raw, dense, idx, vals = self.features(prompt)
        z = self.bias + self.w_hand @ dense + self.w_terms[:, idx] @ vals
        trees = np.array([t.predict_one(raw) for t in self.trees])
        return (1 / (1 + np.exp(-z)) + trees) / 2, (dense, idx, vals)

    def explain(self, row: Any, column_index: int, names: list[str], k: int = 3) -> list[dict[str, Any]]:
        dense, idx, vals = row
        hand = len(dense)
        contrib = np.concatenate([self.w_hand[column_index] * dense, self.w_terms[column_index, idx] * vals])
        ids = np.concatenate([np.arange(hand), idx + hand])
        top = np.argsort(-np.abs(contrib))[:k]
        return [{"feature": names[int(ids[i])], "effect": round(float(contrib[i]), 3)} for i in top]
