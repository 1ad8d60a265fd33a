"""Gradient-boosted trees over the hand features, stored as plain arrays.

scikit-learn's ``HistGradientBoostingClassifier`` trains them; serving one prompt through its
``predict_proba`` costs more than the whole routing budget (input validation, binning threads),
and its fitted trees live in private attributes whose layout may change between versions. So the
trees are copied once, at training time, into flat numpy arrays (one node table for every tree of
the ensemble) and walked level by level for all trees at once. ``tests/routing`` checks that the
copy predicts what scikit-learn predicts.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier


class TreeEnsemble:
    """A binary boosted-tree classifier: P(success) = sigmoid(baseline + sum of one leaf per tree)."""

    def __init__(self, clf: HistGradientBoostingClassifier) -> None:
        if len(clf.classes_) != 2:
            raise ValueError("TreeEnsemble needs a binary classifier")
        feature, threshold, left, right, value, leaf, nan_left, roots = [], [], [], [], [], [], [], []
        offset = 0
        for (tree,) in clf._predictors:  # one tree per boosting iteration for a binary target
            nodes = tree.nodes
            if nodes["is_categorical"].any():
                raise ValueError("categorical splits are not supported")
            roots.append(offset)
            feature.append(nodes["feature_idx"])
            threshold.append(nodes["num_threshold"])
            # A leaf points at itself, so walking past it is a no-op.
            own = np.arange(offset, offset + len(nodes))
            is_leaf = nodes["is_leaf"].astype(bool)
            left.append(np.where(is_leaf, own, nodes["left"].astype(np.int64) + offset))
            right.append(np.where(is_leaf, own, nodes["right"].astype(np.int64) + offset))
            value.append(np.where(is_leaf, nodes["value"], 0.0))
            leaf.append(is_leaf)
            nan_left.append(nodes["missing_go_to_left"].astype(bool))
            offset += len(nodes)
        def cat(parts: list[Any], dt: Any) -> Any:
            return np.concatenate(parts).astype(dt) if parts else np.zeros(0, dt)

        self.feature = cat(feature, np.intp)
        self.threshold = cat(threshold, np.float64)
        self.left = cat(left, np.intp)
        self.right = cat(right, np.intp)
        self.value = cat(value, np.float64)
        self.nan_left = cat(nan_left, bool)
        self.roots = np.asarray(roots, dtype=np.intp)
        self.baseline = float(np.ravel(clf._baseline_prediction)[0])
        depth = [int(t.nodes["depth"].max()) for (t,) in clf._predictors]
        self.depth = max(depth, default=0)

    def raw(self, x: np.ndarray) -> np.ndarray:
        """Log-odds for each row of ``x`` (rows x features)."""
        x = np.atleast_2d(np.asarray(x, dtype=np.float64))
        node = np.broadcast_to(self.roots, (len(x), len(self.roots))).copy()
        rows = np.arange(len(x))[:, None]
        for _ in range(self.depth):
            v = x[rows, self.feature[node]]
            go_left = (v <= self.threshold[node]) | (np.isnan(v) & self.nan_left[node])
            node = np.where(go_left, self.left[node], self.right[node])
        return self.baseline + self.value[node].sum(axis=1)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """P(success) for each row of ``x``."""
        return 1 / (1 + np.exp(-self.raw(x)))

    def predict_one(self, x: np.ndarray) -> float:
        """P(success) for one feature vector: the serving path, no 2-D bookkeeping."""
        node = self.roots
        feature, threshold, left, right, nan_left = self.feature, self.threshold, self.left, self.right, self.nan_left
        for _ in range(self.depth):
            v = x[feature[node]]
            go_left = (v <= threshold[node]) | (np.isnan(v) & nan_left[node])
            node = np.where(go_left, left[node], right[node])
        return float(1 / (1 + np.exp(-(self.baseline + self.value[node].sum()))))
