"""The ``learned`` strategy: predict, per deployment, the chance its answer is good enough.

One calibrated logistic regression per outcome column over the prompt features (see
``features.py``). At serving time the router picks the cheapest eligible deployment whose
predicted success reaches the threshold derived from the tenant's quality target; the rest
follow as fallbacks (the other deployments meeting the target by cost, then the others by
predicted success). Scores in [0, 1] are learned as soft labels (each row counted as a success
with weight ``score`` and as a failure with weight ``1 - score``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
from scipy import sparse
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold, KFold

from aiguillage.config import Deployment, RouterSpec
from aiguillage.routing.base import Ranking, RouteInput, by_cost, expected_cost
from aiguillage.routing.coverage import column_for, predicted_success
from aiguillage.routing.fastpath import FastScorer
from aiguillage.routing.features import PromptFeaturizer
from aiguillage.routing.outcomes import OutcomeTable
from aiguillage.routing.thresholds import DEFAULT_TARGET, pick, success_thresholds

Progress = Callable[[str], None]


class PromptSuccessModel:
    """Featurizer + one classifier per outcome column; picklable plain sklearn objects."""

    def __init__(self, featurizer: PromptFeaturizer, columns: list[str], classifiers: list[LogisticRegression]):
        self.featurizer = featurizer
        self.columns = columns
        self.classifiers = classifiers
        self._names: list[str] | None = None
        self._fast: FastScorer | None = None

    def predict(self, prompts: list[str]) -> np.ndarray:
        """Success probability, rows x columns."""
        return self.predict_x(self.featurizer.transform(prompts))

    def predict_x(self, x: Any) -> np.ndarray:
        return np.column_stack([c.predict_proba(x)[:, 1] for c in self.classifiers])

    def explain_x(self, x: Any, column: str, k: int = 3) -> list[dict[str, Any]]:
        """The features of one transformed prompt moving ``column``'s predicted success most
        (effect < 0: towards failure), strongest first."""
        clf = self.classifiers[self.columns.index(column)]
        row = x.tocsr()
        contrib = row.data * clf.coef_[0][row.indices]
        top = np.argsort(-np.abs(contrib))[:k]
        names = self.explain_names()
        return [{"feature": names[row.indices[i]], "effect": round(float(contrib[i]), 3)} for i in top]

    def explain_names(self) -> list[str]:
        if self._names is None:
            self._names = self.featurizer.feature_names
        return self._names

    def fast(self) -> FastScorer:
        if getattr(self, "_fast", None) is None:
            self._fast = FastScorer(self)
        return self._fast

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_names": None, "_fast": None}


def _fit_column(x: Any, y: np.ndarray, c: float, name: str) -> LogisticRegression:
    keep = ~np.isnan(y)
    xs, ys = x[np.flatnonzero(keep)], y[keep]
    if len(ys) == 0 or ys.min() == ys.max():
        raise ValueError(f"outcome column '{name}' has the same value on every row: nothing to learn; "
                         "drop the column or add prompts where the model's outcome differs")
    # Soft labels: a row is a success with weight y and a failure with weight 1 - y.
    xx = sparse.vstack([xs, xs], format="csr")
    labels = np.concatenate([np.ones(len(ys)), np.zeros(len(ys))])
    weights = np.concatenate([ys, 1 - ys])
    nz = weights > 0
    clf = LogisticRegression(C=c, solver="liblinear", max_iter=500)
    clf.fit(xx[np.flatnonzero(nz)], labels[nz], sample_weight=weights[nz])
    return clf


def fit_prompt_model(table: OutcomeTable, c: float = 0.3) -> PromptSuccessModel:
    feat = PromptFeaturizer().fit(table.prompts)
    x = feat.transform(table.prompts)
    cols = table.columns
    return PromptSuccessModel(feat, cols, [_fit_column(x, table.outcomes[col], c, col) for col in cols])


def _folds(table: OutcomeTable, k: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Grouped by source file when there are several (e.g. MMLU domains), so the thresholds are
    chosen on predictions for data unlike the training folds, as serving will be."""
    idx = np.arange(len(table))
    groups = table.sources if len(set(table.sources)) >= k else None
    if groups is not None:
        return list(GroupKFold(n_splits=k).split(idx, groups=groups))
    return list(KFold(n_splits=k, shuffle=True, random_state=0).split(idx))


def train_learned(
    table: OutcomeTable, c: float = 0.3, folds: int = 3, progress: Progress | None = None
) -> tuple[dict[str, Any], PromptSuccessModel]:
    """Fit on all rows; thresholds for each quality target from out-of-fold predictions."""
    if len(table) < 20:
        raise ValueError(f"only {len(table)} rows: the learned router needs at least 20 outcome rows")
    cols = table.columns
    means = {col: float(np.nanmean(table.outcomes[col])) for col in cols}
    order = sorted(cols, key=lambda col: means[col])  # weaker first: the cheaper-first proxy
    oof = np.zeros((len(table), len(cols)))
    for i, (tr, te) in enumerate(_folds(table, folds)):
        if progress:
            progress(f"fold {i + 1}/{folds}")
        m = fit_prompt_model(table.subset(tr), c)
        oof[te] = m.predict([table.prompts[j] for j in te])
    if progress:
        progress("final model")
    model = fit_prompt_model(table, c)
    ix = [cols.index(col) for col in order]
    outcomes = np.column_stack([table.outcomes[col] for col in order])
    meta = {
        "strategy": "learned",
        "columns": cols,
        "column_means": means,
        "rows": len(table),
        "thresholds": success_thresholds(oof[:, ix], outcomes),
        "default_target": DEFAULT_TARGET,
    }
    return meta, model


class LearnedRouter:
    strategy: ClassVar[str] = "learned"

    def __init__(self, meta: dict[str, Any], model: PromptSuccessModel, spec: RouterSpec,
                 catalog: list[Deployment]) -> None:
        self.version = str(meta["version"])
        self.model = model
        model.explain_names()  # resolve the feature names now, not on the first request
        self.fast = model.fast()
        self.target = spec.quality_target if spec.quality_target is not None else meta["default_target"]
        self.threshold = spec.threshold if spec.threshold is not None else pick(meta["thresholds"], self.target)
        self.dep_to_col = column_for(model.columns, spec.column_map)
        ids = {d.id: d for d in catalog}
        self.tier_of_column = {c: ids[d].tier for d, c in self.dep_to_col.items() if d in ids}
        if not self.tier_of_column:
            raise ValueError(
                f"none of the artifact's outcome columns ({', '.join(model.columns)}) names a catalog "
                "deployment; map them with router.column_map: {column: deployment_id}"
            )

    def rank(self, request: RouteInput, eligible: list[Deployment]) -> Ranking:
        if not eligible:
            raise ValueError("no eligible deployment to rank")
        probs, row = self.fast.predict(request.prompt)
        by_col = {c: float(p) for c, p in zip(self.model.columns, probs) if c in self.tier_of_column}
        p, how = predicted_success(eligible, by_col, self.dep_to_col, self.tier_of_column)
        cost_order = by_cost(eligible, request)
        meeting = [d for d in cost_order if p[d.id] >= self.threshold]
        rest = sorted((d for d in cost_order if p[d.id] < self.threshold), key=lambda d: -p[d.id])
        order = meeting + rest
        first = order[0]
        # Explain the cheapest deployment the model covers: the decision hinges on it.
        pivot = next((d for d in cost_order if self.dep_to_col.get(d.id) in by_col), None)
        names = self.model.explain_names()
        top = self.fast.explain(row, self.model.columns.index(self.dep_to_col[pivot.id]), names) if pivot else []
        if meeting:
            reason = (f"'{first.id}' is the cheapest of {len(eligible)} eligible deployment(s) predicted to "
                      f"answer well enough (p={p[first.id]:.2f} >= {self.threshold:.2f})")
        else:
            reason = (f"no eligible deployment reaches p >= {self.threshold:.2f}; '{first.id}' has the "
                      f"highest predicted success (p={p[first.id]:.2f})")
        estimated = [d for d in eligible if how[d.id] != "model"]
        if estimated:
            reason += f"; {len(estimated)} deployment(s) without outcome data estimated from their tier"
        return Ranking(
            order=order,
            strategy=self.strategy,
            version=self.version,
            reason=reason,
            details={
                "candidates": [
                    {"id": d.id, "tier": d.tier, "predicted_success": round(p[d.id], 4), "estimate": how[d.id],
                     "expected_cost_eur": str(expected_cost(d, request.prompt_tokens, request.max_output_tokens))}
                    for d in order
                ],
                "threshold": self.threshold,
                "quality_target": self.target,
                "top_features": top,
                "top_features_for": pivot.id if pivot else None,
            },
        )
